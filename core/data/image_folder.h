#pragma once
// An image folder in the usual layout: one sub-folder per class (labels = sub-folder names,
// sorted) or a flat folder (no labels). Files OpenCV cannot read are skipped and listed.
#include <filesystem>

#include "data/image_source.h"

namespace dx {

class ImageFolder : public ImageSource {
 public:
  // Scans `root`; throws UserError when it does not exist or holds no readable image.
  explicit ImageFolder(const std::filesystem::path& root);

  size_t size() const override { return mItems.size(); }
  std::string itemName(size_t i) const override { return mItems[i].relative; }
  int label(size_t i) const override { return mItems[i].label; }
  const std::vector<std::string>& classNames() const override { return mClasses; }
  cv::Mat load(size_t i) const override;
  std::string fingerprint() const override { return mFingerprint; }
  const std::vector<SkippedFile>& skipped() const override { return mSkipped; }
  std::string description() const override;
  std::filesystem::path path(size_t i) const { return mRoot / mItems[i].relative; }
  const std::filesystem::path& root() const { return mRoot; }

 private:
  struct Item {
    std::string relative;
    int label;
  };
  void scanDirectory(const std::filesystem::path& dir, int label);

  std::filesystem::path mRoot;
  std::vector<Item> mItems;
  std::vector<std::string> mClasses;
  std::vector<SkippedFile> mSkipped;
  std::string mFingerprint;
};

// Decodes any file OpenCV reads, keeping bit depth and alpha (IMREAD_UNCHANGED); empty on failure.
cv::Mat decodeImageFile(const std::string& path);

}  // namespace dx

#pragma once
// Fashion-MNIST (Xiao et al., 2017) as an ImageSource, read from the IDX files that Debian's
// dataset-fashion-mnist installs: 28x28 gray images, 10 classes.
#include "data/image_source.h"

namespace dx {

class FashionMnist : public ImageSource {
 public:
  enum class Split { Train, Test };
  // `dir` holds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; empty = the Debian location.
  FashionMnist(Split split, const std::string& dir = {});
  static std::string defaultDirectory();

  size_t size() const override { return mLabels.size(); }
  std::string itemName(size_t i) const override;
  int label(size_t i) const override { return mLabels[i]; }
  const std::vector<std::string>& classNames() const override { return mClasses; }
  cv::Mat load(size_t i) const override;
  std::string fingerprint() const override { return mFingerprint; }
  std::string description() const override;

 private:
  Split mSplit;
  int mRows = 0, mCols = 0;
  std::vector<uint8_t> mPixels;
  std::vector<int> mLabels;
  std::vector<std::string> mClasses;
  std::string mFingerprint;
};

}  // namespace dx

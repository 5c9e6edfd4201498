#include "data/image_folder.h"

#include <algorithm>

#include <opencv2/imgcodecs.hpp>

#include "base/hash.h"
#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

std::vector<fs::directory_entry> sortedEntries(const fs::path& dir) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!hidden(it->path())) entries.push_back(*it);
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return entries;
}

bool hasSubdirectories(const std::vector<fs::directory_entry>& entries) {
  return std::any_of(entries.begin(), entries.end(),
                     [](const auto& e) { return e.is_directory(); });
}

}  // namespace

cv::Mat decodeImageFile(const std::string& path) {
  try {
    return cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    return {};  // a corrupt file may make a codec throw rather than return empty
  }
}

ImageFolder::ImageFolder(const fs::path& root) : mRoot(root) {
  if (!fs::is_directory(root))
    throw UserError(root.string() + ": not a folder. Choose a folder of images, or one "
                    "sub-folder per class.");
  auto entries = sortedEntries(root);
  if (hasSubdirectories(entries)) {
    for (const auto& e : entries) {
      if (e.is_directory()) {
        size_t before = mItems.size();
        scanDirectory(e.path(), static_cast<int>(mClasses.size()));
        if (mItems.size() > before) mClasses.push_back(e.path().filename().string());
        else mSkipped.push_back({e.path().string(), "class folder without readable images"});
      } else {
        mSkipped.push_back({e.path().string(), "file outside the class sub-folders"});
      }
    }
  } else {
    scanDirectory(root, -1);
  }
  if (mItems.empty())
    throw UserError(root.string() + ": no image OpenCV can read was found (" +
                    std::to_string(mSkipped.size()) + " files skipped). Use PNG, JPEG, BMP, "
                    "TIFF, WebP or similar files, in one sub-folder per class or all in one folder.");
  Hasher h;
  h.update(fs::absolute(root).lexically_normal().string());
  for (const auto& item : mItems) {
    std::error_code ec;
    auto p = mRoot / item.relative;
    auto size = fs::file_size(p, ec);
    auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    h.update(item.relative).update(&size, sizeof size).update(&mtime, sizeof mtime);
  }
  mFingerprint = "folder:" + h.hex();
}

void ImageFolder::scanDirectory(const fs::path& dir, int label) {
  for (const auto& e : sortedEntries(dir)) {
    if (e.is_directory()) {
      scanDirectory(e.path(), label);
    } else if (!e.is_regular_file()) {
      mSkipped.push_back({e.path().string(), "not a regular file"});
    } else if (!cv::haveImageReader(e.path().string())) {
      mSkipped.push_back({e.path().string(), "not an image format OpenCV can read"});
    } else {
      mItems.push_back({fs::relative(e.path(), mRoot).generic_string(), label});
    }
  }
}

cv::Mat ImageFolder::load(size_t i) const { return decodeImageFile(path(i).string()); }

std::string ImageFolder::description() const {
  return mRoot.string() + " (" + std::to_string(mItems.size()) + " images" +
         (mClasses.empty() ? ", no labels" : ", " + std::to_string(mClasses.size()) + " classes") +
         ")";
}

}  // namespace dx

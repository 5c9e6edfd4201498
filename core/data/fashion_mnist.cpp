#include "data/fashion_mnist.h"

#include <cstdio>
#include <filesystem>

#include "base/hash.h"
#include "base/idx_file.h"
#include "base/progress.h"

namespace dx {
namespace {

std::string findFile(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    std::string p = dir + "/" + stem + ext;
    if (std::filesystem::exists(p)) return p;
  }
  throw UserError(dir + "/" + stem + ".gz: not found. Install Fashion-MNIST with "
                  "`apt install dataset-fashion-mnist` (packaging/install-deps.sh does).");
}

}  // namespace

std::string FashionMnist::defaultDirectory() { return "/usr/share/datasets/fashion-mnist"; }

FashionMnist::FashionMnist(Split split, const std::string& dir) : mSplit(split) {
  std::string root = dir.empty() ? defaultDirectory() : dir;
  std::string prefix = split == Split::Train ? "train" : "t10k";
  std::string imagePath = findFile(root, prefix + "-images-idx3-ubyte");
  std::string labelPath = findFile(root, prefix + "-labels-idx1-ubyte");
  IdxArray images = readIdx(imagePath);
  IdxArray labels = readIdx(labelPath);
  if (images.shape.size() != 3 || labels.shape.size() != 1 || images.count() != labels.count())
    throw UserError(imagePath + ": images and labels disagree in shape or count; reinstall "
                    "the dataset.");
  mRows = static_cast<int>(images.shape[1]);
  mCols = static_cast<int>(images.shape[2]);
  mPixels = std::move(images.data);
  for (uint8_t l : labels.data) {
    if (l > 9) throw UserError(labelPath + ": label " + std::to_string(l) + " out of range 0..9.");
    mLabels.push_back(l);
  }
  mClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  Hasher h;
  h.update(mPixels.data(), mPixels.size()).update(labels.data.data(), labels.data.size());
  mFingerprint = "fashion-mnist:" + prefix + ":" + h.hex();
}

std::string FashionMnist::itemName(size_t i) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s/%05zu", mSplit == Split::Train ? "train" : "test", i);
  return buf;
}

cv::Mat FashionMnist::load(size_t i) const {
  size_t n = static_cast<size_t>(mRows) * static_cast<size_t>(mCols);
  cv::Mat view(mRows, mCols, CV_8UC1, const_cast<uint8_t*>(mPixels.data() + i * n));
  return view.clone();
}

std::string FashionMnist::description() const {
  return std::string("Fashion-MNIST ") + (mSplit == Split::Train ? "train" : "test") + " (" +
         std::to_string(size()) + " images, 10 classes)";
}

}  // namespace dx

#pragma once
// A finite, indexable set of images with optional class labels: an image folder, Fashion-MNIST,
// or a synthetic generator. Extraction, the CLI and the GUI see datasets only through this.
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace dx {

struct SkippedFile {
  std::string path;
  std::string reason;
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual size_t size() const = 0;
  // Stable name of item i (a path relative to the source root, or "test/000123").
  virtual std::string itemName(size_t i) const = 0;
  // Class index of item i into classNames(), or -1 when the source has no labels.
  virtual int label(size_t i) const = 0;
  virtual const std::vector<std::string>& classNames() const = 0;
  // Decodes item i as OpenCV does (8/16-bit, 1/3/4 channels, BGR order); an empty Mat when it
  // cannot be decoded (the caller skips and lists it). Must be safe to call from any thread.
  virtual cv::Mat load(size_t i) const = 0;
  // Identity of the source and of each item's content version (path, size, mtime), so a cache
  // keyed by it is invalidated when any file changes.
  virtual std::string fingerprint() const = 0;
  // Files found but not usable (unsupported type, unreadable header), with reasons.
  virtual const std::vector<SkippedFile>& skipped() const { return mNoSkips; }
  virtual std::string description() const = 0;

 private:
  std::vector<SkippedFile> mNoSkips;
};

using ImageSourcePtr = std::shared_ptr<const ImageSource>;

}  // namespace dx

#pragma once
// Decodes and preprocesses images on a background thread, a bounded number of batches ahead of
// the consumer (memory stays at `depth` batches whatever the dataset size).
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/image_source.h"
#include "model/model_meta.h"

namespace dx {

struct LoadedBatch {
  std::vector<float> pixels;       // count x C x H x W, normalised
  std::vector<size_t> indices;     // source indices of the usable images, in order
  std::vector<SkippedFile> skipped;  // images of this batch that could not be used
  size_t attempted = 0;            // images looked at (usable + skipped)
};

class BatchLoader {
 public:
  BatchLoader(ImageSourcePtr source, InputSpec spec, size_t count, size_t batchSize,
              size_t depth = 2);
  ~BatchLoader();  // stops and joins the thread
  // Next batch in order; nullopt after the last one. Rethrows a loader-thread exception.
  std::optional<LoadedBatch> next();

 private:
  void run();
  LoadedBatch load(size_t first, size_t end) const;

  ImageSourcePtr mSource;
  InputSpec mSpec;
  size_t mCount, mBatchSize, mDepth;
  std::mutex mMutex;
  std::condition_variable mChanged;
  std::deque<LoadedBatch> mQueue;
  bool mFinished = false, mStop = false;
  std::exception_ptr mError;
  std::thread mThread;
};

}  // namespace dx

#pragma once
// Decodes and preprocesses images on background threads, a bounded number of batches ahead of
// the consumer (memory stays at about `depth` batches whatever the dataset size). With several
// workers, each decodes whole batches; batches are still delivered in order.
#include <condition_variable>
#include <exception>
#include <map>
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
  // Loads the images [begin, end) of `source` in batches of batchSize counted from begin.
  // workers: decoding threads; 0 chooses defaultDecodeWorkers().
  BatchLoader(ImageSourcePtr source, InputSpec spec, size_t end, size_t batchSize,
              size_t depth = 2, size_t workers = 0, size_t begin = 0);
  ~BatchLoader();  // stops and joins the threads
  // Next batch in order; nullopt after the last one. Rethrows a worker's exception.
  std::optional<LoadedBatch> next();

  // A quarter of the hardware threads, at least one: the forward pass keeps the rest busy
  // (measured with bench/extract_bench; decoding 224-pixel JPEGs takes about a quarter of the
  // time of a ResNet18 forward on the same core count).
  static size_t defaultDecodeWorkers();

 private:
  void run();
  LoadedBatch load(size_t first, size_t end) const;
  size_t batches() const { return (mEnd - mBegin + mBatchSize - 1) / mBatchSize; }

  ImageSourcePtr mSource;
  InputSpec mSpec;
  size_t mBegin, mEnd, mBatchSize, mDepth;
  std::mutex mMutex;
  std::condition_variable mChanged;
  std::map<size_t, LoadedBatch> mReady;  // decoded batches by index, not yet delivered
  size_t mClaimed = 0;                   // next batch index a worker will take
  size_t mDelivered = 0;                 // next batch index next() returns
  size_t mRunning = 0;                   // workers still running
  bool mStop = false;
  std::exception_ptr mError;
  std::vector<std::thread> mThreads;
};

}  // namespace dx

#include "data/batch_loader.h"

#include <algorithm>

#include "model/preprocess.h"

namespace dx {

size_t BatchLoader::defaultDecodeWorkers() {
  return std::max<size_t>(1, std::thread::hardware_concurrency() / 4);
}

BatchLoader::BatchLoader(ImageSourcePtr source, InputSpec spec, size_t end, size_t batchSize,
                         size_t depth, size_t workers, size_t begin)
    : mSource(std::move(source)), mSpec(std::move(spec)), mBegin(std::min(begin, end)), mEnd(end),
      mBatchSize(std::max<size_t>(1, batchSize)) {
  if (workers == 0) workers = defaultDecodeWorkers();
  workers = std::max<size_t>(1, std::min(workers, batches()));
  // Every worker may hold one batch in hand beyond those waiting in order.
  mDepth = std::max<size_t>(1, depth) + workers - 1;
  mRunning = workers;
  for (size_t w = 0; w < workers; ++w) mThreads.emplace_back([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mMutex);
    mStop = true;
  }
  mChanged.notify_all();
  for (auto& t : mThreads) t.join();
}

LoadedBatch BatchLoader::load(size_t first, size_t end) const {
  LoadedBatch b;
  size_t stride = static_cast<size_t>(mSpec.channels()) * mSpec.height * mSpec.width;
  b.pixels.resize((end - first) * stride);
  for (size_t i = first; i < end; ++i) {
    std::string why = preprocessImage(mSource->load(i), mSpec, &b.pixels[b.indices.size() * stride]);
    if (why.empty()) b.indices.push_back(i);
    else b.skipped.push_back({mSource->itemName(i), why});
  }
  b.pixels.resize(b.indices.size() * stride);
  b.attempted = end - first;
  return b;
}

void BatchLoader::run() {
  try {
    for (;;) {
      size_t index;
      {
        std::unique_lock<std::mutex> lock(mMutex);
        // Claim the next batch only when it would not run more than mDepth ahead of delivery.
        mChanged.wait(lock, [&] { return mStop || mError || mClaimed < mDelivered + mDepth; });
        if (mStop || mError || mClaimed >= batches()) break;
        index = mClaimed++;
      }
      size_t first = mBegin + index * mBatchSize;
      LoadedBatch b = load(first, std::min(mEnd, first + mBatchSize));
      std::lock_guard<std::mutex> lock(mMutex);
      mReady.emplace(index, std::move(b));
      mChanged.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mMutex);
    if (!mError) mError = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mMutex);
  --mRunning;
  mChanged.notify_all();
}

std::optional<LoadedBatch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mMutex);
  mChanged.wait(lock, [&] { return mReady.count(mDelivered) || mRunning == 0 || mError; });
  auto it = mReady.find(mDelivered);
  if (it != mReady.end()) {
    LoadedBatch b = std::move(it->second);
    mReady.erase(it);
    ++mDelivered;
    mChanged.notify_all();
    return b;
  }
  // A worker failed: it ends the run, possibly before earlier batches still being decoded
  // elsewhere were delivered (the caller discards a failed extraction anyway).
  if (mError) std::rethrow_exception(mError);
  return std::nullopt;
}

}  // namespace dx

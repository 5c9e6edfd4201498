#include "data/batch_loader.h"

#include <algorithm>

#include "model/preprocess.h"

namespace dx {

BatchLoader::BatchLoader(ImageSourcePtr source, InputSpec spec, size_t count, size_t batchSize,
                         size_t depth)
    : mSource(std::move(source)), mSpec(std::move(spec)), mCount(count),
      mBatchSize(std::max<size_t>(1, batchSize)), mDepth(std::max<size_t>(1, depth)) {
  mThread = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mMutex);
    mStop = true;
  }
  mChanged.notify_all();
  mThread.join();
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
    for (size_t first = 0; first < mCount; first += mBatchSize) {
      LoadedBatch b = load(first, std::min(mCount, first + mBatchSize));
      std::unique_lock<std::mutex> lock(mMutex);
      mChanged.wait(lock, [&] { return mStop || mQueue.size() < mDepth; });
      if (mStop) return;
      mQueue.push_back(std::move(b));
      mChanged.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mMutex);
    mError = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mMutex);
  mFinished = true;
  mChanged.notify_all();
}

std::optional<LoadedBatch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mMutex);
  mChanged.wait(lock, [&] { return !mQueue.empty() || mFinished; });
  if (!mQueue.empty()) {
    LoadedBatch b = std::move(mQueue.front());
    mQueue.pop_front();
    mChanged.notify_all();
    return b;
  }
  if (mError) std::rethrow_exception(mError);
  return std::nullopt;
}

}  // namespace dx

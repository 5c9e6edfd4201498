#pragma once
// A Reduction over threads of one process (tests only): each thread plays one process of a
// data-parallel fit, so the fitting code's sums can be checked without starting processes.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <torch/torch.h>

#include "discovery/reduction.h"

namespace dx::test {

class ThreadReductionHub {
 public:
  explicit ThreadReductionHub(int parts) : mParts(parts) {}
  int parts() const { return mParts; }

  // Every part calls this with its rows; each gets every part's rows in part order.
  at::Tensor gather(const at::Tensor& local, int part, const std::vector<int64_t>& counts) {
    TORCH_CHECK(int(counts.size()) == mParts && local.size(0) == counts[size_t(part)],
                "a part's row count differs from the agreed counts");
    std::unique_lock<std::mutex> lock(mMutex);
    const long generation = mGeneration;
    if (mPieces.empty()) mPieces.resize(size_t(mParts));
    mPieces[size_t(part)] = local.to(torch::kCPU).contiguous().clone();
    if (++mArrived == mParts) {
      mResult = torch::cat(mPieces);
      mPieces.clear();
      mArrived = 0;
      ++mGeneration;
      mChanged.notify_all();
    } else {
      awaitGeneration(lock, generation);
    }
    return mResult.to(local.device(), mResult.scalar_type(), false, /*copy=*/true);  // one each
  }

  // Every part calls this with tensors of the same shape; each gets the combination of all.
  void combine(at::Tensor& t, bool maximum) {
    std::unique_lock<std::mutex> lock(mMutex);
    const long generation = mGeneration;
    at::Tensor mine = t.to(torch::kCPU).contiguous();
    // Gloo refuses mismatched sums; so does this stand-in.
    TORCH_CHECK(!mAccumulator.defined() || (mAccumulator.sizes() == mine.sizes() &&
                                            mAccumulator.dtype() == mine.dtype()),
                "parts reduced tensors of different shapes or types");
    mAccumulator = !mAccumulator.defined() ? mine.clone()
                   : maximum               ? torch::maximum(mAccumulator, mine)
                                           : mAccumulator + mine;
    if (++mArrived == mParts) {
      mResult = mAccumulator;
      mAccumulator = at::Tensor();
      mArrived = 0;
      ++mGeneration;
      mChanged.notify_all();
    } else {
      awaitGeneration(lock, generation);
    }
    t.copy_(mResult);
  }

 private:
  void awaitGeneration(std::unique_lock<std::mutex>& lock, long generation) {
    // A part that stopped early (a bug under test) fails the test instead of hanging it.
    if (!mChanged.wait_for(lock, std::chrono::seconds(600),
                           [&] { return mGeneration != generation; }))
      throw std::runtime_error("a part of the threaded reduction never arrived (600 s)");
  }

  int mParts;
  std::mutex mMutex;
  std::vector<at::Tensor> mPieces;
  std::condition_variable mChanged;
  at::Tensor mAccumulator, mResult;
  int mArrived = 0;
  long mGeneration = 0;
};

class ThreadReduction : public Reduction {
 public:
  ThreadReduction(ThreadReductionHub& hub, int part) : mHub(&hub), mPart(part) {}
  void sum(at::Tensor& t) const override { mHub->combine(t, false); }
  void max(at::Tensor& t) const override { mHub->combine(t, true); }
  at::Tensor allGather(const at::Tensor& local, const std::vector<int64_t>& counts) const override {
    return mHub->gather(local, mPart, counts);
  }
  int part() const override { return mPart; }
  int parts() const override { return mHub->parts(); }

 private:
  ThreadReductionHub* mHub;
  int mPart;
};

}  // namespace dx::test

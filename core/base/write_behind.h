#pragma once
// Runs writes on one background thread, in the order they were queued, at most `depth` behind the
// caller: extraction queues a batch's file writes and goes on to the next forward pass
// (issue: writes happen behind the forward). A write's exception is rethrown by the next call to
// push() or drain(); later queued writes are then dropped.
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace dx {

class WriteBehind {
 public:
  explicit WriteBehind(size_t depth = 2) : mDepth(depth ? depth : 1) {
    mThread = std::thread([this] { run(); });
  }
  ~WriteBehind() {  // pending writes are dropped (an error or a cancel is unwinding)
    {
      std::lock_guard<std::mutex> lock(mMutex);
      mStop = true;
      mQueue.clear();
    }
    mChanged.notify_all();
    mThread.join();
  }
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues `write`; waits while `depth` writes are already waiting.
  void push(std::function<void()> write) {
    std::unique_lock<std::mutex> lock(mMutex);
    mChanged.wait(lock, [&] { return mError || mQueue.size() < mDepth; });
    rethrow();
    mQueue.push_back(std::move(write));
    mChanged.notify_all();
  }
  // Waits until every queued write has run; rethrows a write's exception.
  void drain() {
    std::unique_lock<std::mutex> lock(mMutex);
    mChanged.wait(lock, [&] { return mError || (mQueue.empty() && !mBusy); });
    rethrow();
  }

 private:
  void rethrow() {
    if (mError) std::rethrow_exception(mError);
  }
  void run() {
    std::unique_lock<std::mutex> lock(mMutex);
    for (;;) {
      mChanged.wait(lock, [&] { return mStop || !mQueue.empty(); });
      if (mStop) return;
      auto write = std::move(mQueue.front());
      mQueue.pop_front();
      mBusy = true;
      lock.unlock();
      std::exception_ptr error;
      try {
        write();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      mBusy = false;
      if (error && !mError) {
        mError = error;
        mQueue.clear();
      }
      mChanged.notify_all();
    }
  }

  size_t mDepth;
  std::mutex mMutex;
  std::condition_variable mChanged;
  std::deque<std::function<void()>> mQueue;
  bool mBusy = false, mStop = false;
  std::exception_ptr mError;
  std::thread mThread;
};

}  // namespace dx

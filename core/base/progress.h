#pragma once
// Progress reporting and cooperative cancellation shared by every long job.
// Jobs call report() and check cancelled() at natural boundaries (between batches or epochs);
// both are cheap and thread-safe, and default-constructed ones are no-ops.
#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace dx {

struct Progress {
  std::string stage;        // what runs, e.g. "extract block3"
  long long done = 0;       // units finished (images, epochs, ...)
  long long total = 0;      // 0 when unknown
  double ratePerSecond = 0; // units per second, measured since the start of the stage
  double secondsLeft = -1;  // estimate, -1 when unknown
};

using ProgressSink = std::function<void(const Progress&)>;

// Shared flag: copies observe the same cancellation.
class CancelToken {
 public:
  CancelToken() : mFlag(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() { mFlag->store(true); }
  bool cancelled() const { return mFlag->load(); }

 private:
  std::shared_ptr<std::atomic<bool>> mFlag;
};

// Thrown by a job that noticed its token; callers treat it as "stopped on request", not failure.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled by the user") {}
};

// Any error whose message a user can act on (names the file and the fix).
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dx

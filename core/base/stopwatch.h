#pragma once
#include <chrono>

#include "base/progress.h"

namespace dx {

// Measures a stage and fills rate / time-left fields of Progress.
class Stopwatch {
 public:
  Stopwatch() : mStart(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - mStart).count();
  }
  Progress progress(const std::string& stage, long long done, long long total) const {
    Progress p{stage, done, total, 0, -1};
    double s = seconds();
    if (s > 0 && done > 0) {
      p.ratePerSecond = done / s;
      if (total > 0) p.secondsLeft = (total - done) / p.ratePerSecond;
    }
    return p;
  }

 private:
  std::chrono::steady_clock::time_point mStart;
};

}  // namespace dx

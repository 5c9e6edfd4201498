#pragma once
// A one-line progress bar on stderr (redrawn in place on a terminal, a line per 10% otherwise).
#include <cstdio>
#include <string>

#include "base/progress.h"

namespace dx::cli {

class TerminalProgress {
 public:
  explicit TerminalProgress(bool enabled);
  ~TerminalProgress();
  void operator()(const Progress& p);

 private:
  bool mEnabled, mTty;
  int mLastDecile = -1;
  bool mDrawn = false;
};

}  // namespace dx::cli

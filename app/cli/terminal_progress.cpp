#include "terminal_progress.h"

#include <unistd.h>

#include <algorithm>

namespace dx::cli {

TerminalProgress::TerminalProgress(bool enabled)
    : mEnabled(enabled), mTty(isatty(STDERR_FILENO) != 0) {}

TerminalProgress::~TerminalProgress() {
  if (mDrawn && mTty) std::fputc('\n', stderr);
}

void TerminalProgress::operator()(const Progress& p) {
  if (!mEnabled || p.total <= 0) return;
  double frac = std::clamp(double(p.done) / double(p.total), 0.0, 1.0);
  int decile = static_cast<int>(frac * 10);
  if (!mTty && decile == mLastDecile) return;
  mLastDecile = decile;
  const int width = 30;
  int filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld  %.0f/s  %s%s", mTty ? "\r" : "", p.stage.c_str(),
               bar.c_str(), p.done, p.total, p.ratePerSecond,
               p.secondsLeft >= 0 ? (std::to_string(int(p.secondsLeft + 0.5)) + " s left").c_str()
                                  : "",
               mTty ? "   " : "\n");
  std::fflush(stderr);
  mDrawn = true;
}

}  // namespace dx::cli

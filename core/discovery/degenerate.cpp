#include "discovery/degenerate.h"

#include <cstdio>

namespace dx {

std::string degeneracyReason(double patchFraction) {
  if (patchFraction <= 0) return "never fires";
  if (patchFraction > kDegenerateShare) {
    char text[96];
    std::snprintf(text, sizeof text, "fires on %.0f%% of all patches (more than half)",
                  100 * patchFraction);
    return text;
  }
  return "";
}

}  // namespace dx

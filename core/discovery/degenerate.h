#pragma once
// Degenerate concepts (no torch here: the GUI includes it). A detector that fires on more than
// half of all patches is a catch-all (background, or a collapsed fit); one that never fires
// detects nothing. Either is flagged in concepts.json ("degenerate", "degenerate_reason") and in
// the GUI, and left out of the influence matrix by default.
#include <string>

namespace dx {

inline constexpr double kDegenerateShare = 0.5;

// A concept whose seed stability (discovery/concept_stability.h: the median over refits with
// other seeds of its matched firing IoU) is below this is flagged unstable ("unstable" in
// concepts.json, a badge in the GUI): refits find fewer than half of the patches either marks.
inline constexpr double kUnstableBelow = 0.5;

// Why a concept that fires on `patchFraction` of all patches is degenerate, or "" when it is not.
std::string degeneracyReason(double patchFraction);

}  // namespace dx

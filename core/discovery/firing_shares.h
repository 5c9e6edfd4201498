#pragma once
// How often each detector fires, read on every patch, and which detector is degenerate
// (discovery/degenerate.h): the adaptive preset's test for a collapsed balanced fit
// (docs/concept-discovery.md "Degenerate balanced fits").
#include <ATen/core/Tensor.h>

#include "discovery/patches.h"

namespace dx::eddp {

// The share of all patches each detector fires on (w_i . x > b_i), by exact sums over every
// patch of every process (Patches::exactSum): a detector that fires on a handful of patches
// counts as firing, which a sample would miss at many concepts. Every process gets the same
// shares. float64 products, so that a patch on the boundary counts alike everywhere.
at::Tensor firingShares(const Patches& patches, const at::Tensor& w, const at::Tensor& b);

// The degenerate detector (degeneracyReason): the one on the largest share where that is over
// one half, else the first that never fires; -1 where none is.
int degenerateDetector(const at::Tensor& shares);

}  // namespace dx::eddp

#pragma once
// Thresholds where a detector's reading has a density valley (ours, the ica-valley preset;
// docs/concept-discovery.md "Patches that show no concept"). On a layer where most patches show
// no concept, the share of patches a concept claims is unknown, so the balanced preset's floor on
// every detector's share (tau / I) sets the threshold instead of the data. Along a direction that
// reads one sparse factor, the patches without the concept pile up in one mode and the patches
// with it lie beyond a valley of low density; the threshold is put in that valley, whatever the
// share.
#include <ATen/core/Tensor.h>

namespace dx::eddp {

struct DensityValley {
  double position = 0;  // the threshold, in the readings' units
  double depth = 0;     // 0: no valley right of the mode (the density only falls)
};

// The deepest valley right of the mode of `readings` (1-D, at least 2 values): on a 200-bin
// histogram between the 0.5% and 99.5% quantiles, smoothed by a Gaussian of 2 bins, the bin j
// beyond the mode m where min(d[m], max_{k >= j} d[k]) - d[j] is largest, as a share of d[m].
DensityValley densityValley(const at::Tensor& readings);

}  // namespace dx::eddp

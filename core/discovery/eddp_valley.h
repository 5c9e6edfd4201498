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
  // 0: the smoothed density only falls right of the mode. Sampled data nearly always leaves a
  // noise-sized dip in the tail (an exponential sample: under 0.05), so a reading without a true
  // valley gets its threshold in its tail: the ica-valley preset's failure on uniform factors.
  double depth = 0;
};

// The deepest valley right of the mode of `readings` (1-D): on a 200-bin histogram between the
// 0.5% and 99.5% quantiles, smoothed by a Gaussian of 2 bins, the bin j beyond the mode m where
// min(d[m], max_{k >= j} d[k]) - d[j] is largest, as a share of d[m]. No valley (depth 0) for
// fewer than 2 values, a constant reading or non-finite quantiles; a concept on fewer than 0.5%
// of the values lies beyond the histogram and is not seen.
DensityValley densityValley(const at::Tensor& readings);

}  // namespace dx::eddp

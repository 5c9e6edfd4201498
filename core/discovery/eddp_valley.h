#pragma once
// Thresholds where a detector's reading has a density valley (ours, the ica-valley preset;
// docs/concept-discovery.md "Patches that show no concept"). On a layer where most patches show
// no concept, the share of patches a concept claims is unknown, so the balanced preset's floor on
// every detector's share (tau / I) sets the threshold instead of the data. Along a direction that
// reads one sparse factor, the patches without the concept pile up in one mode and the patches
// with it lie beyond a valley of low density; the threshold is put in that valley, whatever the
// share.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

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

// Each detector's threshold along its reading (P x I, unit directions): the density valley's
// position where there is one, else halfway between the mean reading of the patches whose
// largest reading it is and the mean of the rest (EDDP's initialisation).
at::Tensor valleyThresholds(const at::Tensor& readings);

// What the adaptive preset asks of the ica-valley preset's detectors before it fits them
// (docs/concept-discovery.md "The adaptive preset"), from a sample of whitened patches (P x r,
// pcaWhitening's) split in two halves at random: each half gets its own detectors (ICA
// directions, eddp_starts.h "ica-whitened", and valley thresholds), and both are read on the
// whole sample.
struct ValleyRepeatability {
  // The lowest IoU of a detector's firing with the other half's detector matched to it one to
  // one: near 1 where both halves find the same concepts and the same valleys. A threshold on a
  // noise-sized dip in a tail, or an ICA component that is a mix of dependent factors, moves
  // with the data and agrees less.
  double agreement = 0;
  // The share of the patches that no detector claims (mean over the halves): the share of
  // patches that show no concept where the detectors are right, 0 where every patch shows one.
  double unclaimed = 0;
};
ValleyRepeatability valleyRepeatability(const at::Tensor& standardised, int concepts,
                                        uint64_t seed, const CancelToken& cancel);

}  // namespace dx::eddp

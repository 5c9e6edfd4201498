#pragma once
// Seed stability of a concept fit (ours; the EDDP paper does not measure it): is a concept a
// property of the layer, or of one fit's random start? The fit is repeated with other seeds, and
// each concept's firing (w_i . x - b_i > 0) is matched one to one to a refit's detectors by the
// IoU of their firing over a sample of patches (Hungarian algorithm, largest total IoU), as
// stability-based validation of clusterings matches labels (Lange et al. 2004). A concept's
// stability is the lower median over the refits of its matched IoU: 1 when every refit finds the
// same patches, near 0 when none does. The lower median (with two refits, the smaller value)
// calls a concept stable only when at least half of the refits find it; the mean of two would
// call a concept that one refit finds exactly and the other not at all stable (0.5).
// docs/concept-discovery.md "Seed stability" gives the measurements.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "base/progress.h"
#include "discovery/concept_method.h"
#include "discovery/degenerate.h"  // kUnstableBelow

namespace dx {

// Maximum-weight one-to-one assignment of rows to columns (rows <= cols) of an R x C weight
// matrix of finite values, by the Hungarian algorithm: for every row, its column. Throws
// std::invalid_argument for more rows than columns or a value that is not finite.
std::vector<int64_t> maxWeightAssignment(const at::Tensor& weight);

// IoU of every detector of `a` with every detector of `b` over the rows of `patches` (P x C):
// an I_a x I_b matrix.
at::Tensor firingIou(const ConceptBasis& a, const ConceptBasis& b, const at::Tensor& patches);

// For every concept of `a`, the IoU with the detector of `b` it is matched to (needs
// I_b >= I_a; a concept neither fit ever fires on counts as IoU 0).
std::vector<double> matchedFiringIou(const ConceptBasis& a, const ConceptBasis& b,
                                     const at::Tensor& patches);

// For every concept of `reference`: the lower median over `refits` of matchedFiringIou.
std::vector<double> conceptStability(const ConceptBasis& reference,
                                     const std::vector<ConceptBasis>& refits,
                                     const at::Tensor& patches);

// Progress of refit `refit` of `refits`: every stage of the fit is reported as
// "refit 2 of 3: <stage>", so a user sees which fit runs, not the same bar again.
ProgressSink refitProgress(const ProgressSink& inner, int refit, int refits);

// The seed of the patch sample stability is measured on: fixed, so the CLI, the GUI and the
// benchmark judge a fit on the same patches, and independent of the fits' own seeds.
constexpr uint64_t kStabilitySampleSeed = 12345;
// How many patches it is measured on, by default: enough that a concept on 1% of the patches
// is judged on 500 of them, and a refit's scores fit in memory at any layer width.
constexpr int64_t kStabilitySamplePatches = 50000;

// At most `most` patches (rows, P x C float32) drawn without replacement from activations
// N x C x h x w (memory-mapped or in memory), seeded; every patch when there are fewer.
at::Tensor stabilitySample(const at::Tensor& activations,
                           int64_t most = kStabilitySamplePatches,
                           uint64_t seed = kStabilitySampleSeed);

}  // namespace dx

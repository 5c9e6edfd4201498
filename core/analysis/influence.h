#pragma once
// Influence of each concept on each class (docs/methods.md 1.6, RCAV-style), measured where it can
// show and tested against a null that lives where the data lives.
//
// The edit: at the patches where concept i is present, add t s_i with t = alpha sd_i / (w_i . s_i),
// sd_i the spread of the concept's score w_i . x - b_i over its positives in the sample. Every
// edit then moves its own concept's score by alpha of its own standard deviations, whatever the
// method's scale of w and s (PCA and EDDP have w . s = 1, k-means, NMF and the SAE do not), so
// effects are comparable across methods.
// The reading: per image, the change of every class logit (primary; probabilities saturate, so a
// strong effect on a confident image barely moves them) and of every class probability.
// The null: random edits of the same expected size at the same patches, drawn from a Gaussian
// with the covariance of the patches ("pattern": the signal vector of a random filter, the
// paper's noise signal vectors) or isotropic ("isotropic"; bench/influence_calibration compares
// both). Where the head is global average pooling followed by a linear map (checked), the shift
// of each class logit under that null is exactly Gaussian with a variance computed from the head's
// weights: an exact z-test, valid at any p. Otherwise R random edits are run through the head and
// p = (1 + #{|null| >= |observed|}) / (R + 1), which never goes below 1 / (R + 1).
// The correction: Benjamini-Hochberg over every tested concept x class cell (multiple_testing.h).
// A cell is marked only when it is a discovery and |mean logit change| >= minEffect.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx {

enum class InfluenceNull { Pattern, Isotropic };
const char* influenceNullName(InfluenceNull null);

struct InfluenceOptions {
  double alpha = 2;           // step, in standard deviations of the concept's score
  InfluenceNull null = InfluenceNull::Pattern;
  int nullDraws = 1000;       // R, where the test is not exact
  double fdr = 0.05;          // Benjamini-Hochberg q over the tested cells
  double minEffect = 0.1;     // |mean change of the class logit| a mark needs (odds x 1.1)
  std::vector<bool> skip;     // concepts not tested (e.g. degenerate ones); empty: none
  uint64_t seed = 0;
  ProgressSink progress;
  CancelToken cancel;
};

struct InfluenceResult {
  at::Tensor logitChange;        // I x K, mean over the images used of the class logit change
  at::Tensor probabilityChange;  // I x K, the same for the class probability
  at::Tensor logitQuartiles;     // I x K x 5: min, 25%, median, 75%, max over the images used
  at::Tensor pValues;            // I x K double; NaN where not tested
  at::Tensor significant;        // I x K bool: BH discovery and |logitChange| >= minEffect
  at::Tensor imagesUsed;         // I, images where the concept is present somewhere
  bool exact = false;            // the exact z-test (linear pooled head) rather than R draws
  int nullDraws = 0;             // R when not exact
  double cutoff = -1;            // the largest p accepted by Benjamini-Hochberg (-1: none)
  std::string test;              // a sentence for the legend and concepts.json
};

// z: n x C x h x w activations of a sample of images (e.g. a few hundred).
InfluenceResult conceptInfluence(const HeadFunction& head, const ConceptBasis& basis,
                                 const at::Tensor& z, const InfluenceOptions& options = {});

}  // namespace dx

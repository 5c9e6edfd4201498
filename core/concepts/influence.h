#pragma once
// Influence of each concept on each class (METHODS.md 1.6, RCAV-style): add alpha * s_i at the
// patches where concept i is present and measure the mean change of every class probability.
// Significance against R random directions of the same norm added at the same patches: two-sided
// p under a normal fitted to their shifts, Bonferroni-corrected over the I x K tests.
#include <ATen/core/Tensor.h>

#include "concept_method.h"

namespace cs {

struct InfluenceOptions {
  double alpha = 5;           // the paper's step
  int randomDirections = 100;
  double significance = 0.05; // family-wise, divided by I * K
  uint64_t seed = 0;
  ProgressSink progress;
  CancelToken cancel;
};

struct InfluenceResult {
  at::Tensor influence;    // I x K, mean change of p(class k)
  at::Tensor pValues;      // I x K
  at::Tensor significant;  // I x K bool, p <= significance / (I * K)
  at::Tensor imagesUsed;   // I, images where the concept is present somewhere
  double threshold = 0;    // the Bonferroni-corrected level
};

// z: n x C x h x w activations of a sample of images (e.g. a few hundred).
InfluenceResult conceptInfluence(const HeadFunction& head, const ConceptBasis& basis,
                                 const at::Tensor& z, const InfluenceOptions& options = {});

}  // namespace cs

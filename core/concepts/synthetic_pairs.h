#pragma once
// The synthetic direction-pair data of the EDDP paper (METHODS.md 1.7): patches
// x = S a + D b + offset, with I encoding directions S, F distractor directions D, one concept
// present per patch, images of 2 x 1 patches whose class is the pair of concepts they hold, and
// a linear head on average-pooled features. Ground truth for testing concept recovery.
#include <ATen/core/Tensor.h>

#include "concept_method.h"

namespace cs {

struct SyntheticPairsSpec {
  int dims = 16;              // D
  int concepts = 3;           // I
  int distractors = 2;        // F
  int imagesPerClass = 1000;  // classes are the unordered pairs of concepts
  double offset = 10;         // constant added to every patch
  uint64_t seed = 0;
  // Latent factor ranges: U(0, absentMax) when a concept is absent, U(presentMin, 5) when present.
  // METHODS 1.7 gives 2.5 / 2.5, where no linear head on pooled features can pass ~92% accuracy;
  // a gap such as 2 / 3 gives the 99% the paper reports.
  double absentMax = 2.5, presentMin = 2.5;
};

struct SyntheticPairs {
  at::Tensor activations;  // N x D x 2 x 1
  at::Tensor labels;       // N, class index of the concept pair (int64)
  at::Tensor present;      // (N*2) x I bool, patch order of patchesOf()
  at::Tensor latents;      // (N*2) x I, the factors a
  at::Tensor encoders;     // I x D, true unit encoding directions s_i
  at::Tensor distractors;  // F x D, true unit distractor directions
  at::Tensor decoders;     // I x D, true filters: w_i . s_j = [i == j], w_i . distractors = 0
  at::Tensor biases;       // I, so that w_i . x - b_i > 0 exactly when concept i is present
  at::Tensor headWeight, headBias;  // linear head on pooled features, K x D and K
  double headAccuracy = 0;
  HeadFunction head() const;  // N x D x h x w -> N x K (average pool + linear)
};

// Directions are random unit vectors with pairwise cosines between 0.1 and 0.5; latent factors
// a ~ U(0, absentMax) when absent and U(presentMin, 5) when present; distractor factors
// b ~ U(0, 5).
SyntheticPairs makeSyntheticPairs(const SyntheticPairsSpec& spec = {});

// Intersection over union of detector i's firing (scores > 0) with each true concept, best match
// by permutation (I <= 8): returns the matched IoU per true concept and writes the assignment.
at::Tensor matchedDetectorIou(const at::Tensor& scores, const at::Tensor& present,
                              std::vector<int64_t>* assignment = nullptr);

}  // namespace cs

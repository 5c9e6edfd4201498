#pragma once
// The synthetic direction-pair data of the EDDP paper (docs/methods.md 1.7): patches
// x = S a + D b + offset, with I encoding directions S, F distractor directions D, one concept
// present per patch and a linear head on average-pooled features. Ground truth for testing
// concept recovery. The defaults are the paper's toy (2 x 1 patches per image, the class is the
// pair of concepts, uniform factors); the recovery study (bench/recovery_study) also varies I, D,
// F, the factor distribution, the image size and a background (patches without any concept).
#include <string>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx {

// How latent factors are drawn. Each names its own threshold between absent and present.
enum class FactorDistribution {
  Uniform,      // the paper's: U(0, absentMax) absent, U(presentMin, 5) present; b ~ U(0, 5)
  HeavyTailed,  // post-ReLU-like: absent 0 (80%) or Exp(0.2); present 1.5 + 2 E^1.5 with
                // E ~ Exp(1) (a long right tail); distractors Exp(1.5). Threshold 1.25.
  NoisyLevels,  // absent 0.5, present 3, each + N(0, 0.4^2); distractors N(2.5, 1). Threshold 1.75.
};
const char* distributionName(FactorDistribution d);
FactorDistribution distributionFromName(const std::string& name);  // throws UserError

struct SyntheticPairsSpec {
  int dims = 16;              // D
  int concepts = 3;           // I
  int distractors = 2;        // F
  int imagesPerClass = 1000;  // classes: pairs of concepts at 2 x 1, else one per concept
  double offset = 10;         // constant added to every patch
  uint64_t seed = 0;
  // Latent factor ranges: U(0, absentMax) when a concept is absent, U(presentMin, 5) when present.
  // docs/methods.md 1.7 gives 2.5 / 2.5, where no linear head on pooled features can pass ~92%
  // accuracy; a gap such as 2 / 3 gives the 99% the paper reports.
  double absentMax = 2.5, presentMin = 2.5;
  FactorDistribution distribution = FactorDistribution::Uniform;
  // Patches per image. 2 x 1: the paper's pairs, one class per pair of concepts. Otherwise one
  // class per concept: an image of class k holds concept k at one random position and a random
  // concept at every other position.
  int height = 2, width = 1;
  // Share of patches without any concept outside each image's own class position (0: every patch
  // shows exactly one concept, as above). Above 0 there is one class per concept whatever the
  // image size: its concept sits at one random position, and every other patch shows each concept
  // independently with probability 1 - background^(1/I), so about this share of them shows none
  // (a background, as most patches of a real layer) and some show several.
  double background = 0;
};

struct SyntheticPairs {
  at::Tensor activations;  // N x D x h x w
  at::Tensor labels;       // N, class index of the concept pair (int64)
  at::Tensor present;      // (N*h*w) x I bool, patch order of patchesOf(); rows may be all
                           // false or hold several concepts where spec.background > 0
  at::Tensor latents;      // (N*h*w) x I, the factors a
  at::Tensor encoders;     // I x D, true unit encoding directions s_i
  at::Tensor distractors;  // F x D, true unit distractor directions
  at::Tensor decoders;     // I x D, true filters: w_i . s_j = [i == j], w_i . distractors = 0
  at::Tensor biases;       // I, so that w_i . x - b_i > 0 exactly when concept i is present
  at::Tensor headWeight, headBias;  // linear head on pooled features, K x D and K
  double headAccuracy = 0;
  HeadFunction head() const;  // N x D x h x w -> N x K (average pool + linear)
};

// Directions are random unit vectors with pairwise cosines between 0.1 and 0.5 (where too many
// are asked for in too few dimensions to meet that, cosines near 0.3 with the natural spread of
// the dimension); latent factors are drawn as spec.distribution says.
SyntheticPairs makeSyntheticPairs(const SyntheticPairsSpec& spec = {});

// Intersection over union of detector j's firing (scores > 0) with each true concept i, matched
// one to one so that the total IoU is largest (Hungarian algorithm; needs J >= I): returns the
// matched IoU per true concept and writes the assignment (true concept -> detector).
at::Tensor matchedDetectorIou(const at::Tensor& scores, const at::Tensor& present,
                              std::vector<int64_t>* assignment = nullptr);

// The encoders of a second basis that generates exactly the same data, where the data cannot tell
// the two apart (docs/concept-discovery.md "Encoders the data do not determine"): with noisy-level
// factors and one concept on every patch, every factor within a concept's patches is Gaussian with
// the same variance whether present or absent. The reflection H = 1 - (2/I) 1 1^T (orthogonal,
// H H = 1) then maps the factors a of every patch to H a, again one level 2.5 above the others
// with independent N(0, 0.4^2) noise (all levels shifted alike, which the offset absorbs), and
// x = S^T a = (H S)^T (H a). So rows of H S (returned as unit rows, I x D) are encoders as valid
// as the true ones. Undefined tensor where that does not hold: uniform and heavy-tailed factors
// (their higher moments tell the bases apart) and patches with no or several concepts.
at::Tensor reflectedEncoders(const SyntheticPairs& data, FactorDistribution distribution);

// RMSE of the centred latent factor estimates a_hat_i = w_i . (x - E[x]) / (w_i . s_i), s_i the
// encoder scaled to unit length like the true encoding directions, against
// the true a_i - E[a_i] over all patches, for the matched detectors (docs/methods.md 1.1; the paper
// reports 0.26 on its toy).
double centredLatentRmse(const ConceptBasis& basis, const at::Tensor& patches,
                         const at::Tensor& latents, const std::vector<int64_t>& assignment);

}  // namespace dx

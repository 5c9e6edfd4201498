#pragma once
// SACV, spatial activation concept vectors (Wang & Lee 2022; docs/methods.md 3.2): a CAV trained on
// spatial positions instead of whole images, so it can be evaluated position by position.
// For an image, activation a(h,w) and g(h,w) = d logit_k / d a(h,w):
//   relevance    R(h,w) = v . a(h,w) + b   where the concept is (b: the CAV classifier's bias)
//   contribution S(h,w) = v . g(h,w)       how the concept there pushes class k
// Ours (the paper writes R = v . a; docs/methods.md 3.2): the classifier's bias is added so that
// R > 0 means "the CAV classifier calls this position the concept"; without it, post-ReLU
// activations give v . a > 0 almost everywhere and the scalar score would count every position.
// Scalar score (docs/methods.md 3.2, ours): the fraction of positions with R > 0 whose S > 0, and
// the sum of max(R, 0) * S per image. Significance: runTcav with TcavOptions::spatial (tcav.h).
//
// Tensors: float32; maps come back on the device of the activations.
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "tcav/cav.h"
#include "discovery/concept_maps.h"
#include "discovery/concept_method.h"

namespace dx {

// Positions as samples: N x C x h x w -> (N*h*w) x C, one row per position, image-major (row
// (n*h + i)*w + j is image n at (i, j)), the layout of patchesOf. That is
// A.reshape(N, C, h*w).transpose(1, 2): the *columns* of each image's C x hw matrix. A plain
// A.reshape(-1, C), as in the public SACV notebook, would give strips of one channel instead.
at::Tensor positionSamples(const at::Tensor& activations);

// concept: n1 x C x h x w, random: n0 x C x h x w (every position of a concept image is a
// positive, every position of a random image a negative). Balancing and the held-out split run
// over positions; SGD batches grow so that an epoch stays near 64 steps. Returns a CAV with
// shape {C}.
Cav trainSacv(const at::Tensor& concept, const at::Tensor& random, const CavOptions& options);

struct SacvMaps {
  at::Tensor relevance;     // n x h x w, R
  at::Tensor contribution;  // n x h x w, S
};

// cav: shape {C}; activations and gradients: n x C x h x w (gradients from logitGradients).
SacvMaps sacvMaps(const Cav& cav, const at::Tensor& activations, const at::Tensor& gradients);

struct SacvScore {
  double score = 0;                 // #(R > 0 and S > 0) / #(R > 0); NaN when no R > 0
  double weightedContribution = 0;  // mean over images of sum_p max(R, 0) * S
  int64_t conceptPositions = 0;     // #(R > 0)
};
SacvScore sacvScore(const SacvMaps& maps);

struct RankedPosition {
  int row = 0, col = 0;  // in the h x w map
  double value = 0;
  cv::Rect box;          // the input region the position sees (PatchGeometry)
};

// The `count` largest (largest = true) or smallest positions of one h x w map, best first.
std::vector<RankedPosition> rankPositions(const at::Tensor& map, const PatchGeometry& geometry,
                                          int count, bool largest);

struct SacvExplanation {
  at::Tensor relevance, contribution;         // h x w, CPU
  cv::Mat relevanceImage, contributionImage;  // input size, CV_32F, bilinear (upsampleMap)
  std::vector<RankedPosition> top, bottom;    // largest / smallest contribution S
  SacvScore score;
};

// One image: activation 1 x C x h x w (or C x h x w), class k. The geometry gives the input
// size and the boxes. Gradients by autograd through `head`.
SacvExplanation explainWithSacv(const HeadFunction& head, const at::Tensor& activation, int64_t k,
                                const Cav& cav, const PatchGeometry& geometry, int count = 5);

}  // namespace dx

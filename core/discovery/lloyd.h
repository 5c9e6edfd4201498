#pragma once
// Lloyd's algorithm (Lloyd 1982) with greedy k-means++ seeding (Arthur & Vassilvitskii 2007), in
// the Euclidean geometry of k-means and the cosine geometry of spherical k-means (Dhillon & Modha
// 2001). Shared by kmeans.cpp and spherical_kmeans.cpp; EDDP may reuse it for its initialisation.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>

#include "discovery/concept_method.h"
#include "discovery/patches.h"

namespace dx::baselines {

enum class Geometry {
  Euclidean,  // nearest centroid by squared distance; centroid = mean of members
  Spherical,  // largest cosine with unit centroids; centroid = normalised sum of members
};

struct Clustering {
  at::Tensor centroids;  // k x C float32 (unit rows for Spherical)
  at::Tensor labels;     // P int64 in [0, k): the centroid each patch belongs to
  at::Tensor counts;     // k int64: members per centroid
  int iterations = 0;    // Lloyd iterations run
};

// k seeds (k x C, on the device of `patches`) among the rows of `patches` (P x C float32, P >= k)
// by greedy k-means++ (Arthur & Vassilvitskii 2007, section 6; scikit-learn's default), on a
// sample of at most 256 k rows drawn from `gen`.
at::Tensor plusPlusSeeds(const Patches& patches, int k, at::Generator& gen);
at::Tensor plusPlusSeeds(const at::Tensor& patches, int k, at::Generator& gen);

// patches: P x C float32, contiguous, P >= k >= 1; for Spherical the rows must already be unit
// (or zero) vectors. Seeds from options.seed; reports the stage `stage` per iteration and throws
// Cancelled between iterations. Runs at most 100 iterations, stopping earlier when no label
// changes or the centroids move less than 1e-4 of the data's mean per-channel variance (the
// scikit-learn criterion). Empty clusters are re-seeded at the worst-fitting patch. The patches
// are streamed (discovery/patches.h) or a P x C matrix in memory.
Clustering lloydKMeans(const Patches& patches, int k, Geometry geometry,
                       const FitOptions& options, const std::string& stage);
Clustering lloydKMeans(const at::Tensor& patches, int k, Geometry geometry,
                       const FitOptions& options, const std::string& stage);

}  // namespace dx::baselines

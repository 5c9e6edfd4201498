#pragma once
// Where EDDP's first stage starts (docs/methods.md 1.2: the paper's initialisation is not
// published, so every start here is a choice of ours). Each returns I unit directions in the space
// of the standardised patches it is given; eddp.cpp turns them into detectors and trains stage a
// from each start, keeping the one with the lowest loss (EDDP's own objective judges the starts; no
// ground truth is used).
#include <string>
#include <utility>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"
#include "discovery/patches.h"

namespace dx::eddp {

// At most `most` rows of x, drawn without replacement from `gen` (x itself when it has fewer).
at::Tensor sampleRows(const at::Tensor& x, int64_t most, at::Generator& gen);
// The same draw from streamed patches (the same rows as from their matrix); data-parallel, from
// every process's rows (Patches::gather), the same sample on every process. A drawn sample is a
// new tensor the caller owns; with no more than `most` rows it is their leading block, which may
// be the cache's own memory.
at::Tensor sampleRows(const Patches& x, int64_t most, at::Generator& gen);

// PCA whitening: every principal component above 1e-9 of the largest variance (the data's
// numerical rank), each scaled to unit variance, as a C x r matrix T (whitened patches are
// (x - mean) T). Where activations are a linear mix of roughly independent factors
// (docs/methods.md 1.1), whitening turns the mix into a rotation: the factors' directions become
// near-orthogonal. No cut by variance: keeping 99.9% of it dropped the components of weak but
// real factors, and detectors in the whitened space could not see them (docs/concept-discovery.md
// "Whitening keeps every component").
at::Tensor pcaWhitening(const Patches& patches);
at::Tensor pcaWhitening(const at::Tensor& patches);
// The same from a C x C float64 covariance.
at::Tensor covarianceWhitening(at::Tensor covariance);

// Symmetric FastICA (Hyvarinen 1999, log-cosh contrast, g = tanh) on whitened rows z (P x r): an
// orthogonal r x r unmixing matrix whose rows are the independent directions. Deterministic for
// a generator; at most 200 iterations.
at::Tensor fastIca(const at::Tensor& z, at::Generator& gen, const CancelToken& cancel);

// Start directions for `concepts` detectors from the standardised patches (P x r):
//   "spherical-kmeans": unit centroids of spherical k-means (the quick and paper presets);
//   "kmeans": unit directions of Euclidean k-means centroids of the centred patches;
//   "ica": FastICA (Hyvarinen 1999, symmetric, log-cosh contrast) on whitened patches; the
//          components whose readings are most skewed, oriented to a positive skew. A sparse
//          factor that is mostly absent and sometimes large is strongly skewed; distractors and
//          sums of factors are less so.
//          FastICA runs in the max(2 I, 64) leading principal components of the patches;
//   "ica-whitened": the same for patches whitened by pcaWhitening (the balanced, partition and
//          ica-valley presets'), in their max(2 I, 64) leading columns: the raw data's leading
//          components. "ica" on such patches picks an arbitrary subspace wherever their rank
//          exceeds that (every principal component of whitened patches has variance 1): on a
//          planted layer of 128 channels (influence_calibration.h) it missed the planted concepts
//          (IoU 0.15-0.55) that "ica-whitened" finds. Where the rank is at most max(2 I, 64)
//          (every cell of the synthetic grid) the two are the same computation.
// Deterministic for a seed; runs on a sample of at most 100,000 patches.
at::Tensor startDirections(const std::string& kind, const at::Tensor& standardised, int concepts,
                           uint64_t seed, const CancelToken& cancel);

// Two unit directions that split a detector's positives (rows of the standardised patches, whose
// mean over all patches is 0) into two groups by 2-means: for re-seeding a dead detector beside
// one that claims two concepts. Throws UserError with fewer than 2 rows.
std::pair<at::Tensor, at::Tensor> splitDirections(const at::Tensor& positives, uint64_t seed,
                                                  const CancelToken& cancel);

}  // namespace dx::eddp

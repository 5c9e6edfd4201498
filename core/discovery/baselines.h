#pragma once
// The unsupervised baselines EDDP is compared with (docs/methods.md 1.7), behind the ConceptMethod
// interface. Each header states what the method's decoder (detector w_i, b_i: concept i present
// at patch x iff w_i . x - b_i > 0) and encoder (direction s_i written into x) are:
//   "pca"               pca.h
//   "nmf"               nmf.h                (post-ReLU layers only)
//   "kmeans"            kmeans.h
//   "spherical-kmeans"  spherical_kmeans.h
//   "sae"               sparse_autoencoder.h (top-k sparse autoencoder)
#include <memory>

#include "discovery/concept_method.h"

namespace dx {

std::unique_ptr<ConceptMethod> makePcaMethod();
std::unique_ptr<ConceptMethod> makeNmfMethod();
std::unique_ptr<ConceptMethod> makeKMeansMethod();
std::unique_ptr<ConceptMethod> makeSphericalKMeansMethod();
std::unique_ptr<ConceptMethod> makeSparseAutoencoderMethod();

}  // namespace dx

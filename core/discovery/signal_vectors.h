#pragma once
// Positives-only signal vectors (docs/methods.md 1.3; Haufe et al. 2014's pattern estimator
// restricted to the patches where each concept is present, because mutually exclusive concepts make
// latent factors anti-correlated over all data):
//   s_i = cov_{p in P_i}[x_p, z_pi] / var_{p in P_i}[z_pi],  z_pi = w_i . x_p,  P_i = {w_i . x_p >
// b_i} so that w_i . s_i = 1. Every sum is a matrix product with the mask M (P x I).
#include <functional>

#include <ATen/core/Tensor.h>

#include "discovery/patches.h"

namespace dx::eddp {

// patches: P x D (raw space), decoders: I x D, biases: I -> I x D signal vectors. Streams over
// the patches in chunks (memory bounded). A concept with fewer than 2 positives gets its
// decoder direction scaled to w . s = 1 as a fallback. `positives`, where given, receives each
// detector's count of positives over every patch of every process (exact, float64, on the CPU).
at::Tensor positiveSignalVectors(const Patches& patches, const at::Tensor& decoders,
                                 const at::Tensor& biases, at::Tensor* positives = nullptr);
at::Tensor positiveSignalVectors(const at::Tensor& patches, const at::Tensor& decoders,
                                 const at::Tensor& biases);

// The same estimator on one batch, differentiable with respect to the decoders (the positives
// mask is held fixed): the joint stage's signal vectors as a function of its filters.
at::Tensor batchSignalVectors(const at::Tensor& patches, const at::Tensor& decoders,
                              const at::Tensor& biases);
// The same from the batch's readings z = X W^T (P x I); crossProduct(c) is X^T c (D x I) for a
// P x I tensor c.
using CrossProduct = std::function<at::Tensor(const at::Tensor&)>;
at::Tensor batchSignalVectors(const at::Tensor& readings, const at::Tensor& decoders,
                              const at::Tensor& biases, const CrossProduct& crossProduct);

}  // namespace dx::eddp

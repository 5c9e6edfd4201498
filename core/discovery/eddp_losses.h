#pragma once
// The loss terms of EDDP's "directional clustering" (Doumanoglou et al., arXiv 2509.23926;
// docs/methods.md 1.2-1.3). y is the P x I matrix of soft detector outputs sigmoid(W x - b) of a
// batch of patches; every function returns a scalar tensor differentiable by autograd.
#include <ATen/core/Tensor.h>

namespace dx::eddp {

// Per-patch sparsity: -sum_i q_i log2 q_i with q = y / ||y||_1 (P values).
at::Tensor patchSparsity(const at::Tensor& y);
// L_s = E_p[patchSparsity]: low when few detectors share a patch.
at::Tensor sparsityLoss(const at::Tensor& y);
// L_ma = E_p[-sum_i q_i log2 y_i]: pushes the responsible detector to 1 (and y towards 0/1).
at::Tensor maxActivationLoss(const at::Tensor& y);
// L_mm = (1/I) sum_i ||w_i||: margin M_i = 1/||w_i||, so a small norm means a wide margin.
at::Tensor maxMarginLoss(const at::Tensor& decoders);
// L_ic = E_i[(1/nu) ReLU(nu - E_p[y_i^gamma])], nu = tau / I: no detector may stay silent.
at::Tensor inactiveClassifierLoss(const at::Tensor& y, double tau, double gamma);
// R_SW({L_k}) = sum L_k^(v+1) / sum L_k^v: a soft maximum of non-negative values.
at::Tensor selfWeightedReduction(const at::Tensor& values, double v = 4.0);
// L_eac = R_SW({ReLU(E_p[y_i^gamma] - rho) / (1 - rho)}): no detector may fire everywhere.
// Zero when rho >= 1 (the bound cannot be exceeded).
at::Tensor excessivelyActiveLoss(const at::Tensor& y, double rho, double gamma);
// L_sb = R_SW({per-patch sparsity}): the worst patches, not only the average, stay sparse.
at::Tensor sparsityBoundLoss(const at::Tensor& y);
// L_fso = sqrt(E_{i != j}[(w_bar_i . s_bar_j)^2]) on L2-normalised rows (docs/methods.md 1.3).
at::Tensor filterSignalOrthogonality(const at::Tensor& decoders, const at::Tensor& encoders);
// Mean over detectors of the excess kurtosis of z_i = w_i . x over detector i's positives
// (z_i > b_i; the mask is not differentiated). Not in the paper (choice, see eddpPreset stage e):
// within a concept's positives its latent factor is independent of the others, and a filter
// that also reads other factors or distractors sees a sum of independent terms, which is closer
// to Gaussian (kurtosis 0). Minimising it singles out the filter that reads its factor alone.
at::Tensor positiveKurtosisLoss(const at::Tensor& patches, const at::Tensor& decoders,
                                const at::Tensor& biases);
// The same from the readings z = X W^T (P x I).
at::Tensor positiveKurtosisOfReadings(const at::Tensor& readings, const at::Tensor& biases);

}  // namespace dx::eddp

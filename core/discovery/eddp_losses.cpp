#include "discovery/eddp_losses.h"

#include <torch/torch.h>

#include <cmath>

namespace dx::eddp {
namespace {
constexpr double kEps = 1e-12;
const double kLn2 = std::log(2.0);

at::Tensor normalisedShares(const at::Tensor& y) {
  return y / y.sum(1, /*keepdim=*/true).clamp_min(kEps);
}
}  // namespace

at::Tensor patchSparsity(const at::Tensor& y) {
  auto q = normalisedShares(y);
  return -(q * q.clamp_min(kEps).log()).sum(1) / kLn2;
}

at::Tensor sparsityLoss(const at::Tensor& y) { return patchSparsity(y).mean(); }

at::Tensor maxActivationLoss(const at::Tensor& y) {
  auto q = normalisedShares(y);
  return -(q * y.clamp_min(kEps).log()).sum(1).mean() / kLn2;
}

at::Tensor maxMarginLoss(const at::Tensor& decoders) {
  return decoders.norm(2, {1}).mean();
}

at::Tensor inactiveClassifierLoss(const at::Tensor& y, double tau, double gamma) {
  double nu = tau / static_cast<double>(y.size(1));
  auto usage = y.pow(gamma).mean(0);  // E_p[y_i^gamma], one per detector
  return (torch::relu(nu - usage) / nu).mean();
}

at::Tensor selfWeightedReduction(const at::Tensor& values, double v) {
  auto x = values.clamp_min(0);
  auto denominator = x.pow(v).sum();
  return x.pow(v + 1).sum() / denominator.clamp_min(kEps);
}

at::Tensor excessivelyActiveLoss(const at::Tensor& y, double rho, double gamma) {
  if (rho >= 1.0) return torch::zeros({}, y.options());
  auto usage = y.pow(gamma).mean(0);
  return selfWeightedReduction(torch::relu(usage - rho) / (1.0 - rho));
}

at::Tensor sparsityBoundLoss(const at::Tensor& y) {
  return selfWeightedReduction(patchSparsity(y));
}

at::Tensor filterSignalOrthogonality(const at::Tensor& decoders, const at::Tensor& encoders) {
  auto w = torch::nn::functional::normalize(decoders, torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto s = torch::nn::functional::normalize(encoders, torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto cross = w.matmul(s.t()).pow(2);  // (w_bar_i . s_bar_j)^2
  int64_t i = cross.size(0);
  if (i < 2) return torch::zeros({}, decoders.options());
  auto offDiagonal = cross.sum() - cross.diagonal().sum();
  return (offDiagonal / double(i * (i - 1)) + kEps).sqrt();
}

at::Tensor positiveKurtosisLoss(const at::Tensor& patches, const at::Tensor& decoders,
                                const at::Tensor& biases) {
  return positiveKurtosisOfReadings(patches.matmul(decoders.t()), biases);
}

at::Tensor positiveKurtosisOfReadings(const at::Tensor& z, const at::Tensor& biases) {
  auto m = (z.detach() > biases.detach()).to(z.scalar_type());  // positives, not differentiated
  auto count = m.sum(0).clamp_min(1);
  auto centred = m * (z - (m * z).sum(0) / count);
  auto var = centred.pow(2).sum(0) / count;
  auto kurtosis = (centred.pow(4).sum(0) / count) / var.pow(2).clamp_min(kEps) - 3.0;
  auto usable = (m.sum(0) >= 4) & (var.detach() > kEps);  // silent detectors add nothing
  return torch::where(usable, kurtosis, torch::zeros_like(kurtosis)).mean();
}

}  // namespace dx::eddp

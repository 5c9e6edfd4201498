#include "discovery/ura.h"

#include <torch/torch.h>

namespace dx::eddp {

at::Tensor uraShift(const at::Tensor& x, const at::Tensor& decoders, const at::Tensor& biases,
                    const at::Tensor& encoders, double ridge) {
  auto flat = x.reshape({-1, x.size(-1)});
  auto residual = flat.matmul(decoders.t()) - biases;  // P x I: W x - b
  const at::Tensor& span = encoders.defined() ? encoders : decoders;
  auto gram = decoders.matmul(span.t());               // I x I
  auto eye = torch::eye(gram.size(0), gram.options());
  auto coefficients = torch::linalg::solve(gram + ridge * eye, residual.t(), true);  // I x P
  return coefficients.t().matmul(span).reshape(x.sizes());
}

at::Tensor uraLoss(const HeadFunction& head, const at::Tensor& activations, bool pooled,
                   const at::Tensor& decoders, const at::Tensor& biases,
                   const at::Tensor& encoders, const at::Tensor& kappa) {
  return -uraEntropies(head, activations, pooled, decoders, biases, encoders, kappa).mean();
}

at::Tensor uraEntropies(const HeadFunction& head, const at::Tensor& activations, bool pooled,
                        const at::Tensor& decoders, const at::Tensor& biases,
                        const at::Tensor& encoders, const at::Tensor& kappa) {
  at::Tensor shifted;
  if (pooled) {
    // dx is affine in x, so the mean of the shifted patches is the shifted mean (docs/methods.md
    // 1.4).
    auto mean = activations.mean({2, 3});  // n x C
    auto moved = mean - kappa.unsqueeze(1) * uraShift(mean, decoders, biases, encoders);
    shifted = moved.unsqueeze(2).unsqueeze(3);
  } else {
    auto patches = activations.permute({0, 2, 3, 1});  // n x h x w x C
    auto moved = patches - kappa.view({-1, 1, 1, 1}) * uraShift(patches, decoders, biases, encoders);
    shifted = moved.permute({0, 3, 1, 2});
  }
  auto logits = head(shifted);
  auto logp = torch::log_softmax(logits, 1);
  return -(logp.exp() * logp).sum(1);
}

bool headPoolsGlobally(const HeadFunction& head, const at::Tensor& probe) {
  torch::NoGradGuard noGrad;
  try {
    auto full = head(probe);
    auto pooled = head(probe.mean({2, 3}, /*keepdim=*/true));
    if (full.sizes() != pooled.sizes()) return false;
    auto scale = full.abs().max().item<double>() + 1e-6;
    return (full - pooled).abs().max().item<double>() <= 1e-4 * scale;
  } catch (const std::exception&) {
    return false;  // e.g. a head with convolutions that need the full map
  }
}

}  // namespace dx::eddp

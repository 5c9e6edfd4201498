#include "discovery/signal_vectors.h"

#include <torch/torch.h>

namespace dx::eddp {

at::Tensor positiveSignalVectors(const at::Tensor& patches, const at::Tensor& decoders,
                                 const at::Tensor& biases) {
  return positiveSignalVectors(Patches::ofMatrix(patches), decoders, biases)
      .to(patches.scalar_type());
}

at::Tensor positiveSignalVectors(const Patches& patches, const at::Tensor& decoders,
                                 const at::Tensor& biases, at::Tensor* positives) {
  torch::NoGradGuard noGrad;
  auto wt = decoders.t().to(torch::kDouble);
  auto bias = biases.to(torch::kDouble);
  // Exact sums over every process's patches (Patches::exactSums): the one-process bits.
  auto sums = patches.exactSums([&](const at::Tensor& block) {
    auto x = block.to(torch::kDouble);
    auto z = x.matmul(wt);                  // P x I
    auto m = (z > bias).to(torch::kDouble);  // P x I mask of positives
    auto mz = m * z;
    return std::vector<at::Tensor>{m.sum(0), mz.sum(0), (mz * z).sum(0),
                                   x.t().matmul(m),    // X^T M
                                   x.t().matmul(mz)};  // X^T (M .* Z)
  });
  for (auto& t : sums) t = t.to(decoders.device());
  auto &n = sums[0], &sumZ = sums[1], &sumZZ = sums[2], &sumX = sums[3], &sumXZ = sums[4];
  if (positives) *positives = n.cpu();
  auto count = n.clamp_min(1);
  auto meanZ = sumZ / count;
  auto varZ = sumZZ / count - meanZ * meanZ;
  auto cov = sumXZ / count - (sumX / count) * meanZ;  // D x I
  auto signals = (cov / varZ.clamp_min(1e-12)).t();   // I x D
  // Fallback for (nearly) silent or constant detectors: w_i / ||w_i||^2, so w_i . s_i = 1.
  auto w = decoders.to(torch::kDouble);
  auto fallback = w / w.pow(2).sum(1, true).clamp_min(1e-12);
  auto usable = ((n >= 2) & (varZ > 1e-12)).unsqueeze(1);
  return torch::where(usable, signals, fallback).to(torch::kFloat);
}

at::Tensor batchSignalVectors(const at::Tensor& patches, const at::Tensor& decoders,
                              const at::Tensor& biases) {
  return batchSignalVectors(patches.matmul(decoders.t()), decoders, biases,
                            [&patches](const at::Tensor& c) { return patches.t().matmul(c); });
}

at::Tensor batchSignalVectors(const at::Tensor& readings, const at::Tensor& decoders,
                              const at::Tensor& biases, const CrossProduct& crossProduct) {
  const at::Tensor& z = readings;                             // P x I
  auto m = (z.detach() > biases.detach()).to(z.scalar_type());  // positives, not differentiated
  auto count = m.sum(0).clamp_min(1);
  auto meanZ = (m * z).sum(0) / count;
  auto centredZ = m * (z - meanZ);
  auto varZ = (centredZ * centredZ).sum(0) / count;
  // sum_p m (x - mean x)(z - mean z) = X^T (M .* (z - mean z)): the mean of x drops out.
  auto cov = crossProduct(centredZ) / count;                 // D x I
  auto signals = (cov / varZ.clamp_min(1e-12)).t();          // I x D
  auto fallback = decoders / decoders.pow(2).sum(1, true).clamp_min(1e-12);
  auto usable = ((m.sum(0) >= 2) & (varZ.detach() > 1e-12)).unsqueeze(1);
  return torch::where(usable, signals, fallback);
}

}  // namespace dx::eddp

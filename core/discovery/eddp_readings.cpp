#include "discovery/eddp_readings.h"

#include <torch/torch.h>

#include "discovery/concept_method.h"

namespace dx::eddp {

at::Tensor readings(const at::Tensor& activations, const at::Tensor& w) {
  auto perImage = w.unsqueeze(0).expand({activations.size(0), w.size(0), w.size(1)});
  return at::bmm(perImage, activations.flatten(2)).permute({0, 2, 1}).reshape({-1, w.size(0)});
}

DetectorLogits detectorLogits(const at::Tensor& activations, const at::Tensor& w,
                              const at::Tensor& b, const at::Tensor& mean,
                              const at::Tensor& transform, int64_t narrowChannels) {
  const bool standardised = transform.defined();
  if (activations.size(1) <= narrowChannels) {
    auto x = patchesOf(activations);
    if (standardised) x = (x - mean).matmul(transform);
    return {x.matmul(w.t()) - b, x};
  }
  if (!standardised) return {readings(activations, w) - b, at::Tensor()};
  auto wRaw = w.matmul(transform.t());
  return {readings(activations, wRaw) - (b + wRaw.matmul(mean)), at::Tensor()};
}

}  // namespace dx::eddp

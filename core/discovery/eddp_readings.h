#pragma once
// The detectors' logits w_i . x - b_i for every patch of a minibatch (docs/methods.md 1.2), read
// two ways with the same value. Narrow layers form the P x C patch matrix and standardise it, as
// every fit measured on them did (the steps amplify rounding differences into other optima, so
// those layers keep their bits). Wide layers read the detectors straight from the N x C x h x w
// batch: a standardised stage reads (x - m) T w^T - b as x . w_raw - b_raw (w_raw = w T^T,
// b_raw = b + w_raw . m), a P x C x I product instead of P x C x r (r up to C: at C = 2048 and
// I = 16 a step did about 128 times the work).
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace dx::eddp {

// Layers up to this width form each minibatch's patch matrix.
constexpr int64_t kNarrowChannels = 256;

// w_i . x for every patch x of N x C x h x w activations and row w_i of `w` (I x C): P x I in
// patchesOf's row order. One I x C by C x hw product per image: matmul would copy the batch into
// a P x C matrix first, and at 2048 channels the steps are bound by such copies.
at::Tensor readings(const at::Tensor& activations, const at::Tensor& w);

struct DetectorLogits {
  at::Tensor logits;   // P x I
  at::Tensor patches;  // P x C' (standardised where the stage is): defined on narrow layers only
};

// The logits of detectors (w: I x r, b: I) on N x C x h x w activations. Standardised stages
// pass the channel mean (C) and transform (C x r: features (x - mean) transform); raw stages
// pass undefined tensors. `narrowChannels` is the width up to which the patch matrix is formed.
DetectorLogits detectorLogits(const at::Tensor& activations, const at::Tensor& w,
                              const at::Tensor& b, const at::Tensor& mean,
                              const at::Tensor& transform,
                              int64_t narrowChannels = kNarrowChannels);

}  // namespace dx::eddp

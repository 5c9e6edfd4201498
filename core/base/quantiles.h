#pragma once
// Quantiles of each column at any size: torch::quantile refuses inputs of more than 2^24
// elements (pytorch/pytorch#64947); kthvalue has no such limit.
#include <ATen/core/Tensor.h>

namespace dx {

// The q-quantile (0 <= q <= 1) of every column of x (P x I, P >= 1), with linear interpolation
// between order statistics as torch::quantile and numpy do by default: I values.
at::Tensor columnQuantile(const at::Tensor& x, double q);

}  // namespace dx

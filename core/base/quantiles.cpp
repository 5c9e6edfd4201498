#include "base/quantiles.h"

#include <torch/torch.h>

#include <cmath>

#include "base/progress.h"

namespace dx {

at::Tensor columnQuantile(const at::Tensor& x, double q) {
  if (x.dim() != 2 || x.size(0) < 1 || !(q >= 0 && q <= 1))
    throw UserError("a quantile needs a non-empty P x I matrix and 0 <= q <= 1");
  double position = q * double(x.size(0) - 1);
  auto below = int64_t(std::floor(position)), above = int64_t(std::ceil(position));
  auto low = std::get<0>(x.kthvalue(below + 1, 0));  // kthvalue counts from 1
  if (above == below) return low;
  auto high = std::get<0>(x.kthvalue(above + 1, 0));
  return low + (high - low) * (position - double(below));
}

}  // namespace dx

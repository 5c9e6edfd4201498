#include "discovery/degenerate_detector.h"

#include <torch/torch.h>

#include "discovery/degenerate.h"

namespace dx::eddp {

int degenerateDetector(const at::Tensor& shares) {
  int64_t widest = shares.argmax().item<int64_t>();
  if (!degeneracyReason(shares[widest].item<double>()).empty()) return int(widest);
  for (int64_t i = 0; i < shares.size(0); ++i)
    if (!degeneracyReason(shares[i].item<double>()).empty()) return int(i);
  return -1;
}

}  // namespace dx::eddp

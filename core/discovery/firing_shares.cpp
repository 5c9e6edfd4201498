#include "discovery/firing_shares.h"

#include <torch/torch.h>

#include "discovery/degenerate.h"

namespace dx::eddp {

at::Tensor firingShares(const Patches& patches, const at::Tensor& w, const at::Tensor& b) {
  auto counts = patches.exactSum([&](const at::Tensor& block) {
    auto x = block.to(torch::kDouble);
    auto readings = x.matmul(w.t().to(x.device(), torch::kDouble));
    return (readings > b.to(x.device(), torch::kDouble)).to(torch::kDouble).sum(0);
  });
  return counts.cpu() / double(patches.globalRows());
}

int degenerateDetector(const at::Tensor& shares) {
  int64_t widest = shares.argmax().item<int64_t>();
  if (!degeneracyReason(shares[widest].item<double>()).empty()) return int(widest);
  for (int64_t i = 0; i < shares.size(0); ++i)
    if (!degeneracyReason(shares[i].item<double>()).empty()) return int(i);
  return -1;
}

}  // namespace dx::eddp

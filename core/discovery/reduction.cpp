#include "discovery/reduction.h"

#include <torch/torch.h>

namespace dx {

std::vector<int64_t> Reduction::countsOf(int64_t count) const {
  auto all = torch::zeros({parts()}, torch::kLong);
  all[part()] = count;
  sum(all);
  return std::vector<int64_t>(all.data_ptr<int64_t>(), all.data_ptr<int64_t>() + parts());
}

at::Tensor positionsByOwner(const at::Tensor& owner, int parts) {
  std::vector<at::Tensor> positions;
  for (int k = 0; k < parts; ++k) positions.push_back(owner.eq(k).nonzero().flatten());
  return torch::cat(positions);
}

at::Tensor Reduction::gatherOwned(const at::Tensor& local, const at::Tensor& owner) const {
  auto counts = torch::bincount(owner, {}, parts());
  std::vector<int64_t> rows(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + parts());
  auto gathered = allGather(local, rows);
  auto whole = torch::empty_like(gathered);
  return whole.index_copy_(0, positionsByOwner(owner, parts()).to(gathered.device()), gathered);
}

}  // namespace dx

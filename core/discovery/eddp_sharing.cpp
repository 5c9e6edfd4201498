#include "discovery/eddp_sharing.h"

#include <torch/torch.h>

namespace dx::eddp {

at::Tensor BatchSharing::replicated(const at::Tensor& parameter) const {
  if (!shared() || mReduction->part() == 0) return parameter;
  return parameter.detach();
}

at::Tensor BatchSharing::gatherRows(const at::Tensor& local, const at::Tensor& rows,
                                    int64_t total) const {
  if (!shared()) return local;
  auto sizes = local.sizes().vec();
  sizes[0] = total;
  auto placed = torch::zeros(sizes, local.options()).index_copy(0, rows, local);
  at::Tensor whole = placed.detach().clone();
  mReduction->sum(whole);
  // whole + 0 with placed's gradient: exact value, gradient to this process's rows.
  return whole + (placed - placed.detach());
}

at::Tensor BatchSharing::sum(const at::Tensor& local) const {
  if (!shared()) return local;
  at::Tensor total = local.detach().clone();
  mReduction->sum(total);
  return total + (local - local.detach());
}

at::Tensor BatchSharing::enterLocal(const at::Tensor& replicatedValue) {
  if (!shared() || !replicatedValue.requires_grad()) return replicatedValue;
  auto leaf = replicatedValue.detach().requires_grad_(true);
  mBoundaries.push_back({replicatedValue, leaf});
  return leaf;
}

void BatchSharing::backward(const at::Tensor& loss) {
  loss.backward({}, /*retain_graph=*/!mBoundaries.empty());
  for (size_t k = mBoundaries.size(); k-- > 0;) {
    Boundary& b = mBoundaries[k];
    at::Tensor grad = b.leaf.grad().defined() ? b.leaf.grad().clone() : torch::zeros_like(b.leaf);
    mReduction->sum(grad);
    b.source.backward(grad, /*retain_graph=*/k > 0);
  }
  mBoundaries.clear();
}

void BatchSharing::sumGradients(std::vector<at::Tensor>& parameters) const {
  if (!shared()) return;
  for (auto& p : parameters) {
    at::Tensor grad = p.grad().defined() ? p.grad() : torch::zeros_like(p);
    mReduction->sum(grad);
    p.mutable_grad() = grad;
  }
}

}  // namespace dx::eddp

#pragma once
// EDDP's minibatch steps over several processes (docs/architecture.md "Several processes";
// issue: data-parallel discovery). EDDP's losses are not sums over patches (the inactive and
// excessive terms read each detector's share of the batch, the sparsity bound is a ratio of
// sums, stage d's signal vectors are covariances over the batch's positives), so summing each
// process's gradient of its own loss is not the gradient of the batch's loss. Instead:
//   - each process reads its images of the batch and computes their readings z = x W^T;
//   - the readings of the whole batch (P x I, small) are gathered on every process (an
//     all-gather: each process sends its own rows), and every process evaluates the same batch
//     loss on them ("replicated" computations);
//   - sums over patches that need the patches themselves (X^T c, URA's head entropies) are
//     computed per process and summed;
//   - backward: a replicated tensor that a per-process computation read gets its gradient
//     summed over processes before it flows on (`enterLocal`, `backward`); parameters read by
//     replicated computations take their gradient on process 0 alone (`replicated`), and the
//     processes' parameter gradients are summed (`sumGradients`);
//   - a term that is a plain sum over images (URA's entropies) stays this process's share in the
//     loss it differentiates (the sum's gradient is each share's); its value is summed with the
//     gradients: a step of stage a takes two messages (the readings, the gradients); stage d adds
//     three (X^T c and the gradients of its two enterLocal/ownRows boundaries).
// The result is the single-process gradient of the same batch, up to float rounding. In a single
// process every function here is the identity, so the graph is the single-process one.
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/reduction.h"

namespace dx::eddp {

class BatchSharing {
 public:
  explicit BatchSharing(const Reduction* reduction = nullptr) : mReduction(reduction) {}
  bool shared() const { return mReduction != nullptr; }
  const Reduction* reduction() const { return mReduction; }

  // `parameter` as read by a replicated computation: its gradient there is counted once.
  at::Tensor replicated(const at::Tensor& parameter) const;
  // The whole batch's rows on every process: `owner` (int64, CPU) names the process holding each
  // row, `local` holds this process's rows in batch order. Values exact; the gradient goes back
  // to this process's rows.
  at::Tensor gatherRows(const at::Tensor& local, const at::Tensor& owner) const;
  // The sum over processes of `local`; the gradient of the sum is each process's gradient.
  at::Tensor sum(const at::Tensor& local) const;
  // `replicatedValue` read by a per-process computation: the same value, whose gradient from
  // every process is summed (in `backward`) before it flows into the replicated graph.
  at::Tensor enterLocal(const at::Tensor& replicatedValue);
  // enterLocal(replicatedValue).index_select(0, rows) where `rows` are this process's rows (as
  // `owner` says): only those rows' gradients exist, so `backward` gathers instead of summing.
  at::Tensor ownRows(const at::Tensor& replicatedValue, const at::Tensor& rows,
                     const at::Tensor& owner);
  // loss.backward() with the summed gradients of every enterLocal boundary propagated through
  // the replicated graph (latest boundary first, so each has every contribution when it runs).
  void backward(const at::Tensor& loss);
  // Sums every parameter's gradient over the processes (undefined gradients count as zeros) and
  // returns `values` summed likewise, in the same message.
  std::vector<double> sumGradients(std::vector<at::Tensor>& parameters,
                                   std::vector<double> values = {}) const;

 private:
  struct Boundary {
    at::Tensor source, leaf;
    at::Tensor owner;  // defined: `leaf` is this process's rows of `source` (ownRows)
  };
  at::Tensor summedGradient(const Boundary& b) const;
  const Reduction* mReduction;
  std::vector<Boundary> mBoundaries;
};

}  // namespace dx::eddp

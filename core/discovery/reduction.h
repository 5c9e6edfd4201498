#pragma once
// Data-parallel fits (docs/architecture.md "Several processes"): each process holds a share of
// the patches and sums its statistics with the others'. A Reduction is that sum; the fitting
// code knows nothing of how it travels (distributed/process_group.h does it over c10d Gloo).
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace dx {

class Reduction {
 public:
  virtual ~Reduction() = default;
  // Elementwise over the processes, in place; every process must call these in the same order
  // with tensors of the same shape and dtype.
  virtual void sum(at::Tensor& t) const = 0;
  virtual void max(at::Tensor& t) const = 0;
  // Every process's rows, one after another in process order, on every process: process k
  // passes its `counts[k]` rows (the other dimensions and the dtype alike everywhere), and every
  // process passes the same `counts`. Data moves once (an all-gather), not as zero-padded sums.
  virtual at::Tensor allGather(const at::Tensor& local, const std::vector<int64_t>& counts) const = 0;
  // This process's place among the processes, and how many there are.
  virtual int part() const = 0;
  virtual int parts() const = 0;
  // Every process gets part 0's `t`: a sum to which the others add zeros (exact). For values that
  // decide what happens next (seeds, stopping), which every process must decide alike even when
  // their thread counts round differently.
  void fromFirst(at::Tensor& t) const { fromPart(t, 0); }
  // Every process gets part `source`'s `t` (same shape everywhere), as fromFirst.
  void fromPart(at::Tensor& t, int source) const {
    if (part() != source) t.zero_();
    sum(t);
  }
  // Every process's `count` (one small sum), in process order.
  std::vector<int64_t> countsOf(int64_t count) const;
  // The rows of a whole set on every process, in the set's order: `owner[r]` (int64, on the
  // CPU) is the process that holds row r, and `local` holds this process's rows in that order.
  at::Tensor gatherOwned(const at::Tensor& local, const at::Tensor& owner) const;
};

// Where each process's rows go among all rows: `owner` as above; the positions of process 0's
// rows, then process 1's, ... (the order in which allGather returns them).
at::Tensor positionsByOwner(const at::Tensor& owner, int parts);

// Where one process's share sits among all patches.
struct DataParallel {
  std::shared_ptr<const Reduction> reduction;  // null: a single process, the share is everything
  int64_t firstImage = 0;                      // the share's first image among all images
  int64_t images = 0;                          // all images over every process
  // Every image (the whole cache, on a filesystem every process sees): EDDP's minibatch steps
  // read their batches from it (discovery/eddp.cpp, "replicated steps").
  at::Tensor allImages;
  bool active() const { return reduction != nullptr; }
};

}  // namespace dx

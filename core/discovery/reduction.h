#pragma once
// Data-parallel fits (docs/architecture.md "Several processes"): each process holds a share of
// the patches and sums its statistics with the others'. A Reduction is that sum; the fitting
// code knows nothing of how it travels (distributed/process_group.h does it over c10d Gloo).
#include <memory>

#include <ATen/core/Tensor.h>

namespace dx {

class Reduction {
 public:
  virtual ~Reduction() = default;
  // Elementwise over the processes, in place; every process must call these in the same order
  // with tensors of the same shape and dtype.
  virtual void sum(at::Tensor& t) const = 0;
  virtual void max(at::Tensor& t) const = 0;
  // This process's place among the processes, and how many there are.
  virtual int part() const = 0;
  virtual int parts() const = 0;
  // Every process gets part 0's `t`: a sum to which the others add zeros (exact). For values that
  // decide what happens next (seeds, stopping), which every process must decide alike even when
  // their thread counts round differently.
  void fromFirst(at::Tensor& t) const {
    if (part() != 0) t.zero_();
    sum(t);
  }
};

// Where one process's share sits among all patches.
struct DataParallel {
  std::shared_ptr<const Reduction> reduction;  // null: a single process, the share is everything
  int64_t firstImage = 0;                      // the share's first image among all images
  int64_t images = 0;                          // all images over every process
  bool active() const { return reduction != nullptr; }
};

}  // namespace dx

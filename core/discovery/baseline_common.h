#pragma once
// Plumbing shared by the unsupervised baselines (PCA, NMF, k-means, spherical k-means, top-k SAE):
// input checks and the patch matrix, seeded randomness, progress with cancellation, and the bias
// search that makes a linear detector reproduce a clustering's hard assignment.
// Private to core/concepts; callers outside use the ConceptMethod interface (baselines.h).
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "discovery/concept_method.h"
#include "discovery/patches.h"
#include "base/stopwatch.h"

namespace dx::baselines {

// activations: N x C x h x w, float32 or float16, any device, possibly memory-mapped. Returns its
// patches (kept in memory up to options.keepPatchesBytes, else streamed; discovery/patches.h).
// Throws UserError naming the fix when options.concepts < 1, the tensor is not 4-d floating point,
// holds NaN or Inf, or has fewer than that many patches. `method` names the method in messages.
Patches checkedPatches(const at::Tensor& activations, const FitOptions& options,
                       const std::string& method);

// A CPU generator seeded with `seed`. Every random draw of a fit comes from it (then moves to the
// device), so CPU fits are reproducible and never touch the global RNG state.
at::Generator seededGenerator(uint64_t seed);

// Progress of one stage of a fit: step() reports `done` of `total` units (with rate and time
// left) and throws Cancelled when the token is set; checkCancelled() only does the latter.
// Runs LibTorch's intra-op pool on one thread while alive. Loops of many small element-wise ops
// (HALS row updates over ~1e5 entries) are several times slower with 2 threads than with 1 on this
// class of machine: waking the pool costs more than the op (measured in bench/fit_bench).
// Blas::Pin also runs OpenBLAS on one thread (process-wide, counted): only for fits that must
// round the same at any thread or process count (EDDP's exact data-parallel fit); k-means' and
// NMF's BLAS products keep OpenBLAS's threads (fit_bench against scikit-learn: NMF 2.6x and
// k-means 1.1x with them, 1.8x and 0.6x pinned).
class SerialTorch {
 public:
  enum class Blas { Keep, Pin };
  explicit SerialTorch(Blas blas = Blas::Keep);
  ~SerialTorch();
  SerialTorch(const SerialTorch&) = delete;
  SerialTorch& operator=(const SerialTorch&) = delete;

 private:
  int mSaved;
  bool mPinnedBlas;
};

class StageProgress {
 public:
  StageProgress(const FitOptions& options, std::string stage, long long total);
  void step(long long done) const;
  void checkCancelled() const;

 private:
  const FitOptions& mOptions;
  std::string mStage;
  long long mTotal;
  Stopwatch mWatch;
};

// Biases that make linear detectors reproduce a hard assignment (a clustering, or the active
// latents of a top-k autoencoder). patches P x C, decoders I x C (float32, same device);
// labels P or P x m int64: the concepts each patch belongs to, -1 for an unused slot.
// Returns I biases (float32, same device): for each i the threshold t on w_i . x that maximises
// TPR - FPR of "w_i . x > t" against "patch belongs to i" (balanced accuracy, so small concepts
// still get a detector that fires on them rather than one that never fires), placed in the middle
// of the range of equally good thresholds (a maximum-margin choice when the concept is
// separable). Resolution: 1/4096 of the range of scores.
at::Tensor balancedThresholds(const Patches& patches, const at::Tensor& decoders,
                              const at::Tensor& labels);

// L2 norms of the rows of x (R x C -> R), and the rows scaled to unit norm (zero rows stay zero).
at::Tensor rowNorms(const at::Tensor& x);
at::Tensor unitRows(const at::Tensor& x);

// Mean over channels of the per-channel (population) variance of the patches.
double meanChannelVariance(const Patches& patches);

}  // namespace dx::baselines

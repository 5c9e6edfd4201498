#include "discovery/baseline_common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

namespace dx::baselines {

namespace {

// OpenBLAS keeps its own threads, which at::set_num_threads does not reach where LibTorch calls
// the system BLAS (Debian's). With Blas::Pin, one BLAS thread too while a fit runs serially: its
// products then round the same whatever the thread count (EDDP's data-parallel fits give the
// one-process bits only if they do: a 3-party fit in one process differed by 4e-3 while OpenBLAS
// ran 2 threads), and idle BLAS threads stop spinning in sched_yield (about a quarter of a fit's
// samples under perf). Process-wide, so counted: the first pinning SerialTorch pins it, the last
// restores it. Without OpenBLAS (MKL follows at::set_num_threads) there is nothing to do.
struct BlasThreads {
  using Set = void (*)(int);
  using Get = int (*)();
  Set set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  Get get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  std::mutex mutex;
  int users = 0, saved = 1;

  void pin() {
    std::lock_guard<std::mutex> lock(mutex);
    if (set && get && users++ == 0) saved = get(), set(1);
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    if (set && get && --users == 0) set(saved);
  }
};

BlasThreads& blasThreads() {
  static BlasThreads threads;
  return threads;
}

}  // namespace

SerialTorch::SerialTorch(Blas blas)
    : mSaved(at::get_num_threads()), mPinnedBlas(blas == Blas::Pin) {
  at::set_num_threads(1);
  if (mPinnedBlas) blasThreads().pin();
}

SerialTorch::~SerialTorch() {
  if (mPinnedBlas) blasThreads().release();
  at::set_num_threads(mSaved);
}


namespace {

void checkShapeAndType(const at::Tensor& activations, const std::string& method) {
  if (!activations.defined() || activations.dim() != 4)
    throw UserError(method +
                    " needs activations shaped N x C x h x w (a convolutional layer); got " +
                    (activations.defined() ? std::to_string(activations.dim()) + " dimensions"
                                           : std::string("no tensor")) +
                    ". Extract a layer with spatial maps, or reshape vectors to N x C x 1 x 1.");
  if (!activations.is_floating_point())
    throw UserError(method + " needs floating-point activations; got " +
                    std::string(c10::toString(activations.scalar_type())) +
                    ". Convert the cache to float32.");
}

}  // namespace

Patches checkedPatches(const at::Tensor& activations, const FitOptions& options,
                       const std::string& method) {
  const int concepts = options.concepts;
  if (concepts < 1)
    throw UserError(method + " needs at least 1 concept; got " + std::to_string(concepts) +
                    ". Ask for 1 or more concepts.");
  checkShapeAndType(activations, method);
  Patches patches(activations, options.keepPatchesBytes, options.patchBlockRows);
  if (options.parallel.active())
    patches.share(options.parallel.reduction, options.parallel.firstImage * patches.perImage(),
                  options.parallel.images * patches.perImage());
  if (patches.globalRows() < concepts)
    throw UserError(method + " needs at least as many patches as concepts; got " +
                    std::to_string(patches.globalRows()) + " patches for " + std::to_string(concepts) +
                    " concepts. Use more images or fewer concepts.");
  // min and max propagate NaN and show any Inf: two fast reductions instead of an isfinite mask.
  auto [lo, hi] = patches.range();
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw UserError(method +
                    " found NaN or Inf in the activations. Re-extract the layer (the cache "
                    "may be damaged) or check the model for overflow.");
  return patches;
}

at::Generator seededGenerator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

StageProgress::StageProgress(const FitOptions& options, std::string stage, long long total)
    : mOptions(options), mStage(std::move(stage)), mTotal(total) {
  checkCancelled();
}

// Reports first, then checks: a cancel pressed while the report is shown stops the next unit.
void StageProgress::step(long long done) const {
  if (mOptions.progress) mOptions.progress(mWatch.progress(mStage, done, mTotal));
  checkCancelled();
}

void StageProgress::checkCancelled() const {
  if (mOptions.cancel.cancelled()) throw Cancelled();
}

namespace {

constexpr int64_t kBins = 4096;

// Per-detector score range [lo, hi] over all patches (two I-vectors), in row blocks.
std::pair<at::Tensor, at::Tensor> scoreRange(const Patches& patches,
                                             const at::Tensor& decoders) {
  at::Tensor lo = torch::full({decoders.size(0)}, INFINITY, decoders.options());
  at::Tensor hi = torch::full({decoders.size(0)}, -INFINITY, decoders.options());
  patches.forEachBlock([&](int64_t, const at::Tensor& x) {
    at::Tensor s = x.matmul(decoders.t());
    lo = torch::minimum(lo, std::get<0>(s.min(0)));
    hi = torch::maximum(hi, std::get<0>(s.max(0)));
  });
  if (patches.shared()) {  // over every process: max of (-lo, hi)
    at::Tensor both = torch::cat({-lo, hi});
    patches.reduceMax(both);
    lo = -both.narrow(0, 0, lo.numel());
    hi = both.narrow(0, lo.numel(), hi.numel());
  }
  return {lo, hi};
}

// Histograms of scores, I x kBins each: of all patches, and of the patches labelled with the
// detector's concept (labels P x m, -1 unused).
std::pair<at::Tensor, at::Tensor> scoreHistograms(const Patches& patches,
                                                  const at::Tensor& decoders,
                                                  const at::Tensor& labels, const at::Tensor& lo,
                                                  const at::Tensor& width) {
  const int64_t concepts = decoders.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(decoders.device());
  at::Tensor offsets = torch::arange(concepts, opts) * kBins;
  at::Tensor all = torch::zeros({concepts * kBins}, opts);
  at::Tensor own = torch::zeros({concepts * kBins}, opts);
  patches.forEachBlock([&](int64_t begin, const at::Tensor& x) {
    int64_t rows = x.size(0);
    at::Tensor s = x.matmul(decoders.t());
    at::Tensor bin = ((s - lo) / width * kBins).floor().clamp(0, kBins - 1).to(torch::kLong);
    all += torch::bincount((bin + offsets).flatten(), {}, concepts * kBins);
    at::Tensor label = labels.narrow(0, begin, rows);
    at::Tensor used = label >= 0;
    at::Tensor slot = label.clamp_min(0);
    at::Tensor ownBins = (bin.gather(1, slot) + slot * kBins).masked_select(used);
    own += torch::bincount(ownBins, {}, concepts * kBins);
  });
  patches.reduceSum(all);
  patches.reduceSum(own);
  return {all.view({concepts, kBins}), own.view({concepts, kBins})};
}

// Middle of the run of edges with the best TPR - FPR, as a fraction of the score range in [0, 1].
// Edge e (0..kBins) means "fire on bins >= e".
double bestEdgeFraction(const int64_t* all, const int64_t* own) {
  double positives = 0, negatives = 0;
  for (int64_t b = 0; b < kBins; ++b) {
    positives += double(own[b]);
    negatives += double(all[b] - own[b]);
  }
  if (positives == 0) return 1.0;   // nothing to detect: never fire
  if (negatives == 0) return -1.0;  // everything is a member: always fire
  std::vector<double> balance(kBins + 1, 0.0);
  double tp = 0, fp = 0;
  for (int64_t edge = kBins - 1; edge >= 0; --edge) {
    tp += double(own[edge]);
    fp += double(all[edge] - own[edge]);
    balance[size_t(edge)] = tp / positives - fp / negatives;
  }
  size_t first = size_t(std::max_element(balance.begin(), balance.end()) - balance.begin());
  size_t last = first;
  while (last + 1 < balance.size() && balance[last + 1] >= balance[first] - 1e-12) ++last;
  return 0.5 * double(first + last) / double(kBins);
}

}  // namespace

at::Tensor balancedThresholds(const Patches& patches, const at::Tensor& decoders,
                              const at::Tensor& labels) {
  auto [lo, hi] = scoreRange(patches, decoders);
  at::Tensor width = (hi - lo).clamp_min(1e-12f);
  at::Tensor labelRows = labels.dim() == 1 ? labels.unsqueeze(1) : labels;
  auto [all, own] = scoreHistograms(patches, decoders, labelRows, lo, width);
  all = all.cpu().contiguous();
  own = own.cpu().contiguous();
  std::vector<float> fractions(size_t(decoders.size(0)));
  for (int64_t i = 0; i < decoders.size(0); ++i)
    fractions[size_t(i)] =
        float(bestEdgeFraction(all[i].data_ptr<int64_t>(), own[i].data_ptr<int64_t>()));
  at::Tensor fraction = torch::tensor(fractions).to(decoders.device());
  return lo + fraction * width;
}

at::Tensor rowNorms(const at::Tensor& x) {
  return at::linalg_vector_norm(x, 2, {1}, false, c10::nullopt);
}

at::Tensor unitRows(const at::Tensor& x) { return x / rowNorms(x).clamp_min(1e-12f).unsqueeze(1); }

double meanChannelVariance(const Patches& patches) {
  // Centred block by block: E[x^2] - E[x]^2 in float32 loses everything when the mean is large.
  at::Tensor mean = patches.mean();
  double sumSquares = 0;
  patches.forEachBlock([&](int64_t, const at::Tensor& x) {
    sumSquares +=
        std::pow(at::linalg_vector_norm(x - mean, 2, {}, false, at::kDouble).item<double>(), 2);
  });
  at::Tensor total = torch::tensor({sumSquares}, torch::kDouble);
  patches.reduceSum(total);
  return total.item<double>() / double(patches.globalRows() * patches.channels());
}

}  // namespace dx::baselines

#include "discovery/nmf.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"

namespace dx {

namespace {

constexpr int kMaxIterations = 200;
// Stop when a sweep improves the relative reconstruction error by less than this fraction.
constexpr double kTolerance = 1e-5;
// HALS keeps entries at a tiny positive floor instead of 0 so no factor gets stuck at zero
// (Gillis & Glineur 2012, section 2).
constexpr float kFloor = 1e-12f;
// Ridge of the decoder's least-squares map, relative to the unit diagonal of V V^T: keeps W
// bounded when two parts are nearly collinear.
constexpr double kRidge = 1e-3;
// The parts V have only I x C unknowns: a seeded sample of this many patches pins them down as
// well as all of them, and keeps the fit at a few seconds on 500k patches (each HALS sweep costs
// two P x C x I products). The sample also stays within 256 MB of float32, so that its memory does
// not grow with the layer's width: 131,072 patches of 2048 channels (a ResNet-50 layer4) held a
// peak of 4.2 GB (streaming_bench, 100,000 images); 131,072 rows up to 512 channels as before.
constexpr int64_t kMaxFitPatches = 131072;
constexpr int64_t kMaxFitBytes = int64_t(256) << 20;

int64_t maxFitPatches(int64_t channels) {
  const int64_t rowBytes = int64_t(sizeof(float)) * std::max<int64_t>(1, channels);
  return std::min(kMaxFitPatches, kMaxFitBytes / rowBytes);
}

void checkNonNegative(const Patches& patches) {
  auto [lowest, highest] = patches.range();
  if (lowest < 0) {
    std::ostringstream msg;
    msg << "NMF needs non-negative activations (post-ReLU layer); this layer has values down to "
        << lowest << ". Choose a layer that follows a ReLU, or use pca, kmeans or sae.";
    throw UserError(msg.str());
  }
  if (highest == 0)
    throw UserError(
        "NMF found only zero activations in this layer; there is nothing to factorise. "
        "Choose another layer or check the images.");
}

struct Factors {
  at::Tensor coefficients;  // U^T, I x P: stored transposed so HALS updates contiguous rows
  at::Tensor parts;         // V, I x C
};

// The patches NMF fits (see maxFitPatches), drawn with the seeded generator from every process's
// patches. In a data-parallel fit this process keeps those it holds: `columns` are their places
// in the whole sample, which pick their columns of the random start.
struct FitSample {
  at::Tensor rows;     // n x C (this process's part)
  at::Tensor columns;  // undefined in a single process
  int64_t size = 0;    // the whole sample's size
};

// scikit-learn's "random" start: |N(0, 1)| scaled so U V has the mean of X. Every process draws
// the whole start and keeps its columns, so the start is the single-process one.
Factors randomStart(const FitSample& sample, const Patches& patches, int concepts,
                    at::Generator& gen) {
  double mean = sample.rows.mean().item<double>();
  if (patches.shared()) {
    at::Tensor sum = sample.rows.sum(at::kDouble).reshape({1});
    patches.reduceSum(sum);
    mean = sum.item<double>() / double(sample.size * sample.rows.size(1));
  }
  double scale = std::sqrt(mean / concepts);
  auto draw = [&](int64_t cols) {
    return (torch::randn({concepts, cols}, gen, torch::kFloat32).abs() * scale)
        .to(sample.rows.device());
  };
  at::Tensor coefficients = draw(sample.size);
  if (sample.columns.defined())
    coefficients = coefficients.index_select(1, sample.columns.to(coefficients.device()));
  return {coefficients.contiguous(), draw(sample.rows.size(1))};
}

// One HALS sweep for min ||T - factor^T other||^2 over factor >= 0, given
// cross = other T^T (I x n) and gram = other other^T (I x I): each row in turn gets its exact
// non-negative least-squares update with the other rows fixed.
void halsSweep(at::Tensor& factor, const at::Tensor& cross, const at::Tensor& gram) {
  for (int64_t j = 0; j < factor.size(0); ++j) {
    at::Tensor row = factor[j];
    at::Tensor step = (cross[j] - gram[j].matmul(factor)) / gram[j][j].clamp_min(1e-12f);
    row.copy_((row + step).clamp_min(kFloor));
  }
}

// ||X - U V||_F / ||X||_F from I x I and I x C products only:
// ||X||^2 - 2 <V, U^T X> + <U^T U, V V^T>.
double relativeError(double normSq, const Factors& f, const at::Tensor& coefficientsTimesX,
                     const at::Tensor& coefficientsGram) {
  double crossTerm = (f.parts * coefficientsTimesX).sum().item<double>();
  double gramTerm =
      (coefficientsGram.to(torch::kFloat64) * f.parts.matmul(f.parts.t()).to(torch::kFloat64))
          .sum()
          .item<double>();
  return std::sqrt(std::max(normSq - 2 * crossTerm + gramTerm, 0.0) / normSq);
}

FitSample fitSample(const Patches& patches, at::Generator& gen) {
  const int64_t total = patches.globalRows();
  at::Tensor order;
  const int64_t most = maxFitPatches(patches.channels());
  if (total > most) order = torch::randperm(total, gen, torch::kLong).narrow(0, 0, most);
  if (!patches.shared())
    return order.defined() ? FitSample{patches.at(order), {}, order.numel()}
                           : FitSample{patches.block(0, total), {}, total};
  at::Tensor index = order.defined() ? order : torch::arange(total, torch::kLong);
  at::Tensor mine = (index >= patches.offset()).logical_and(index < patches.offset() + patches.rows());
  at::Tensor columns = mine.nonzero().flatten();
  at::Tensor rows = columns.numel() > 0
                        ? patches.at(index.index_select(0, columns) - patches.offset())
                        : torch::zeros({0, patches.channels()}, torch::kFloat);
  return {rows, columns, index.numel()};
}

// Data-parallel (reductions through `all`): each process updates the coefficients of its own
// sample patches; the parts' update needs U^T X and U^T U over every patch, which are sums.
Factors factorise(const FitSample& sample, const Patches& all, const FitOptions& options,
                  at::Generator& gen) {
  baselines::SerialTorch serial;  // HALS is many small row updates (see baseline_common.h)
  const at::Tensor& patches = sample.rows;  // this process's part of the sample
  Factors f = randomStart(sample, all, options.concepts, gen);
  baselines::StageProgress progress(options, "nmf (HALS)", kMaxIterations);
  at::Tensor normSqSum = patches.pow(2).sum(at::kDouble).reshape({1});
  all.reduceSum(normSqSum);
  double normSq = normSqSum.item<double>();
  double previous = INFINITY;
  for (int iteration = 1; iteration <= kMaxIterations; ++iteration) {
    halsSweep(f.coefficients, f.parts.matmul(patches.t()), f.parts.matmul(f.parts.t()));
    at::Tensor coefficientsTimesX = f.coefficients.matmul(patches);
    at::Tensor coefficientsGram = f.coefficients.matmul(f.coefficients.t());
    all.reduceSum(coefficientsTimesX);
    all.reduceSum(coefficientsGram);
    halsSweep(f.parts, coefficientsTimesX, coefficientsGram);
    at::Tensor errorValue = torch::tensor({relativeError(normSq, f, coefficientsTimesX,
                                                         coefficientsGram)}, torch::kDouble);
    all.fromFirst(errorValue);  // every process stops after the same sweep
    double error = errorValue.item<double>();
    progress.step(iteration);
    if (previous - error < kTolerance * previous) break;
    previous = error;
  }
  // Unit parts: the scale of a concept lives in its coefficients.
  at::Tensor norms = f.parts.norm(2, {1}, true).clamp_min(1e-12f);
  return {f.coefficients * norms, f.parts / norms};
}

// b_i: half the mean coefficient of concept i over the patches it dominates. NMF is parts-based,
// so several concepts coexist in a patch and "largest coefficient" would be too strict; half the
// typical dominant strength is the midpoint between absent (u = 0) and typically present. A
// concept that dominates no patch falls back to half its strongest occurrence.
at::Tensor dominanceThresholds(const at::Tensor& coefficients, const Patches& all) {
  const int64_t concepts = coefficients.size(0);
  at::Tensor sums = torch::zeros({concepts}, coefficients.options());
  at::Tensor counts = torch::zeros({concepts}, coefficients.options());
  at::Tensor strongest = torch::zeros({concepts}, coefficients.options());
  if (coefficients.size(1) > 0) {  // a process may hold none of the sample
    at::Tensor dominant = coefficients.argmax(0);
    at::Tensor strength = coefficients.gather(0, dominant.unsqueeze(0)).squeeze(0);
    sums.index_add_(0, dominant, strength);
    counts = torch::bincount(dominant, {}, concepts).to(torch::kFloat32);
    strongest = std::get<0>(coefficients.max(1));
  }
  all.reduceSum(sums);
  all.reduceSum(counts);
  all.reduceMax(strongest);
  at::Tensor typical = torch::where(counts > 0, sums / counts.clamp_min(1), strongest);
  return 0.5f * typical;
}

}  // namespace

std::string NmfMethod::decoderMeaning() const {
  return "Least-squares estimate of the part's non-negative coefficient; fires where it exceeds "
         "half the part's typical strength in the patches it dominates.";
}

std::string NmfMethod::encoderMeaning() const {
  return "The non-negative part (unit norm) that the factorisation adds to a patch in proportion "
         "to "
         "its coefficient.";
}

ConceptBasis NmfMethod::fit(const at::Tensor& activations, const FitOptions& options) const {
  Patches patches = baselines::checkedPatches(activations, options, name());
  checkNonNegative(patches);
  at::Generator gen = baselines::seededGenerator(options.seed);
  Factors f = factorise(fitSample(patches, gen), patches, options, gen);
  at::Tensor gram = f.parts.matmul(f.parts.t());
  at::Tensor ridge = kRidge * torch::eye(options.concepts, gram.options());
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = torch::linalg::solve(gram + ridge, f.parts, true);
  basis.biases = dominanceThresholds(f.coefficients, patches);
  basis.encoders = f.parts;
  return basis;
}

bool NmfMethod::dataParallel() const { return true; }

std::unique_ptr<ConceptMethod> makeNmfMethod() { return std::make_unique<NmfMethod>(); }

}  // namespace dx

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
  at::Tensor coefficients;  // U^T by sample group: groups x I x R (see FitSample)
  at::Tensor parts;         // V, I x C
};

// The patches NMF fits (see maxFitPatches), drawn with the seeded generator from every process's
// patches and grouped by fold block (Patches::foldImages): group g holds, in sample order, the
// sample's patches among rows [g F, (g + 1) F) of all patches, zero-padded to the largest group's
// R rows. A data-parallel process holds whole fold blocks, hence whole groups, so each group's
// products have the same shapes and bits in one process or several (on the CPU, LibTorch's bmm
// is one gemm per group; with OpenBLAS on as many threads), and their sums over the groups are
// exact (Patches::exactTotal): NMF on any number of processes gives the one-process fit bit for
// bit (a float sum over processes rounds in another order, and HALS' 200 sweeps turned that into
// differences up to 7e-3, a sweep apart at the stopping rule). When fold blocks hold few sample
// patches the padding grows (about 2.5x at 9 per block); their count sets each sweep's cost of
// exact sums (one I x C rounding per group).
struct FitSample {
  at::Tensor rows;              // groups x R x C (this process's groups)
  at::Tensor valid;             // groups x 1 x R float32: 1 for a sample patch, 0 for padding
  at::Tensor positions;         // groups x R int64: each row's place in the whole sample
  std::vector<int64_t> counts;  // each group's patches
  int64_t size = 0;             // the whole sample's size
  int64_t globalGroups = 0;     // groups over every process
  int64_t groups() const { return int64_t(counts.size()); }
};

// Per group of `rows` (groups x R x C): f(that group's R x C rows) summed in float64, one group
// at a time (no float64 copy of the whole sample), as an n x 1 tensor.
at::Tensor perGroupSums(const at::Tensor& rows,
                        const std::function<at::Tensor(const at::Tensor&)>& f) {
  std::vector<at::Tensor> sums;
  for (int64_t g = 0; g < rows.size(0); ++g)
    sums.push_back(f(rows[g].to(at::kDouble)).sum().reshape({1}));
  return torch::stack(sums);
}

// The exact sum over every process's groups of value(g) (Patches::exactTotal), as float32 on
// `device`.
at::Tensor groupTotal(const Patches& all, const FitSample& sample, at::IntArrayRef shape,
                      const Patches::PartValues& value, const at::Device& device,
                      const at::Tensor& bound = {}) {
  return all.exactTotal(shape, sample.groups(), sample.globalGroups, value, bound)
      .to(device, torch::kFloat);
}

// scikit-learn's "random" start: |N(0, 1)| scaled so U V has the mean of X. Every process draws
// the whole start and keeps its groups' columns, so the start is the single-process one.
Factors randomStart(const FitSample& sample, const Patches& all, int concepts, at::Generator& gen) {
  const int64_t channels = sample.rows.size(2);
  auto sum = all.exactTotal({1}, sample.groups(), sample.globalGroups, [&](int64_t g, int64_t n) {
    return perGroupSums(sample.rows.narrow(0, g, n), [](const at::Tensor& x) { return x; });
  });
  double scale = std::sqrt(sum.item<double>() / double(sample.size * channels) / concepts);
  auto draw = [&](int64_t cols) {
    return torch::randn({concepts, cols}, gen, torch::kFloat32).abs() * scale;
  };
  at::Tensor picked = draw(sample.size).index_select(1, sample.positions.flatten());
  at::Tensor coefficients = picked.view({concepts, sample.groups(), sample.rows.size(1)})
                                .permute({1, 0, 2})
                                .contiguous()
                                .to(sample.rows.device());
  picked.reset();  // at most two copies of the start at once (500 concepts: 262 MB each)
  coefficients.mul_(sample.valid);
  return {coefficients, draw(channels).to(sample.rows.device())};
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

// halsSweep on every group's coefficients at once (groups x I x R, cross likewise): a batched
// product per group keeps each group's bits whatever the number of groups; padding stays 0.
void coefficientSweep(at::Tensor& coefficients, const at::Tensor& cross, const at::Tensor& gram,
                      const at::Tensor& valid) {
  const int64_t groups = coefficients.size(0), concepts = coefficients.size(1);
  for (int64_t j = 0; j < concepts; ++j) {
    at::Tensor row = coefficients.select(1, j);
    at::Tensor mixed =
        torch::bmm(gram[j].view({1, 1, concepts}).expand({groups, 1, concepts}), coefficients)
            .squeeze(1);
    at::Tensor step = (cross.select(1, j) - mixed) / gram[j][j].clamp_min(1e-12f);
    row.copy_((row + step).clamp_min(kFloor) * valid.squeeze(1));
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
  const int64_t most = maxFitPatches(patches.channels());
  at::Tensor index = total > most ? torch::randperm(total, gen, torch::kLong).narrow(0, 0, most)
                                  : torch::arange(total, torch::kLong);
  const int64_t foldRows = patches.foldImages() * patches.perImage();
  TORCH_CHECK(patches.rows() == 0 || patches.offset() % foldRows == 0,
              "NMF: a process's share must start on a fold block");
  FitSample s;
  s.size = index.numel();
  s.globalGroups = patches.foldBlocks();
  at::Tensor group = index.div(foldRows, "floor");
  at::Tensor counts = torch::bincount(group, {}, s.globalGroups);
  at::Tensor starts = counts.cumsum(0) - counts;
  at::Tensor order = std::get<1>(group.sort(/*stable=*/true, 0, false));  // sample order within
  const int64_t widest = counts.max().item<int64_t>();
  const int64_t first = patches.offset() / foldRows;
  const int64_t groups =
      patches.rows() == 0 ? 0
                          : (patches.offset() + patches.rows() + foldRows - 1) / foldRows - first;
  const auto device = patches.activations().device();
  s.rows = torch::zeros({groups, widest, patches.channels()},
                        torch::dtype(torch::kFloat).device(device));
  s.valid = torch::zeros({groups, 1, widest}, s.rows.options());
  s.positions = torch::zeros({groups, widest}, torch::kLong);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t count = counts[first + g].item<int64_t>();
    s.counts.push_back(count);
    if (count == 0) continue;
    at::Tensor places = order.narrow(0, starts[first + g].item<int64_t>(), count);
    s.positions[g].narrow(0, 0, count).copy_(places);
    s.rows[g]
        .narrow(0, 0, count)
        .copy_(patches.at(index.index_select(0, places) - patches.offset()));
    s.valid[g][0].narrow(0, 0, count).fill_(1);
  }
  return s;
}

// Exact sums over every group (groupTotal) of U_g^T X_g and U_g^T U_g. Their bounds keep the
// exact sums' grid without a second pass: with U, X >= 0, |(U_g^T X_g)_ij| <= r_i m_j, where r_i
// is the largest row sum of u_i over the groups and m_j the largest x_j (twice that, for the
// products' own rounding).
std::pair<at::Tensor, at::Tensor> summedProducts(const FitSample& sample, const Patches& all,
                                                 const at::Tensor& coefficients,
                                                 const at::Tensor& channelLargest) {
  const int64_t concepts = coefficients.size(1), channels = sample.rows.size(2);
  at::Tensor rowSums = sample.groups() > 0
                           ? std::get<0>(coefficients.sum(2).max(0)).to(torch::kDouble)
                           : torch::zeros({concepts}, torch::kDouble);
  at::Tensor largest = sample.groups() > 0
                           ? std::get<0>(coefficients.amax(2).max(0)).to(torch::kDouble)
                           : torch::zeros({concepts}, torch::kDouble);
  // The grid must be the one-process one: bounds from the largest values over every process.
  rowSums = 2 * rowSums.to(torch::kCPU);
  largest = largest.to(torch::kCPU);
  all.reduceMax(rowSums);
  all.reduceMax(largest);
  const auto device = coefficients.device();
  at::Tensor timesX = groupTotal(
      all, sample, {concepts, channels},
      [&](int64_t g, int64_t n) {
        return torch::bmm(coefficients.narrow(0, g, n), sample.rows.narrow(0, g, n));
      },
      device, rowSums.outer(channelLargest));
  at::Tensor gram = groupTotal(
      all, sample, {concepts, concepts},
      [&](int64_t g, int64_t n) {
        at::Tensor u = coefficients.narrow(0, g, n);
        return torch::bmm(u, u.transpose(1, 2));
      },
      device, rowSums.outer(largest));
  return {timesX, gram};
}

// Data-parallel (reductions through `all`): each process updates the coefficients of its own
// sample groups; the parts' update needs U^T X and U^T U over every patch, which are exact sums.
Factors factorise(const FitSample& sample, const Patches& all, const FitOptions& options,
                  at::Generator& gen) {
  baselines::SerialTorch serial;  // HALS is many small row updates (see baseline_common.h)
  Factors f = randomStart(sample, all, options.concepts, gen);
  baselines::StageProgress progress(options, "nmf (HALS)", kMaxIterations);
  const int64_t channels = sample.rows.size(2);
  auto squares = [&](int64_t g, int64_t n) {
    return perGroupSums(sample.rows.narrow(0, g, n), [](const at::Tensor& x) { return x.pow(2); });
  };
  double normSq = all.exactTotal({1}, sample.groups(), sample.globalGroups, squares).item<double>();
  at::Tensor channelLargest = sample.groups() > 0
                                  ? sample.rows.amax({0, 1}).to(torch::kCPU, torch::kDouble)
                                  : torch::zeros({channels}, torch::kDouble);
  all.reduceMax(channelLargest);
  at::Tensor rowsT = sample.rows.transpose(1, 2);
  double previous = INFINITY;
  for (int iteration = 1; iteration <= kMaxIterations; ++iteration) {
    at::Tensor parts = f.parts.expand({sample.groups(), f.parts.size(0), channels});
    coefficientSweep(f.coefficients, torch::bmm(parts, rowsT), f.parts.matmul(f.parts.t()),
                     sample.valid);
    auto [coefficientsTimesX, coefficientsGram] =
        summedProducts(sample, all, f.coefficients, channelLargest);
    halsSweep(f.parts, coefficientsTimesX, coefficientsGram);
    at::Tensor errorValue = torch::tensor(
        {relativeError(normSq, f, coefficientsTimesX, coefficientsGram)}, torch::kDouble);
    all.fromFirst(errorValue);  // every process stops after the same sweep
    double error = errorValue.item<double>();
    progress.step(iteration);
    if (previous - error < kTolerance * previous) break;
    previous = error;
  }
  // Unit parts: the scale of a concept lives in its coefficients.
  at::Tensor norms = f.parts.norm(2, {1}, true).clamp_min(1e-12f);
  return {f.coefficients * norms.unsqueeze(0), f.parts / norms};
}

// b_i: half the mean coefficient of concept i over the patches it dominates. NMF is parts-based,
// so several concepts coexist in a patch and "largest coefficient" would be too strict; half the
// typical dominant strength is the midpoint between absent (u = 0) and typically present. A
// concept that dominates no patch falls back to half its strongest occurrence. Sums and counts
// are exact over the groups (FitSample), so any number of processes gives the same thresholds.
at::Tensor dominanceThresholds(const Factors& f, const FitSample& sample, const Patches& all) {
  baselines::SerialTorch serial;
  const int64_t concepts = f.coefficients.size(1);
  // Per group: the sum of the dominant strengths and the count, per concept.
  auto dominance = [&](int64_t first, int64_t n) {
    std::vector<at::Tensor> groups;
    for (int64_t g = first; g < first + n; ++g) {
      at::Tensor u = f.coefficients[g].narrow(1, 0, sample.counts[size_t(g)]);
      at::Tensor dominant = u.argmax(0);
      at::Tensor strength = u.gather(0, dominant.unsqueeze(0)).squeeze(0).to(at::kDouble);
      at::Tensor sums =
          torch::zeros({concepts}, strength.options()).index_add_(0, dominant, strength);
      groups.push_back(
          torch::stack({sums, torch::bincount(dominant, {}, concepts).to(at::kDouble)}));
    }
    return torch::stack(groups);
  };
  at::Tensor totals = groupTotal(all, sample, {2, concepts}, dominance, f.parts.device());
  at::Tensor strongest = sample.groups() > 0 ? std::get<0>(f.coefficients.amax(2).max(0))
                                             : torch::zeros({concepts}, f.parts.options());
  all.reduceMax(strongest);
  at::Tensor sums = totals[0], counts = totals[1];
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
  FitSample sample = fitSample(patches, gen);
  Factors f = factorise(sample, patches, options, gen);
  at::Tensor gram = f.parts.matmul(f.parts.t());
  at::Tensor ridge = kRidge * torch::eye(options.concepts, gram.options());
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = torch::linalg::solve(gram + ridge, f.parts, true);
  basis.biases = dominanceThresholds(f, sample, patches);
  basis.encoders = f.parts;
  return basis;
}

bool NmfMethod::dataParallel() const { return true; }

std::unique_ptr<ConceptMethod> makeNmfMethod() { return std::make_unique<NmfMethod>(); }

}  // namespace dx

#include "discovery/lloyd.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "discovery/baseline_common.h"

namespace dx::baselines {

namespace {

constexpr int kMaxIterations = 100;
constexpr double kTolerance = 1e-4;
// k-means++ runs on a seeded sample of at most this many patches per centroid (faiss's
// max_points_per_centroid): seeding is sequential in k, so on all of 500k patches it would
// dominate the fit, while 256 points per centroid already cover every cluster worth seeding.
constexpr int64_t kSeedPointsPerCentroid = 256;

// Squared distances from every row of `sample` (n x C, squared norms `sqNorms`) to the rows
// `rows` of the sample: n x rows.numel().
at::Tensor sqDistances(const at::Tensor& sample, const at::Tensor& sqNorms,
                       const at::Tensor& rows) {
  at::Tensor points = sample.index_select(0, rows);
  return (sqNorms.unsqueeze(1) - 2 * sample.matmul(points.t()) + sqNorms.index_select(0, rows))
      .clamp_min(0);
}

}  // namespace

// Greedy k-means++ (Arthur & Vassilvitskii 2007, section 6; scikit-learn's default): each next
// seed is the best, by the resulting potential sum_x min_c ||x - c||^2, of 2 + ln k candidates
// drawn with probability proportional to their squared distance to the nearest seed so far. Plain
// k-means++ too often puts two seeds in one cluster (the many close points of a seeded cluster
// carry real probability mass), a local optimum Lloyd cannot leave. Runs on the CPU, where the
// seeded generator lives. Returns k x C on the device of `patches`.
at::Tensor plusPlusSeeds(const Patches& patches, int k, at::Generator& gen) {
  // Data-parallel: the same seeded sample of every process's patches, on every process.
  const int64_t total = patches.globalRows();
  const int64_t n = std::min(total, kSeedPointsPerCentroid * k);
  const int64_t trials = 2 + int64_t(std::log(double(k)));
  at::Tensor sample =
      n < total ? patches.gather(torch::randperm(total, gen, torch::kLong).narrow(0, 0, n))
      : patches.shared() ? patches.gather(torch::arange(total, torch::kLong))
                         : patches.block(0, total);
  auto device = sample.device();
  sample = sample.cpu().contiguous();
  at::Tensor sqNorms = rowNorms(sample).pow(2);
  at::Tensor chosen = torch::randint(n, {1}, gen, torch::kLong);
  at::Tensor nearest = sqDistances(sample, sqNorms, chosen).squeeze(1);
  while (chosen.numel() < k) {
    // All remaining points coincide with a seed (fewer distinct patches than k): pick any.
    bool spread = nearest.sum().item<double>() > 0;
    at::Tensor candidates = spread ? torch::multinomial(nearest, trials, true, gen)
                                   : torch::randint(n, {1}, gen, torch::kLong);
    at::Tensor after =
        torch::minimum(nearest.unsqueeze(1), sqDistances(sample, sqNorms, candidates));
    int64_t best = after.sum(0).argmin().item<int64_t>();
    chosen = torch::cat({chosen, candidates.narrow(0, best, 1)});
    nearest = after.select(1, best).contiguous();
  }
  return sample.index_select(0, chosen).to(device);
}

at::Tensor plusPlusSeeds(const at::Tensor& patches, int k, at::Generator& gen) {
  return plusPlusSeeds(Patches::ofMatrix(patches), k, gen);
}

namespace {

struct Assignment {
  at::Tensor labels;  // P int64
  at::Tensor misfit;  // P float: squared distance (Euclidean) or 1 - cosine (Spherical)
  at::Tensor sums;    // k x C: sum of each centroid's members (the next update's input)
};

// Nearest centroid of every patch, as matrix products in row blocks (never P x C x k):
// argmin ||x - c||^2 = argmax (2 x.c - ||c||^2), argmax of cosine = argmax x.c for unit rows.
// The same pass sums each centroid's members, so a Lloyd iteration reads the patches once.
Assignment assign(const Patches& patches, const at::Tensor& sqNorms, const at::Tensor& centroids,
                  Geometry geometry) {
  const int64_t total = patches.rows();
  Assignment a{torch::empty({total}, centroids.options().dtype(torch::kLong)),
               torch::empty({total}, centroids.options()), torch::zeros_like(centroids)};
  at::Tensor centroidSqNorms = centroids.pow(2).sum(1);
  patches.forEachBlock([&](int64_t begin, const at::Tensor& x) {
    int64_t rows = x.size(0);
    at::Tensor s = x.matmul(centroids.t());
    if (geometry == Geometry::Euclidean) s = 2 * s - centroidSqNorms;
    auto [best, label] = s.max(1);
    a.labels.narrow(0, begin, rows).copy_(label);
    a.misfit.narrow(0, begin, rows)
        .copy_(geometry == Geometry::Euclidean ? sqNorms.narrow(0, begin, rows) - best : 1 - best);
    a.sums.index_add_(0, label, x);
  });
  patches.reduceSum(a.sums);  // data-parallel: every process's members
  return a;
}

// The `m` largest `misfits` (rows of `indices`), ties to the lowest index: a rule that does not
// depend on how the patches are shared out, so every process and a single process pick alike.
at::Tensor worstOf(const at::Tensor& misfits, const at::Tensor& indices, int64_t m) {
  at::Tensor byIndex = std::get<1>(indices.sort());
  at::Tensor order = std::get<1>(at::sort(misfits.index_select(0, byIndex), /*stable=*/true,
                                          /*dim=*/0, /*descending=*/true));
  return indices.index_select(0, byIndex.index_select(0, order.narrow(0, 0, m)));
}

// The global indices of the `m` worst-fitting patches over every process.
at::Tensor worstPatches(const Patches& patches, const at::Tensor& misfit, int64_t m) {
  at::Tensor local = misfit.to(torch::kCPU, torch::kDouble);
  at::Tensor rows = torch::arange(local.numel(), torch::kLong) + patches.offset();
  if (!patches.shared()) return worstOf(local, rows, m).to(misfit.device());
  // Each process offers its m worst (misfit, global index) in its own slot and -inf / -1 in the
  // others' slots; one max gives every process all the offers, and the best m are the global worst.
  const Reduction& reduction = *patches.reduction();
  at::Tensor offers = torch::full({2, reduction.parts() * m}, -INFINITY, torch::kDouble);
  offers[1].fill_(-1);
  int64_t count = std::min<int64_t>(m, local.numel());
  if (count > 0) {
    at::Tensor mine = worstOf(local, rows, count);
    offers[0].narrow(0, reduction.part() * m, count).copy_(local.index_select(0, mine - patches.offset()));
    offers[1].narrow(0, reduction.part() * m, count).copy_(mine);
  }
  reduction.max(offers);
  return worstOf(offers[0], offers[1].to(torch::kLong), m);
}

// Clusters left without members move to the worst-fitting patches (as scikit-learn does), so
// every concept ends up describing some data.
void reseedEmpty(at::Tensor& centroids, const at::Tensor& counts, const Patches& patches,
                 const at::Tensor& misfit) {
  at::Tensor empty = (counts == 0).nonzero().flatten().cpu();
  if (empty.numel() == 0) return;
  at::Tensor worst = worstPatches(patches, misfit, empty.numel());
  centroids.index_copy_(0, empty.to(centroids.device()),
                        patches.gather(worst).to(centroids.device()));
}

// Members per centroid over every process.
at::Tensor memberCounts(const Patches& patches, const at::Tensor& labels, int k) {
  at::Tensor counts = torch::bincount(labels, {}, k);
  patches.reduceSum(counts);
  return counts;
}

at::Tensor updatedCentroids(const Patches& patches, const Assignment& a, int k,
                            Geometry geometry) {
  const at::Tensor& sums = a.sums;
  at::Tensor counts = memberCounts(patches, a.labels, k);
  at::Tensor centroids = geometry == Geometry::Euclidean
                             ? sums / counts.clamp_min(1).unsqueeze(1).to(sums.dtype())
                             : unitRows(sums);
  reseedEmpty(centroids, counts, patches, a.misfit);
  return centroids;
}

}  // namespace

Clustering lloydKMeans(const at::Tensor& patches, int k, Geometry geometry,
                       const FitOptions& options, const std::string& stage) {
  return lloydKMeans(Patches::ofMatrix(patches), k, geometry, options, stage);
}

Clustering lloydKMeans(const Patches& patches, int k, Geometry geometry,
                       const FitOptions& options, const std::string& stage) {
  // Many small per-iteration ops on small data (see baseline_common.h); large blocks gain from
  // every thread.
  std::optional<SerialTorch> serial;
  if (patches.rows() * patches.channels() <= (int64_t(1) << 26)) serial.emplace();
  StageProgress progress(options, stage, kMaxIterations);
  at::Generator gen = seededGenerator(options.seed);
  std::vector<at::Tensor> norms;
  patches.forEachBlock([&](int64_t, const at::Tensor& x) { norms.push_back(rowNorms(x).pow(2)); });
  at::Tensor sqNorms = torch::cat(norms);
  double tolerance = kTolerance * meanChannelVariance(patches);
  Clustering result;
  result.centroids = plusPlusSeeds(patches, k, gen);
  patches.fromFirst(result.centroids);  // data-parallel: one process's seeds for all
  Assignment a = assign(patches, sqNorms, result.centroids, geometry);
  while (result.iterations < kMaxIterations) {
    progress.checkCancelled();
    at::Tensor moved = updatedCentroids(patches, a, k, geometry);
    at::Tensor shiftSum = (moved - result.centroids).pow(2).sum().to(torch::kDouble).reshape({1});
    patches.fromFirst(shiftSum);  // every process stops at the same iteration
    double shift = shiftSum.item<double>();
    result.centroids = moved;
    Assignment next = assign(patches, sqNorms, result.centroids, geometry);
    at::Tensor changed = torch::tensor({int64_t(!torch::equal(next.labels, a.labels))});
    patches.reduceSum(changed);  // stable only when no process saw a label change
    bool stable = changed.item<int64_t>() == 0;
    a = next;
    progress.step(++result.iterations);
    if (stable || shift <= tolerance) break;
  }
  result.labels = a.labels;  // this process's patches
  result.counts = memberCounts(patches, a.labels, k);
  return result;
}

}  // namespace dx::baselines

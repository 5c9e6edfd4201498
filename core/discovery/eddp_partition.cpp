#include "discovery/eddp_partition.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "discovery/concept_stability.h"
#include "discovery/eddp_starts.h"
#include "discovery/lloyd.h"

namespace dx::eddp {
namespace {

// Sum of squared distances of the rows of x to their centroids, in double, a block of rows at a
// time (no copy of x: a wide layer's 100,000-row sample is 800 MB at 2,048 channels).
double inertiaOf(const at::Tensor& x, const baselines::Clustering& c) {
  double sum = 0;
  for (int64_t r = 0; r < x.size(0); r += 8192) {
    auto rows = x.slice(0, r, std::min(x.size(0), r + 8192));
    auto centroids = c.centroids.index_select(0, c.labels.slice(0, r, r + rows.size(0)));
    sum += (rows - centroids).pow(2).sum(torch::kDouble).item<double>();
  }
  return sum;
}

double binaryEntropy(double p) {
  if (p <= 0 || p >= 1) return 0;
  return -(p * std::log(p) + (1 - p) * std::log(1 - p));
}

}  // namespace

double labelAgreement(const at::Tensor& a, const at::Tensor& b, int concepts) {
  auto x = torch::nn::functional::one_hot(a, concepts).to(torch::kDouble);
  auto y = torch::nn::functional::one_hot(b, concepts).to(torch::kDouble);
  auto inter = x.t().matmul(y);
  auto iou = inter / (x.sum(0).unsqueeze(1) + y.sum(0).unsqueeze(0) - inter).clamp_min(1);
  auto match = maxWeightAssignment(iou);
  double sum = 0;
  for (int i = 0; i < concepts; ++i) sum += iou[i][match[size_t(i)]].item<double>();
  return sum / concepts;
}

at::Tensor startLabels(const std::string& kind, const at::Tensor& standardised, int concepts,
                       uint64_t seed, const CancelToken& cancel, int kMeansRuns) {
  if (kind == "kmeans") {
    auto centred = (standardised - standardised.mean(0)).contiguous();
    at::Tensor labels;
    double lowest = INFINITY;
    for (int run = 0; run < std::max(1, kMeansRuns); ++run) {
      FitOptions o;
      o.concepts = concepts;
      o.seed = seed + 104729 * uint64_t(run);
      o.cancel = cancel;
      auto c = baselines::lloydKMeans(centred, concepts, baselines::Geometry::Euclidean, o,
                                      "eddp start: k-means");
      double inertia = inertiaOf(centred, c);
      if (!labels.defined() || inertia < lowest) lowest = inertia, labels = c.labels;
    }
    return labels;
  }
  if (kind == "ica" || kind == "ica-whitened") {
    auto directions = startDirections(kind, standardised, concepts, seed, cancel);
    auto readings = standardised.matmul(directions.t());  // P x I
    auto centre = std::get<0>(readings.median(0, true));
    auto spread = readings.std(0, true, true).clamp_min(1e-12);
    return ((readings - centre) / spread).argmax(1);
  }
  throw UserError("unknown EDDP partition start \"" + kind +
                  "\"; use kmeans, ica or ica-whitened.");
}

double kMeansAgreement(const at::Tensor& standardised, int concepts, uint64_t seed, int restarts,
                       int kMeansRuns, const CancelToken& cancel,
                       std::vector<at::Tensor>* startPartitions) {
  std::vector<at::Tensor> partitions;
  for (int r = 0; r < restarts; ++r)
    partitions.push_back(startLabels("kmeans", standardised, concepts, seed + 7919 * uint64_t(r),
                                     cancel, kMeansRuns));
  double lowest = 1;
  for (size_t a = 0; a < partitions.size(); ++a)
    for (size_t b = a + 1; b < partitions.size(); ++b)
      lowest = std::min(lowest, labelAgreement(partitions[a], partitions[b], concepts));
  if (startPartitions) *startPartitions = std::move(partitions);
  return lowest;
}

LinearDetectors fitOneVsRest(const at::Tensor& x, const at::Tensor& labels, int concepts,
                             uint64_t seed, const CancelToken& cancel) {
  auto gen = at::detail::createCPUGenerator(seed);
  // The same rows of x and of the labels, sampled through their indices.
  auto index = sampleRows(torch::arange(x.size(0), x.options().dtype(torch::kLong)), 20000, gen);
  auto rows = x.index_select(0, index), y = labels.index_select(0, index);
  auto target = torch::nn::functional::one_hot(y, concepts).to(rows.dtype());  // P x I
  auto w = torch::zeros({concepts, rows.size(1)}, rows.options()).requires_grad_(true);
  auto b = torch::zeros({concepts}, rows.options()).requires_grad_(true);
  // lambda bounds the weights on separable data: 0.01 / n, C = 100 in scikit-learn's terms (its
  // default C = 1 is about the 1e-4 used until engine version 9 at the grid's 8,000 patches). On
  // uniform factors no margin separates present from absent values, and a strong penalty pulls
  // each normal towards the difference of the group means, off the boundary's normal. The weaker
  // one raised the worst detector IoU at I = 12 and 24 from 0.90-0.96 to 0.94-0.99 (C = 10:
  // 0.94-0.98; recovery_study, seed 0, 8,000 patches; mean over the 26 uniform cells the adaptive
  // preset fits by partition 0.925 -> 0.953; at I = 48 0.81-0.86 -> 0.77-0.895, and 0.94 at
  // 16,000 patches); heavy-tailed cells did not move. The cost: noisy-level encoders, which the
  // data do not determine (docs/concept-discovery.md), fell (mean worst |cos| of those cells
  // 0.47 -> 0.35), and fits at I >= 24 take two to three times as long (at I = 48 L-BFGS stops
  // at its 200 iterations; 1,000 changed no figure).
  const double lambda = 0.01 / double(rows.size(0));
  torch::optim::LBFGS lbfgs({w, b}, torch::optim::LBFGSOptions(1.0).max_iter(200).line_search_fn(
                                        "strong_wolfe"));
  auto perDetectorLoss = [&] {
    auto logits = rows.matmul(w.t()) - b;
    return torch::nn::functional::binary_cross_entropy_with_logits(
               logits, target,
               torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(
                   torch::kNone))
        .mean(0);
  };
  {
    torch::AutoGradMode enable(true);
    if (cancel.cancelled()) throw Cancelled();
    lbfgs.step([&] {
      lbfgs.zero_grad();
      auto loss = perDetectorLoss().sum() + 0.5 * lambda * w.pow(2).sum();
      loss.backward();
      return loss;
    });
  }
  torch::NoGradGuard noGrad;
  LinearDetectors out;
  out.weights = w.detach();
  out.biases = b.detach();
  auto loss = perDetectorLoss().to(torch::kDouble);
  auto shares = target.to(torch::kDouble).mean(0);
  double sum = 0;
  for (int i = 0; i < concepts; ++i) {
    double h = binaryEntropy(shares[i].item<double>());
    sum += h > 0 ? std::min(1.0, loss[i].item<double>() / h) : 1.0;
  }
  out.unexplained = sum / concepts;
  return out;
}

}  // namespace dx::eddp

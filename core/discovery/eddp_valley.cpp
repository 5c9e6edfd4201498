#include "discovery/eddp_valley.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "discovery/eddp_starts.h"
#include "discovery/synthetic_pairs.h"

namespace dx::eddp {
namespace {

constexpr int kBins = 200;
constexpr double kSmoothingBins = 2.0;

std::vector<double> smoothed(const std::vector<double>& counts) {
  const int reach = int(std::ceil(3 * kSmoothingBins));
  std::vector<double> out(counts.size(), 0.0);
  for (int j = 0; j < int(counts.size()); ++j) {
    double weights = 0;  // normalised by the kernel's weight inside the range: no dip at the ends
    for (int k = std::max(0, j - reach); k <= std::min(int(counts.size()) - 1, j + reach); ++k) {
      double weight = std::exp(-0.5 * std::pow((k - j) / kSmoothingBins, 2));
      out[size_t(j)] += weight * counts[size_t(k)];
      weights += weight;
    }
    out[size_t(j)] /= weights;
  }
  return out;
}

}  // namespace

DensityValley densityValley(const at::Tensor& readings) {
  auto r = readings.detach().to(torch::kDouble).flatten();
  if (r.numel() < 2) return {};
  auto sorted = std::get<0>(r.sort());
  auto quantile = [&](double q) {
    return sorted[int64_t(q * double(sorted.size(0) - 1))].item<double>();
  };
  double lo = quantile(0.005), hi = quantile(0.995);
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo)) return {};
  auto counts = torch::histc(r, kBins, lo, hi).cpu().contiguous();
  const double* bins = counts.data_ptr<double>();
  std::vector<double> raw(bins, bins + kBins);
  auto d = smoothed(raw);
  int mode = int(std::max_element(d.begin(), d.end()) - d.begin());
  std::vector<double> highestBeyond(d);
  for (int j = kBins - 2; j >= 0; --j)
    highestBeyond[size_t(j)] = std::max(d[size_t(j)], highestBeyond[size_t(j) + 1]);
  DensityValley best;
  for (int j = mode + 1; j < kBins - 1; ++j) {
    double depth = (std::min(d[size_t(mode)], highestBeyond[size_t(j)]) - d[size_t(j)]) /
                   d[size_t(mode)];
    if (depth > best.depth) best = {lo + (j + 0.5) * (hi - lo) / kBins, depth};
  }
  return best;
}

at::Tensor valleyThresholds(const at::Tensor& readings) {
  int64_t concepts = readings.size(1);
  auto member = torch::nn::functional::one_hot(readings.argmax(1), concepts).to(readings.dtype());
  auto inMean = (readings * member).sum(0) / member.sum(0).clamp_min(1);
  auto outMean = (readings * (1 - member)).sum(0) / (1 - member).sum(0).clamp_min(1);
  auto thresholds = (inMean + outMean) / 2;
  for (int64_t i = 0; i < concepts; ++i) {
    auto valley = densityValley(readings.select(1, i));
    if (valley.depth > 0) thresholds[i] = valley.position;
  }
  return thresholds;
}

namespace {

// The firing (P x I, bool) on `all` of the ica-valley detectors fitted on `rows`.
at::Tensor valleyFirings(const at::Tensor& rows, const at::Tensor& all, int concepts,
                         uint64_t seed, const CancelToken& cancel) {
  auto directions = startDirections("ica-whitened", rows, concepts, seed, cancel);
  auto units = directions / directions.norm(2, {1}, true).clamp_min(1e-12);
  auto thresholds = valleyThresholds(rows.matmul(units.t()));
  return all.matmul(units.t()) - thresholds > 0;
}

}  // namespace

ValleyRepeatability valleyRepeatability(const at::Tensor& standardised, int concepts,
                                        uint64_t seed, const CancelToken& cancel) {
  auto gen = at::detail::createCPUGenerator(seed + 15485863);  // apart from the starts' seeds
  auto order = torch::randperm(standardised.size(0), gen, torch::kLong).to(standardised.device());
  int64_t half = standardised.size(0) / 2;
  auto first = valleyFirings(standardised.index_select(0, order.slice(0, 0, half)), standardised,
                             concepts, seed, cancel);
  auto second = valleyFirings(standardised.index_select(0, order.slice(0, half)), standardised,
                              concepts, seed, cancel);
  ValleyRepeatability r;
  r.agreement = matchedDetectorIou(second.to(torch::kFloat) - 0.5, first).min().item<double>();
  auto unclaimed = [](const at::Tensor& fires) {
    return (~fires.any(1)).to(torch::kDouble).mean().item<double>();
  };
  r.unclaimed = (unclaimed(first) + unclaimed(second)) / 2;
  return r;
}

}  // namespace dx::eddp

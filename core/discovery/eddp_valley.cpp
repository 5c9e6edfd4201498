#include "discovery/eddp_valley.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

}  // namespace dx::eddp

#include "labeling/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace dx {
namespace {

// Sorts positions by value once and walks the tie groups: position order[i..j) share a value
// and get the doubled mean rank i + 1 + j. Returns sum (t^3 - t) over the groups.
template <typename Value>
double rankGroups(size_t n, Value value, std::vector<int64_t>& doubled) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return value(a) < value(b); });
  doubled.assign(n, 0);
  double tieTerm = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && value(order[j]) == value(order[i])) ++j;
    for (size_t k = i; k < j; ++k) doubled[order[k]] = static_cast<int64_t>(i + 1 + j);
    double t = static_cast<double>(j - i);
    tieTerm += t * t * t - t;
    i = j;
  }
  return tieTerm;
}

// Upper tail of the standard normal; erfc keeps full relative precision far into the tail
// (p-values such as 1e-89 are reported by INVERT).
double normalSf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

}  // namespace

std::vector<double> averageRanks(const std::vector<double>& values) {
  std::vector<int64_t> doubled;
  rankGroups(values.size(), [&](size_t i) { return values[i]; }, doubled);
  std::vector<double> ranks(doubled.size());
  for (size_t i = 0; i < ranks.size(); ++i) ranks[i] = 0.5 * static_cast<double>(doubled[i]);
  return ranks;
}

std::vector<int64_t> doubledRanks(const float* values, size_t n, size_t stride, double* tieTerm) {
  std::vector<int64_t> doubled;
  double t = rankGroups(n, [&](size_t i) { return values[i * stride]; }, doubled);
  if (tieTerm) *tieTerm = t;
  return doubled;
}

double mannWhitneyPValue(double u1, size_t n1, size_t n2, double tieTerm,
                         Alternative alternative) {
  double a = static_cast<double>(n1), b = static_cast<double>(n2), n = a + b;
  double u2 = a * b - u1;
  double u = alternative == Alternative::Greater ? u1
             : alternative == Alternative::Less  ? u2
                                                 : std::max(u1, u2);
  double factor = alternative == Alternative::TwoSided ? 2.0 : 1.0;
  // scipy's _get_mwu_z: always the survival function of U, so the continuity correction is
  // always -0.5. All-tied samples give s = 0 and z = -inf, hence p = 1, as in scipy.
  double s = std::sqrt(a * b / 12.0 * ((n + 1) - tieTerm / (n * (n - 1))));
  double z = (u - a * b / 2 - 0.5) / s;
  if (std::isnan(z)) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp(factor * normalSf(z), 0.0, 1.0);
}

MannWhitneyResult mannWhitneyU(const std::vector<double>& x, const std::vector<double>& y,
                               Alternative alternative) {
  std::vector<double> pooled(x);
  pooled.insert(pooled.end(), y.begin(), y.end());
  std::vector<int64_t> doubled;
  double tieTerm = rankGroups(pooled.size(), [&](size_t i) { return pooled[i]; }, doubled);
  double rankSum = 0.5 * static_cast<double>(std::accumulate(
                             doubled.begin(), doubled.begin() + long(x.size()), int64_t{0}));
  double n1 = static_cast<double>(x.size());
  MannWhitneyResult r;
  r.u1 = rankSum - n1 * (n1 + 1) / 2;
  r.pValue = mannWhitneyPValue(r.u1, x.size(), y.size(), tieTerm, alternative);
  return r;
}

double rocAuc(const std::vector<double>& scores, const std::vector<uint8_t>& positive) {
  auto ranks = averageRanks(scores);
  double rankSum = 0;
  size_t n1 = 0;
  for (size_t i = 0; i < ranks.size(); ++i)
    if (positive[i]) {
      rankSum += ranks[i];
      ++n1;
    }
  size_t n0 = ranks.size() - n1;
  if (n1 == 0 || n0 == 0) return std::numeric_limits<double>::quiet_NaN();
  return aucFromRankSum(rankSum, n1, n0);
}

}  // namespace dx

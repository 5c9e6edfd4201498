#include "analysis/multiple_testing.h"

#include <algorithm>
#include <cmath>

namespace dx {

double benjaminiHochbergCutoff(const std::vector<double>& pValues, double q) {
  std::vector<double> sorted;
  for (double p : pValues)
    if (!std::isnan(p)) sorted.push_back(p);
  std::sort(sorted.begin(), sorted.end());
  double m = double(sorted.size()), cutoff = -1;
  for (size_t k = 0; k < sorted.size(); ++k)  // step-up: the largest k with p_(k) <= k q / m
    if (sorted[k] <= double(k + 1) * q / m) cutoff = sorted[k];
  return cutoff;
}

std::vector<bool> benjaminiHochberg(const std::vector<double>& pValues, double q) {
  double cutoff = benjaminiHochbergCutoff(pValues, q);
  std::vector<bool> out(pValues.size(), false);
  for (size_t i = 0; i < pValues.size(); ++i)
    out[i] = !std::isnan(pValues[i]) && pValues[i] <= cutoff;
  return out;
}

}  // namespace dx

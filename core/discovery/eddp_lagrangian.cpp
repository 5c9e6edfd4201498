#include "discovery/eddp_lagrangian.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace dx::eddp {

bool better(const Merit& a, const Merit& b, double tolerance) {
  bool aWithin = a.violation <= 0, bWithin = b.violation <= 0;
  if (aWithin != bWithin) return aWithin;
  if (!std::isfinite(b.violation) || !std::isfinite(b.objective))
    return std::isfinite(a.violation) && std::isfinite(a.objective);
  if (!aWithin) return a.violation < b.violation - tolerance * b.violation;
  return a.objective < b.objective - tolerance * std::abs(b.objective);
}

AugmentedLagrangian::AugmentedLagrangian(std::vector<Bound> bounds, double growth)
    : mBounds(std::move(bounds)), mMultipliers(mBounds.size(), 0.0), mGrowth(growth) {}

at::Tensor AugmentedLagrangian::penalty(const std::vector<at::Tensor>& terms) const {
  at::Tensor total;
  for (size_t k = 0; k < mBounds.size(); ++k) {
    auto excess = terms[mBounds[k].term] - mBounds[k].most;
    auto shifted = torch::relu(mMultipliers[k] + mPenalty * excess);
    auto psi = (shifted.pow(2) - mMultipliers[k] * mMultipliers[k]) / (2 * mPenalty);
    total = total.defined() ? total + psi : psi;
  }
  return total;
}

Merit AugmentedLagrangian::merit(const std::vector<double>& terms, double objective) const {
  Merit m;
  m.violation = 0;
  m.objective = objective;
  for (const auto& bound : mBounds)
    m.violation += std::max(0.0, terms[bound.term] - bound.most) / bound.most;
  return m;
}

void AugmentedLagrangian::record(const std::vector<double>& terms, int steps) {
  mSums.resize(terms.size(), 0.0);
  for (size_t t = 0; t < terms.size(); ++t) mSums[t] += terms[t] * steps;
  mSteps += steps;
  if (mSteps < 100) return;
  for (auto& sum : mSums) sum /= mSteps;
  update(mSums);
  mSums.assign(mSums.size(), 0.0);
  mSteps = 0;
}

void AugmentedLagrangian::update(const std::vector<double>& meanTerms) {
  double excess = 0;
  for (size_t k = 0; k < mBounds.size(); ++k) {
    double over = meanTerms[mBounds[k].term] - mBounds[k].most;
    mMultipliers[k] = std::max(0.0, mMultipliers[k] + mPenalty * over);
    excess += std::max(0.0, over) / mBounds[k].most;
  }
  if (excess > 0.25 * mLastExcess) mPenalty = std::min(mPenalty * mGrowth, 1e4);
  mLastExcess = excess;
}

}  // namespace dx::eddp

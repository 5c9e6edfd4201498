#pragma once
// The augmented Lagrangian method for EDDP's constrained variant (docs/methods.md 1.5: an earlier
// full text of the paper solved the synthetic and toy experiments as constrained problems, which
// it says "greatly stabilises learning and avoids local optima"). Each stage minimises its
// objective terms subject to upper bounds on others, g_k < c_k. Powell-Hestenes-Rockafellar form
// for inequalities: every minibatch adds
//   psi_k = (1 / (2 mu)) (max(0, lambda_k + mu (g_k - c_k))^2 - lambda_k^2),
// and after every outer iteration of at least 100 Adam steps (choice: the text does not say how
// often; updating after every step let lambda outgrow every other term within a few hundred
// steps at lr 5e-5, synthetic I = 3), from the iteration's mean terms,
// lambda_k <- max(0, lambda_k + mu (g_k - c_k)), and mu <- min(growth mu, 1e4) where the summed
// relative excess did not fall below a quarter of the previous iteration's (the usual rule; the
// paper's multiplier growth 1.1; the cap is ours).
#include <ATen/core/Tensor.h>

#include <cmath>
#include <vector>

namespace dx::eddp {

struct Bound {
  size_t term = 0;   // index of the term among the stage's terms
  double most = 0;   // c_k
};

// How an epoch stands: how far it breaks the bounds (sum of (g_k - c_k)_+ / c_k) and its
// objective. Any epoch within the bounds beats every epoch outside them.
struct Merit {
  double violation = INFINITY, objective = INFINITY;
};
// Whether `a` beats `b` by more than the relative `tolerance`.
bool better(const Merit& a, const Merit& b, double tolerance);

class AugmentedLagrangian {
 public:
  AugmentedLagrangian(std::vector<Bound> bounds, double growth);
  bool active() const { return !mBounds.empty(); }
  // Sum of psi_k over the bounds, from the batch's term values (differentiable).
  at::Tensor penalty(const std::vector<at::Tensor>& terms) const;
  // The epoch's merit from its mean term values and objective (weighted terms without psi).
  Merit merit(const std::vector<double>& terms, double objective) const;
  // Records an epoch (its mean term values over `steps` steps); updates the multipliers and the
  // penalty once the steps since the last update reach 100.
  void record(const std::vector<double>& terms, int steps);

 private:
  void update(const std::vector<double>& meanTerms);
  std::vector<Bound> mBounds;
  std::vector<double> mMultipliers, mSums;
  int mSteps = 0;
  double mPenalty = 1.0, mGrowth = 1.1, mLastExcess = INFINITY;
};

}  // namespace dx::eddp

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "discovery/eddp.h"
#include "discovery/eddp_lagrangian.h"

using namespace dx;

TEST(EddpLagrangian, PenaltyIsTheInequalityFormAndGrowsOnlyOutsideTheBound) {
  eddp::AugmentedLagrangian lagrangian({{1, 0.5}}, 1.1);  // term 1 < 0.5
  auto inside = torch::tensor(0.2, torch::kDouble).requires_grad_(true);
  auto outside = torch::tensor(0.9, torch::kDouble).requires_grad_(true);
  auto none = torch::zeros({}, torch::kDouble);
  // lambda = 0, mu = 1: psi = max(0, g - c)^2 / 2.
  EXPECT_DOUBLE_EQ(lagrangian.penalty({none, inside}).item<double>(), 0.0);
  auto psi = lagrangian.penalty({none, outside});
  EXPECT_NEAR(psi.item<double>(), 0.4 * 0.4 / 2, 1e-12);
  psi.backward();
  EXPECT_NEAR(outside.grad().item<double>(), 0.4, 1e-12);
  // Merit: any epoch within the bounds beats every epoch outside them.
  auto within = lagrangian.merit({10.0, 0.2}, 10.0), beyond = lagrangian.merit({1.0, 0.9}, 1.0);
  EXPECT_DOUBLE_EQ(beyond.violation, 0.8);
  EXPECT_TRUE(eddp::better(within, beyond, 0));
  EXPECT_FALSE(eddp::better(beyond, within, 0));
  EXPECT_TRUE(eddp::better(beyond, eddp::Merit{}, 1e-4));
  // 99 steps change nothing; the 100th updates lambda to mu (g - c) = 0.4.
  lagrangian.record({0.0, 0.9}, 99);
  EXPECT_NEAR(lagrangian.penalty({none, outside}).item<double>(), 0.08, 1e-12);
  lagrangian.record({0.0, 0.9}, 1);
  // lambda 0.4, mu 1: psi = ((0.4 + 0.4)^2 - 0.4^2) / 2. The first update never grows mu.
  EXPECT_NEAR(lagrangian.penalty({none, outside}).item<double>(), (0.64 - 0.16) / 2, 1e-12);
  // The excess did not fall below a quarter of the last: lambda 0.4 + 1 x 0.4, then mu 1.1.
  lagrangian.record({0.0, 0.9}, 100);
  double lambda = 0.8, mu = 1.1, shifted = lambda + mu * 0.4;
  EXPECT_NEAR(lagrangian.penalty({none, outside}).item<double>(),
              (shifted * shifted - lambda * lambda) / (2 * mu), 1e-12);
  // Inside the bound lambda falls by mu (c - g) and stops at 0; mu stays.
  lagrangian.record({0.0, 0.0}, 100);  // lambda 0.8 - 1.1 x 0.5 = 0.25
  // At g = 0.2: max(0, 0.25 + 1.1 (0.2 - 0.5)) = 0, so psi = -lambda^2 / (2 mu).
  EXPECT_NEAR(lagrangian.penalty({none, inside}).item<double>(), -0.25 * 0.25 / 2.2, 1e-12);
  lagrangian.record({0.0, 0.0}, 100);  // lambda max(0, 0.25 - 0.55) = 0
  EXPECT_DOUBLE_EQ(lagrangian.penalty({none, inside}).item<double>(), 0.0);
}

TEST(EddpLagrangian, AdamWithTheMultipliersReachesTheConstrainedMinimum) {
  // minimise (x - 3)^2 subject to x^2 < 1: the minimum is x = 1, where the unconstrained one is 3.
  // mu stays 1 (growth 1), so only the multiplier can bring x there: the penalty alone,
  // (x - 3)^2 + (x^2 - 1)^2 / 2, is lowest at x = 3^(1/3) = 1.44.
  auto x = torch::zeros({1}, torch::kDouble).requires_grad_(true);
  torch::optim::Adam adam({x}, torch::optim::AdamOptions(1e-2));
  eddp::AugmentedLagrangian lagrangian({{1, 1.0}}, 1.0);
  for (int step = 0; step < 20000; ++step) {
    adam.zero_grad();
    auto objective = (x - 3).pow(2).sum(), bounded = x.pow(2).sum();
    auto loss = objective + lagrangian.penalty({objective, bounded});
    loss.backward();
    adam.step();
    lagrangian.record({objective.item<double>(), bounded.item<double>()}, 1);
  }
  EXPECT_NEAR(x.item<double>(), 1.0, 0.02);
}

TEST(EddpLagrangian, PaperConstrainedPresetIsTheTextsVariant) {
  auto p = eddpPreset("paper-constrained");
  ASSERT_EQ(p.stages.size(), 2u);  // (a) and (d); (b) skipped as for the synthetic data
  for (const auto& s : p.stages) {
    EXPECT_DOUBLE_EQ(s.lr, 5e-5);
    EXPECT_EQ(s.epochs, 20000);
    EXPECT_DOUBLE_EQ(s.tau, 1.0);
    EXPECT_DOUBLE_EQ(s.penaltyGrowth, 1.1);
    EXPECT_DOUBLE_EQ(s.maxActivation + s.maxMargin + s.inactive + s.excessive + s.filterSignal +
                         s.kurtosis, 0.0);  // bounded, not weighted
    EXPECT_GT(s.sparsity, 0.0);
    EXPECT_DOUBLE_EQ(s.ura, 0.25);
  }
  EXPECT_TRUE(p.stages[0].orthogonal && p.stages[0].standardised);
  ASSERT_EQ(p.stages[0].constraints.size(), 3u);
  EXPECT_EQ(p.stages[0].constraints[0].term, EddpTerm::MaxActivation);
  EXPECT_DOUBLE_EQ(p.stages[0].constraints[0].most, 0.8);
  EXPECT_EQ(p.stages[0].constraints[1].term, EddpTerm::MaxMargin);
  EXPECT_DOUBLE_EQ(p.stages[0].constraints[1].most, 8.0);
  EXPECT_EQ(p.stages[0].constraints[2].term, EddpTerm::Inactive);
  EXPECT_DOUBLE_EQ(p.stages[0].constraints[2].most, 0.1);
  EXPECT_EQ(p.restarts, 1);  // choices (docs/concept-discovery.md)
  EXPECT_EQ(p.stopPatience, 200);
  EXPECT_GT(p.plateauPatience, 20000);
  EXPECT_TRUE(p.stages[1].constrained);  // constrained URA inside span(S)
  EXPECT_DOUBLE_EQ(p.stages[1].sparsityBound, 2.6);
  EXPECT_DOUBLE_EQ(p.stages[1].rhoFactor, 1.5);
  ASSERT_EQ(p.stages[1].constraints.size(), 5u);
  EXPECT_EQ(p.stages[1].constraints[3].term, EddpTerm::Excessive);
  EXPECT_DOUBLE_EQ(p.stages[1].constraints[4].most, 0.1);
}

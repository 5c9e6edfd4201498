#pragma once
// Student's and Welch's t-tests for TCAV's significance check (docs/methods.md 3.1; Kim et al.
// 2018, section 3.2: "a two-sided t-test of the TCAV scores of the concept's CAVs against those of
// random CAVs"). The official TCAV code calls scipy.stats.ttest_ind with its default
// equal_var=True, i.e. Student's test with a pooled variance; Welch's test is offered for samples
// of unequal spread. No LibTorch here: the inputs are a few dozen scores.
//
// p-values come from the t distribution's CDF through the regularised incomplete beta function,
//   P(|T| > |t|) = I_x(df / 2, 1 / 2) with x = df / (df + t^2)       (Abramowitz & Stegun 26.7.1)
// and agree with scipy.stats.t.sf to ~1e-12 relative (checked against tests/data/cav/t_test.json).
#include <vector>

namespace dx {

// I_x(a, b) for a, b > 0 and 0 <= x <= 1, by the continued fraction of Numerical Recipes
// (2nd ed., 6.4) evaluated with the modified Lentz method. Throws std::invalid_argument outside.
double regularizedIncompleteBeta(double a, double b, double x);

// Two-sided p-value of a t statistic with `df` > 0 degrees of freedom (df may be fractional, as
// Welch's is). |t| = infinity gives 0; NaN gives NaN.
double studentTwoSidedP(double t, double df);

struct TTestResult {
  double t = 0;        // positive when the first sample's mean is larger
  double df = 0;
  double pValue = 1;   // two-sided
};

// Two independent samples, each with at least 2 values (throws std::invalid_argument otherwise).
// Student (welch = false): pooled variance, df = n1 + n2 - 2 (scipy's default).
// Welch (welch = true): df by the Welch-Satterthwaite equation (scipy's equal_var=False).
// When both samples have zero variance scipy returns NaN; we return p = 1 for equal means and
// p = 0 (t = +-inf) for different ones, which is what the data say.
TTestResult tTestIndependent(const std::vector<double>& a, const std::vector<double>& b,
                             bool welch = false);

// One sample (>= 2 values) against a fixed mean: df = n - 1 (scipy.stats.ttest_1samp).
TTestResult tTestOneSample(const std::vector<double>& sample, double mean);

// Whether one new value x belongs to the distribution of `sample` (>= 2 values), by the normal
// prediction interval: t = (x - mean) / (sd sqrt(1 + 1/n)), df = n - 1. Unlike a one-sample test
// of the sample's mean, t does not grow with n: a fixed direction (an EDDP encoding direction, a
// saved CAV) with one score is judged as one more draw from the random-vs-random scores.
TTestResult predictionIntervalTest(const std::vector<double>& sample, double x);

}  // namespace dx

#pragma once
// Rank statistics behind INVERT (docs/methods.md 2): the ROC AUC of a score against a binary label,
// computed from average ranks, and the Mann-Whitney U test of "scores of positives and negatives
// come from the same distribution".
//
// The AUC is P(s+ > s-) + 0.5 P(s+ = s-) = U / (n1 n0) with U = R1 - n1 (n1 + 1) / 2, where R1 is
// the sum of the positives' ranks among all n = n1 + n0 scores and tied scores share the mean of
// the ranks they span (Mann & Whitney 1947; Hanley & McNeil 1982). It equals
// sklearn.metrics.roc_auc_score (trapezoidal ROC) exactly, ties included.
//
// p-values use the normal approximation with tie and continuity corrections, i.e. exactly
// scipy.stats.mannwhitneyu(x, y, alternative=..., use_continuity=True, method="asymptotic"):
//   z = (U - n1 n0 / 2 - 0.5) / sqrt(n1 n0 / 12 * ((n + 1) - sum_t (t^3 - t) / (n (n - 1))))
//   p = sf(z) for one side, 2 sf(z) clipped to 1 for two sides,
// with U = U1 (statistic of x) for "greater", U2 = n1 n0 - U1 for "less" and max(U1, U2) for
// "two-sided"; t runs over the sizes of the groups of tied scores. The exact distribution
// (scipy's choice for tiny tie-free samples under method="auto") is not implemented: INVERT's
// samples are large.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dx {

// Ranks 1..n of `values`, ties sharing their mean rank (scipy.stats.rankdata, method="average").
// NaNs are not allowed (their order is undefined).
std::vector<double> averageRanks(const std::vector<double>& values);

// Twice the average ranks, as integers (a tie group over sorted positions i..j-1, 0-based, gets
// i + 1 + j), so rank sums are exact. `tieTerm`, if given, receives sum over tie groups of
// t^3 - t, the tie correction of the U test's variance. Works on any strided float column:
// value k is values[k * stride].
std::vector<int64_t> doubledRanks(const float* values, size_t n, size_t stride = 1,
                                  double* tieTerm = nullptr);

// AUC of the positives from the sum of their (ordinary, not doubled) ranks; n1, n0 > 0.
inline double aucFromRankSum(double rankSum, size_t n1, size_t n0) {
  double a = static_cast<double>(n1), b = static_cast<double>(n0);
  return (rankSum - a * (a + 1) / 2) / (a * b);
}

enum class Alternative {
  TwoSided,  // the two distributions differ
  Greater,   // x (the positives in INVERT) tends to be larger than y
  Less       // x tends to be smaller than y
};

// p-value of the U test for U1 = the U statistic of the first sample (n1 values) against the
// second (n2 values), with `tieTerm` = sum over tie groups of the pooled sample of t^3 - t.
double mannWhitneyPValue(double u1, size_t n1, size_t n2, double tieTerm,
                         Alternative alternative = Alternative::TwoSided);

struct MannWhitneyResult {
  double u1 = 0;      // U statistic of x: #{(i, j): x_i > y_j} + 0.5 #{x_i = y_j}
  double pValue = 1;  // asymptotic, tie and continuity corrected (see above)
};

// The whole test on two samples, as scipy.stats.mannwhitneyu(x, y, method="asymptotic").
MannWhitneyResult mannWhitneyU(const std::vector<double>& x, const std::vector<double>& y,
                               Alternative alternative = Alternative::TwoSided);

// ROC AUC of `scores` for the binary `positive` labels (nonzero = positive); NaN when one class
// is empty.
double rocAuc(const std::vector<double>& scores, const std::vector<uint8_t>& positive);

}  // namespace dx

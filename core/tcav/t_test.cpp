#include "tcav/t_test.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace dx {
namespace {

// Continued fraction for I_x(a, b), converging fast for x < (a + 1) / (a + b + 2)
// (Numerical Recipes 6.4, betacf, modified Lentz).
double betaContinuedFraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < eps) break;
  }
  return h;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

// Unbiased sample variance (ddof = 1), two-pass for accuracy.
double variance(const std::vector<double>& v, double m) {
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(v.size() - 1);
}

TTestResult fromStatistic(double difference, double standardError, double df) {
  TTestResult r;
  r.df = df;
  if (standardError > 0) {
    r.t = difference / standardError;
    r.pValue = studentTwoSidedP(r.t, df);
  } else if (difference != 0) {  // no spread but different means: certain
    r.t = difference > 0 ? std::numeric_limits<double>::infinity()
                         : -std::numeric_limits<double>::infinity();
    r.pValue = 0;
  }
  return r;
}

}  // namespace

double regularizedIncompleteBeta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1))
    throw std::invalid_argument("regularizedIncompleteBeta: needs a, b > 0 and 0 <= x <= 1");
  if (x == 0 || x == 1) return x;
  // Prefactor x^a (1-x)^b / (a B(a, b)) in logs, so large a, b do not overflow.
  double logFront = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                    b * std::log1p(-x);
  // Use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
  if (x < (a + 1) / (a + b + 2)) return std::exp(logFront) * betaContinuedFraction(a, b, x) / a;
  return 1 - std::exp(logFront) * betaContinuedFraction(b, a, 1 - x) / b;
}

double studentTwoSidedP(double t, double df) {
  if (std::isnan(t) || std::isnan(df)) return std::numeric_limits<double>::quiet_NaN();
  if (!(df > 0)) throw std::invalid_argument("studentTwoSidedP: needs df > 0");
  if (std::isinf(t)) return 0;
  double t2 = t * t;
  // For small |t|, x = df / (df + t^2) rounds to 1; the complement keeps the digits.
  if (t2 < df) return 1 - regularizedIncompleteBeta(0.5, df / 2, t2 / (df + t2));
  return regularizedIncompleteBeta(df / 2, 0.5, df / (df + t2));
}

TTestResult tTestIndependent(const std::vector<double>& a, const std::vector<double>& b,
                             bool welch) {
  if (a.size() < 2 || b.size() < 2)
    throw std::invalid_argument("tTestIndependent: each sample needs at least 2 values");
  double n1 = double(a.size()), n2 = double(b.size());
  double m1 = mean(a), m2 = mean(b), v1 = variance(a, m1), v2 = variance(b, m2);
  if (!welch) {
    double df = n1 + n2 - 2;
    double pooled = ((n1 - 1) * v1 + (n2 - 1) * v2) / df;
    return fromStatistic(m1 - m2, std::sqrt(pooled * (1 / n1 + 1 / n2)), df);
  }
  double s1 = v1 / n1, s2 = v2 / n2;
  double se2 = s1 + s2;
  // Welch-Satterthwaite; with one variance zero it reduces to the other sample's n - 1.
  double df = se2 > 0 ? se2 * se2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1)) : n1 + n2 - 2;
  return fromStatistic(m1 - m2, std::sqrt(se2), df);
}

TTestResult tTestOneSample(const std::vector<double>& sample, double m0) {
  if (sample.size() < 2)
    throw std::invalid_argument("tTestOneSample: the sample needs at least 2 values");
  double n = double(sample.size()), m = mean(sample);
  return fromStatistic(m - m0, std::sqrt(variance(sample, m) / n), n - 1);
}

TTestResult predictionIntervalTest(const std::vector<double>& sample, double x) {
  if (sample.size() < 2)
    throw std::invalid_argument("predictionIntervalTest: the sample needs at least 2 values");
  double n = double(sample.size()), m = mean(sample);
  return fromStatistic(x - m, std::sqrt(variance(sample, m) * (1 + 1 / n)), n - 1);
}

}  // namespace dx

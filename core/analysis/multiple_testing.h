#pragma once
// Multiple-comparison correction for the influence matrix (docs/methods.md 1.6): Benjamini and
// Hochberg (1995), the false discovery rate across every concept x class cell tested. Chosen
// over Bonferroni and Holm because an auditor screens many cells for the few that matter, and
// controlling the share of false marks among the marked is what that reading needs; under the
// global null it still bounds the chance of any mark by q.
#include <vector>

namespace dx {

// Which of `pValues` are discoveries at false discovery rate q (step-up procedure). NaN entries
// are not tests: never discoveries, and not counted in m.
std::vector<bool> benjaminiHochberg(const std::vector<double>& pValues, double q);

// The largest p that is a discovery, or -1 when there is none: the effective per-cell threshold.
double benjaminiHochbergCutoff(const std::vector<double>& pValues, double q);

}  // namespace dx

#pragma once
// INVERT: labels a scalar representation (a neuron, a channel reduced over space, a concept
// detector's per-image maximum) with the logical formula over image-level concept labels whose
// positive images it ranks highest (Bykov et al., "Labeling Neural Representations with Inverse
// Recognition", NeurIPS 2023; docs/methods.md 2).
//
// Search (the official implementation's semantics, github.com/lapalap/invert, explainer.py):
//   1. literals: every concept c_j and its negation NOT c_j (one literal, no extra length),
//      scored by AUC(phi) = P(A(x+) > A(x-)) + 0.5 P(tie), positives = images where phi holds;
//   2. beam = the best B literals whose positive fraction T lies in [minFraction, maxFraction];
//   3. pool = the literals ordered by |AUC - 0.5|, optionally cut to poolLimit (docs/methods.md;
//      the official code orders by AUC in the search direction: the same set when uncut);
//   4. for lengths 2..L: every beam formula is extended by every pool literal with AND and
//      with OR; extensions within the fraction bounds join the old beam and the best B of
//      old + new survive, so the result is the best formula of length <= L.
// Formulas with T = 0 or T = 1 are never kept (their AUC is undefined).
// choice (docs/methods.md 2): formulas with the same positive set on the data are one formula; the
// first one found is kept, so a shorter formula beats a longer equivalent one.
// Ties in AUC keep the order in which formulas were found (the official stable sort).
//
// Cost: ranks are computed once per representation (one sort, O(N log N)); a formula's AUC is
// then (R1 - n1 (n1 + 1) / 2) / (n1 n0) from the rank sum R1 of its positives; no per-formula
// sort. Extending phi needs, per concept c, one word-wise AND of bit columns and one pass over
// the images of phi AND c; the four extensions by c and NOT c follow from it by
// inclusion-exclusion. Bits of a new formula are formed only when it enters the beam.
// Significance: the Mann-Whitney U test of positives against negatives, normal approximation with
// tie and continuity corrections, as scipy.stats.mannwhitneyu(method="asymptotic") (see
// mann_whitney.h); two-sided unless options.alternative says otherwise.
#include <cstddef>
#include <vector>

#include "labeling/formula.h"
#include "labeling/label_matrix.h"
#include "labeling/mann_whitney.h"
#include "base/progress.h"

namespace dx {

enum class InvertMode {
  Positive,  // formulas whose images score highest (largest AUC)
  Negative   // formulas whose images score lowest (smallest AUC)
};

struct InvertOptions {
  size_t length = 3;         // L, the longest formula in literals (>= 1)
  size_t beam = 3;           // B, formulas kept per length and reported (>= 1)
  double minFraction = 0.0;  // bounds on T(phi) = |positives| / N (the paper's defaults)
  double maxFraction = 0.5;
  InvertMode mode = InvertMode::Positive;
  size_t poolLimit = 0;      // literals tried as extensions, 0 = all 2m
  Alternative alternative = Alternative::TwoSided;  // of the reported p-values
  unsigned threads = 0;      // labelRepresentations only; 0 = all hardware threads
  ProgressSink progress;     // (done, total) representations, called from worker threads
  CancelToken cancel;        // checked between representations and beam extensions
};

struct LabeledFormula {
  Formula formula;
  double auc = 0.5;
  size_t positives = 0;  // images where the formula holds
  double fraction = 0;   // positives / N
  double pValue = 1;     // Mann-Whitney U, see options.alternative
};

// Labels one representation: N = labels.images() scores at scores[k * stride], no NaN.
// Returns the final beam, best first (up to options.beam formulas, empty when no formula
// satisfies the fraction bounds). Throws UserError on bad options or NaN scores, Cancelled when
// options.cancel fires.
std::vector<LabeledFormula> labelRepresentation(const float* scores, size_t stride,
                                                const LabelMatrix& labels,
                                                const InvertOptions& options = {});

// Labels R representations at once, in parallel over representations (options.threads).
// scores: N x R float32, row-major (image i, representation r at scores[i * R + r]).
// Returns one beam per representation. Progress counts finished representations.
std::vector<std::vector<LabeledFormula>> labelRepresentations(const float* scores,
                                                              size_t representations,
                                                              const LabelMatrix& labels,
                                                              const InvertOptions& options = {});

}  // namespace dx

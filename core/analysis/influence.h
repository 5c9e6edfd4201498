#pragma once
// Influence of each concept on each class (docs/methods.md 1.6, RCAV-style), measured where it can
// show and tested against a null that lives where the data lives.
//
// The edit: at the patches where concept i is present, add t s_i with t = alpha sd_i / (w_i . s_i),
// sd_i the spread of the concept's score w_i . x - b_i over its positives in the sample. Every
// edit then moves its own concept's score by alpha of its own standard deviations, whatever the
// method's scale of w and s (PCA and EDDP have w . s = 1, k-means, NMF and the SAE do not), so
// effects are comparable across methods.
// The reading: per image, the change of every class logit (primary; probabilities saturate, so a
// strong effect on a confident image barely moves them) and of every class probability.
// The null: random edits at the same patches, drawn from a Gaussian with the covariance of the
// patches ("pattern": the signal vector of a random filter, the paper's noise signal vectors) or
// isotropic ("isotropic"), and as large as the concept's edit: in the data's own metric by
// default ("pattern-mahalanobis": E[v^T M^-1 v] = e^T M^-1 e, M the patches' covariance with
// Ledoit-Wolf shrinkage), so the null moves the data by as many of its standard deviations as
// the edit does, or in the Euclidean norm ("pattern", "isotropic": E|v|^2 = |e|^2). A Euclidean
// match lets a null edit spend its size along the layer's few high-variance directions, which
// the head reads most, so even a concept the head alone reads stood out by z of about 3 at most
// on the calibration's planted layer (docs/statistics.md; bench/influence_calibration measures
// both). Where the head is global
// average pooling followed by a linear map (checked), the shift of each class logit under the
// null is exactly Gaussian with a variance computed from the head's weights: an exact z-test,
// valid at any p. Otherwise R random edits are run through the head and
// p = (1 + #{|null| >= |observed|}) / (R + 1), which never goes below 1 / (R + 1).
// The correction: Benjamini-Hochberg over every tested concept x class cell (multiple_testing.h).
// A cell is marked only when it is a discovery and |mean logit change| >= minEffect.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx {

enum class InfluenceNull { Pattern, Isotropic, PatternMahalanobis };
// "pattern", "isotropic", "pattern-mahalanobis"; influenceNullNamed throws UserError otherwise.
const char* influenceNullName(InfluenceNull null);
InfluenceNull influenceNullNamed(const std::string& name);

struct InfluenceOptions {
  double alpha = 2;           // step, in standard deviations of the concept's score
  InfluenceNull null = InfluenceNull::PatternMahalanobis;
  int nullDraws = 1000;       // R, where the test is not exact
  double fdr = 0.05;          // Benjamini-Hochberg q over the tested cells
  double minEffect = 0.1;     // |mean change of the class logit| a mark needs (odds x 1.1)
  std::vector<bool> skip;     // concepts not tested (e.g. degenerate ones); empty: none
  uint64_t seed = 0;
  ProgressSink progress;
  CancelToken cancel;
};

struct InfluenceResult {
  at::Tensor logitChange;        // I x K, mean over the images used of the class logit change
  at::Tensor probabilityChange;  // I x K, the same for the class probability
  at::Tensor logitQuartiles;     // I x K x 5: min, 25%, median, 75%, max over the images used
  at::Tensor pValues;            // I x K double; NaN where not tested
  at::Tensor significant;        // I x K bool: BH discovery and |logitChange| >= minEffect
  at::Tensor imagesUsed;         // I, images where the concept is present somewhere
  bool exact = false;            // the exact z-test (linear pooled head) rather than R draws
  int nullDraws = 0;             // R when not exact
  double cutoff = -1;            // the largest p accepted by Benjamini-Hochberg (-1: none)
  std::string test;              // a sentence for the legend and concepts.json
};

// Ledoit & Wolf's (2004) shrinkage intensity rho of the covariance S = X^T X / n of centred rows
// X (n x p) towards mu I, mu = tr(S) / p (scikit-learn's ledoit_wolf_shrinkage); 1 where S is
// already mu I. The pattern-mahalanobis null's metric is (1 - rho) S + rho mu I.
double ledoitWolfShrinkage(const at::Tensor& centred);

// z: n x C x h x w activations of a sample of images (e.g. a few hundred).
InfluenceResult conceptInfluence(const HeadFunction& head, const ConceptBasis& basis,
                                 const at::Tensor& z, const InfluenceOptions& options = {});

}  // namespace dx

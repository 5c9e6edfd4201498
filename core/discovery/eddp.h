#pragma once
// Encoding-decoding direction pairs (Doumanoglou, Driessens, Zarpalas, arXiv 2509.23926;
// docs/methods.md 1.2-1.5). Decoder: the learned detector hyperplane (w_i, b_i) of "directional
// clustering", refined jointly with their signal vectors under constrained URA (presets and our
// own additions to the paper in eddpPreset); encoder: the concept's signal vector s_i
// (w_i . s_i = 1). Runs on the device of the activations; deterministic for a seed on the CPU.
#include <memory>
#include <string>
#include <vector>

#include "discovery/concept_method.h"
#include "discovery/method_registry.h"

namespace dx {

// The terms of a stage's loss, in the order its progress messages print them.
enum class EddpTerm {
  Sparsity, SparsityBound, MaxActivation, MaxMargin, Inactive, Excessive, FilterSignal, Kurtosis,
  Ura
};

// term < most, kept by the augmented Lagrangian method (eddp_lagrangian.h).
struct EddpConstraint {
  EddpTerm term;
  double most;
};

// One training stage of docs/methods.md 1.5; weights of the loss terms are the paper's.
struct EddpStage {
  std::string name;     // "a", "b", "d", "e"
  int epochs = 0;       // an upper bound: early stopping on the epoch loss
  double lr = 1e-3;     // Adam
  double tau = 0.9;     // inactive-classifier target nu = tau / I
  double rhoFactor = 0; // excessively-active bound rho = min(rhoFactor * tau / I, maxShare)
  double maxShare = 1;  // 1 in the paper (the bound vanishes for small I); see the balanced preset
  double sparsity = 0, sparsityBound = 0, maxActivation = 0, maxMargin = 0, inactive = 0,
         ura = 0, excessive = 0, filterSignal = 0, kurtosis = 0;
  bool orthogonal = false;    // W kept orthogonal (stage a)
  bool standardised = false;  // features (x - m) / sigma (stage a)
  bool whitened = false;      // with standardised: PCA-whitened features instead (choice)
  bool constrained = false;   // URA shift inside span(S) and L_fso, S from the filters (stage d)
  bool fixedSchedule = false; // every epoch at the stage's lr: no reduce-on-plateau, no early stop
  // The paper's constrained variant (docs/methods.md 1.5): the weights above are the objective,
  // these terms are bounded instead, and mu grows by penaltyGrowth where their excess falls too
  // slowly (eddp_lagrangian.h).
  std::vector<EddpConstraint> constraints;
  double penaltyGrowth = 1.1;
};

struct EddpPreset {
  std::vector<EddpStage> stages;
  int batchImages = 4096;
  int plateauPatience = 10;  // epochs without improvement before lr x 0.5
  int stopPatience = 30;     // epochs without improvement before the stage ends
  int restarts = 4;          // stage a runs from this many seeds of every start, the best is kept
  std::vector<std::string> starts{"spherical-kmeans"};  // eddp_starts.h
  bool scoreStartsByCoverage = false;  // best start by its clustering terms, not its loss
  bool partitionStarts = false;  // starts as partitions judged by their detectors (eddp_partition.h)
  // ICA directions thresholded at the valley of their readings, no gradient steps (eddp_valley.h)
  bool valleyThresholds = false;
  int reseedRounds = 0;      // rounds of re-seeding dead detectors after stage a
  int64_t maxSteps = 0;      // > 0: a stage ends after about this many Adam steps
  double gamma = 2.0;        // exponent of E_p[y^gamma]; the paper's value is not published
  // > 0 ("adaptive"): the fit runs the partition preset where k-means finds nearly the same
  // partition from every start (eddp::kMeansAgreement at least this); elsewhere the ica-valley
  // preset where its detectors are repeatable (eddp::valleyRepeatability's agreement at least
  // valleyAgreement) and leave at least valleyUnclaimed of the patches unclaimed; the balanced
  // preset elsewhere.
  double partitionAgreement = 0;
  double valleyAgreement = 0, valleyUnclaimed = 0;
  // Encoders by ICA within firing groups where that is stable, else positives-only
  // (group_ica_encoders.h; ours).
  bool groupIcaEncoders = false;
};

// "paper": the published losses, weights and schedule (docs/methods.md 1.5). "paper-constrained":
// the paper's constrained variant (stages a and d by the augmented Lagrangian method,
// eddp_lagrangian.h). "paper-kurtosis": the paper plus a last stage of ours with a kurtosis term.
// "quick": the paper's losses on a short schedule. "balanced": quick plus two choices of ours, an excessive-activity bound that holds at
// every concept count and a whitened first stage. "partition": logistic detectors of the best
// k-means or ICA partition, no gradient steps (ours; for layers where a patch shows one concept).
// "ica-valley": ICA directions thresholded where their readings' density has a valley, no
// gradient steps (ours; for layers where most patches show no concept, eddp_valley.h).
// "adaptive": partition where the patches hold a partition k-means nearly repeats from each start;
// else ica-valley where its detectors repeat on two halves of the data and leave patches
// unclaimed; balanced elsewhere, refitted as partition where balanced leaves a degenerate
// detector (degenerate.h) and partition none; then encoders by ICA within firing groups where
// stable (ours; docs/concept-discovery.md "The adaptive preset").
// Throws UserError for any other name.
EddpPreset eddpPreset(const std::string& name);
std::unique_ptr<ConceptMethod> makeEddpMethod();

}  // namespace dx

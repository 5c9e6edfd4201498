#pragma once
// Everything the app shows about a set of concepts over an activation cache, computed in one
// streaming pass (plus a sampled influence test): how often each concept fires, its strength
// per image, its top patches over the whole dataset and its influence on every class
// (docs/methods.md 1.6). The CLI writes it to concepts.json; the GUI keeps it in the project.
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "activations/activation_cache.h"
#include "discovery/concept_maps.h"
#include "discovery/concept_method.h"
#include "discovery/degenerate.h"
#include "analysis/influence.h"
#include "analysis/influence_test_info.h"
#include "analysis/stability_check.h"
#include "discovery/top_patches.h"

namespace dx {

struct ConceptSummary {
  double patchFraction = 0;   // patches where w_i . x - b_i > 0
  double imageFraction = 0;   // images where it is present somewhere
  double meanScoreWhenPresent = 0;
  // Per class; empty without a head (influence.h). influence: mean change of the class logit;
  // pValues: NaN where not tested; significant: a discovery with a large enough effect.
  std::vector<float> influence, probabilityChange, pValues;
  std::vector<std::array<float, 5>> influenceQuartiles;  // per-image logit change: min..max
  std::vector<bool> significant;
  std::vector<TopPatch> top;              // best patches, at most one per image
  // Seed stability (discovery/concept_stability.h): the lower median over refits with other
  // seeds of the matched firing IoU; NaN when not measured.
  double stability = NAN;
};

struct ConceptReport {
  std::vector<std::string> classes;
  InfluenceTestInfo influenceTest;
  int influenceImages = 0;     // size of the sample the influence test used
  at::Tensor imageStrength;    // N x I: per image, the maximum of w_i . x - b_i over positions
  std::vector<ConceptSummary> concepts;
};

struct ReportOptions {
  int topPatches = 64;
  int influenceImages = 256;  // evenly spaced over the cache; 0 skips influence
  InfluenceOptions influence;  // its seed, progress and cancel come from here
  uint64_t seed = 0;
  ProgressSink progress;
  CancelToken cancel;
};

// activations: N x C x h x w (a cache's activations.npy); classes name the head's outputs.
// `head` may be empty (no influence). Throws UserError when the basis does not fit.
ConceptReport summariseConcepts(const ConceptBasis& basis, const NpyMap& activations,
                                const std::vector<std::string>& classes, const HeadFunction& head,
                                const ReportOptions& options = {});

// JSON array of concepts (fractions, influence per class with p-values, top patches with their
// boxes in the input image under `geometry`), and back.
nlohmann::json conceptsToJson(const ConceptReport& report, const PatchGeometry& geometry);

// The seed-stability check of `basis` (fitted with `seed`) against its refits with seeds
// seed + 1, ..., seed + refits.size(), over stabilitySample(activations): the CLI's and the
// GUI's one measurement (discovery/concept_stability.h).
StabilityCheck checkStability(const ConceptBasis& basis, uint64_t seed,
                              const std::vector<ConceptBasis>& refits,
                              const at::Tensor& activations, double refitSeconds);
ConceptReport conceptsFromJson(const nlohmann::json& concepts, const std::vector<std::string>& classes);

}  // namespace dx

#pragma once
// A TCAV study as the GUI runs it (docs/methods.md 3): user-defined concepts given as folders of
// example images, random sets (folders, or random draws from the project's images), one class
// of the model; scores per run, the random baseline, the t-test and, for every concept, a
// per-position CAV whose SACV maps (docs/methods.md 3.2) can be drawn on any image of the project.
// Torch stays behind this header (the trained CAVs live in the opaque TcavStudy), so app/ and
// ui/ compile without LibTorch's headers. The method itself is runTcav (tcav/tcav.h); the
// folder handling is shared with `directrix-cli tcav` (tcav_inputs.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "activations/activation_cache.h"
#include "model/concept_model.h"
#include "data/image_source.h"
#include "base/progress.h"

namespace dx {

struct TcavRequest {
  std::shared_ptr<const ConceptModel> model;
  std::string layer;                   // name or node; empty = the deepest
  int classIndex = 0;                  // into model->meta().classes
  ImageSourcePtr classImages;          // the class's images are chosen from these
  std::string select;                  // "labelled", "predicted" or "" (see classRows)
  // Optional: classImages' activations by `model` (the project's cache). Used instead of
  // recomputing them when its layer is the study's; the caller vouches that it belongs to them.
  std::shared_ptr<const ActivationCache> cache;
  std::vector<std::string> conceptDirs;  // one concept per folder, named after it
  // Random sets: these folders (at least 2), or, when empty, 2 x `runs` random draws of
  // randomSetSize images of classImages (disjoint while there are enough images; see .cpp): the
  // first `runs` for the concept runs, all of them paired for `runs` independent null runs.
  std::vector<std::string> randomDirs;
  int randomSetSize = 50;
  int runs = 0;                        // 0 = one per random folder (folders only)
  std::string classifier = "logistic"; // "logistic", "sgd" or "mean" (cavClassifierNames)
  bool spatial = false;                // SACV scores instead of TCAV scores
  // CAVs and derivatives on each image's class token (an image-level vector) instead of its
  // patch grid; only at a transformer layer that keeps one, and without SACV (no positions).
  bool classToken = false;
  bool welch = false;                  // Welch's t-test instead of Student's
  bool relative = false;               // also every pair of concepts, A against B (relative CAVs)
  double significance = 0.05;          // family-wise (Bonferroni over the concepts)
  uint64_t seed = 0;                   // CAV fits (run r: seed + r) and random draws
  size_t limit = 0;                    // images read per folder; 0 = all
};

struct TcavConceptReport {
  std::string name, folder;
  std::vector<double> scores;           // TCAV (or SACV) score per run, in [0, 1]
  std::vector<double> meanDerivatives;  // mean directional derivative per run
  std::vector<double> accuracies;       // held-out accuracy of each run's CAV
  double mean = 0, std = 0;             // over runs (std with ddof 1)
  double t = 0, pValue = 1;             // against the random baseline; t > 0: above it
  bool significant = false;             // pValue <= threshold (NaN p: not tested)
  bool nearChance = false;              // near-chance CAVs: left out of significance
  int undefinedRuns = 0;                // SACV runs without a concept position
  double accuracyMean = 0;              // of the run CAVs; near 0.5: the CAV is noise
  double mapAccuracy = 0;               // held-out accuracy of the CAV behind the SACV maps
};

struct TcavReport {
  std::string method;         // "tcav" or "sacv"
  std::string layer, className, classifier;
  std::string classSelection; // "labelled" or "predicted"
  int classIndex = 0;
  int64_t classImages = 0;
  int runs = 0;
  std::vector<TcavConceptReport> concepts;
  std::vector<double> randomScores;  // random-vs-random CAVs, one per pair of random sets
  double randomMean = 0, randomStd = 0;
  double threshold = 0;              // significance / concepts
  bool constantGradient = false;     // every class image has the same gradient (tcav.h)
  std::vector<std::string> notes;    // for the user: caveats of this run
};

// The trained state of a study: per concept a CAV over channels (shape {C}) for SACV maps.
// Which CAV: with `spatial` the study's own SACV CAV of run 0 (concept vs random set 0);
// otherwise run 0's TCAV CAVs are flattened C*h*w directions that cannot be evaluated per
// position, so the study trains one extra SACV CAV per concept on the same sets and seed.
class TcavStudy {
 public:
  struct Impl;  // defined in tcav_study.cpp; only runTcavStudy makes one
  explicit TcavStudy(std::unique_ptr<Impl> impl);
  ~TcavStudy();
  const std::string& layer() const;
  int concepts() const;
  const std::string& conceptName(int concept) const;
  int classIndex() const;
  bool hasMaps() const;  // false for a study on the class token (no positions)

 private:
  friend std::vector<float> sacvRelevance(const TcavStudy&, int, const ActivationCache&, size_t,
                                          int*, int*);
  friend std::vector<float> sacvContribution(const TcavStudy&, int, const ActivationCache&,
                                             size_t, int*, int*);
  std::unique_ptr<Impl> d;
};

struct TcavOutcome {
  TcavReport report;
  std::shared_ptr<const TcavStudy> study;
};

// The CAV classifiers a request may name (cavClassifierNames of tcav/cav.h, which needs
// LibTorch's headers).
std::vector<std::string> tcavClassifierNames();

// Computes the activations of every set (progress per set), runs TCAV and trains the map CAVs.
// Throws UserError on unusable input (with the fix), Cancelled when cancelled.
TcavOutcome runTcavStudy(const TcavRequest& request, const ProgressSink& progress = {},
                         const CancelToken& cancel = {});

// SACV maps of image `image` (a row) of `cache` for one concept (docs/methods.md 3.2), h x w
// row-major: relevance R = v . a + b (> 0 where the concept's CAV sees the concept) and
// contribution S = v . d logit_k / d a (> 0 where the concept direction pushes class k; one pass
// through the head, so not free on large models). The cache must hold activations of the
// study's layer by the study's model: UserError otherwise, and for an unknown concept or row.
std::vector<float> sacvRelevance(const TcavStudy& study, int concept, const ActivationCache& cache,
                                 size_t image, int* height, int* width);
std::vector<float> sacvContribution(const TcavStudy& study, int concept,
                                    const ActivationCache& cache, size_t image, int* height,
                                    int* width);

}  // namespace dx

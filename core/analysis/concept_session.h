#pragma once
// What the GUI works with once concepts exist: one activation cache, one concept basis and its
// report, and the model's head for live counterfactuals. Torch stays behind this header (pimpl)
// so the app and ui layers compile without LibTorch's headers.
//
// Files of a concept set (what `directrix-cli discover` writes and the GUI saves):
//   decoders.npy, biases.npy, encoders.npy, concepts.json, image_strength.npy
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "analysis/audit_categories.h"
#include "analysis/influence_test_info.h"
#include "analysis/stability_check.h"

#include "activations/activation_cache.h"
#include "model/concept_model.h"
#include "data/image_source.h"
#include "base/progress.h"
#include "visualization/concept_rendering.h"

namespace dx {

// Raised whenever a concept method's results change (2: EDDP's joint stage derives S from the
// filters; 3: the paper preset's stage e; 4: every stage returns its best iterate, the relative
// sigma floor, the balanced preset), so that concept folders saved by an earlier version are
// discovered again.
// 5: influence in logits against a pattern null, Benjamini-Hochberg, a minimum effect.
// 6: the influence null sized in the data's own metric (pattern-mahalanobis).
// 7: EDDP's whitening keeps every component above the rank floor (balanced, partition,
//    ica-valley and adaptive fits change).
// 8: the adaptive preset takes partition where k-means' starts agree at least 0.8 (was 0.9).
// 9: the partition preset's logistic detectors take a weaker L2 penalty (0.01 / n, was 1e-4),
//    and its k-means starts keep the best of 5 runs (partition and adaptive fits change).
// 10: the adaptive preset's k-means agreement compares those best-of-5 starts (adaptive fits
//     change where single runs disagreed).
// 11: NMF sums its products exactly per fold block (its fits change slightly: 6 of the recovery
//     grid's 135 NMF cells moved by up to 0.03), and
//     EDDP's whitening sums a wide layer's covariance in one pass on a grid from bounds
//     (whitened fits change where C^2 x 8 bytes x fold blocks exceeds 256 MB).
inline constexpr int kConceptEngineVersion = 11;

struct TopPatchInfo {
  int64_t image = 0;
  int row = 0, col = 0;
  float score = 0;
};

struct ConceptInfo {
  double patchFraction = 0, imageFraction = 0, meanScoreWhenPresent = 0;
  // per class (empty when unknown); influence is the mean change of the class logit
  std::vector<float> influence, probabilityChange, pValues;  // pValues: NaN where not tested
  std::vector<std::array<float, 5>> influenceQuartiles;      // per-image logit change
  std::vector<bool> significant;
  std::vector<TopPatchInfo> top;
  std::string label;                      // INVERT formula or user's name; empty when none
  // INVERT's evidence for the label (docs/methods.md 2); auc < 0 when the label is the user's.
  double labelAuc = -1, labelPValue = 1, labelFraction = 0;
  std::vector<uint8_t> labelPositives;    // per image: the formula holds (empty when none)
  double stability = NAN;                 // seed stability (concept_report.h); NaN: not measured
};

// strength -1 switches a concept off, 0 leaves it, > 0 amplifies it (docs/methods.md 1.6).
struct ConceptToggle {
  int concept = 0;
  double strength = -1;
};

struct DatasetEffect {
  std::vector<int64_t> images, correctBefore, correctAfter;  // per true class (model's classes)
  std::vector<int64_t> confusionBefore, confusionAfter;      // K x K row-major, rows = truth
  double accuracyBefore = 0, accuracyAfter = 0;
};

struct DiscoverySettings {
  std::string method = "eddp";
  std::string preset = "adaptive";
  int concepts = 16;
  uint64_t seed = 0;
};

class ConceptSession {
 public:
  // Fits `settings` on the cache's activations with `model`'s head at the cache's layer, then
  // summarises (top patches, influence); saves everything into `outDir`. Progress and cancel.
  static std::shared_ptr<ConceptSession> discover(std::shared_ptr<const ConceptModel> model,
                                                  std::shared_ptr<const ActivationCache> cache,
                                                  const DiscoverySettings& settings,
                                                  const std::string& outDir,
                                                  const ProgressSink& progress = {},
                                                  const CancelToken& cancel = {});
  // Reopens what discover() saved. Throws UserError when the files are missing or do not fit.
  static std::shared_ptr<ConceptSession> open(std::shared_ptr<const ConceptModel> model,
                                              std::shared_ptr<const ActivationCache> cache,
                                              const std::string& dir);
  ~ConceptSession();

  const ActivationCache& cache() const;
  const std::string& dir() const;
  const DiscoverySettings& settings() const;
  // The preset the fit ran where the settings' preset let it choose (EDDP's adaptive preset:
  // "partition", "ica-valley" or "balanced", from the fit or from concepts.json's adaptive_choice);
  // else "".
  std::string fittedPreset() const;
  // The concepts whose encoders came from ICA within firing groups (the adaptive preset, eddp/
  // group_ica_encoders.h), from the fit or from concepts.json's adaptive_choice; else empty.
  std::vector<int> icaEncoderConcepts() const;
  const std::vector<std::string>& classes() const;  // the model's
  int concepts() const;
  const ConceptInfo& concept(int i) const;
  // How the influence was tested (empty description when it was not).
  const InfluenceTestInfo& influenceTest() const;
  void setLabel(int concept, const std::string& label);  // kept in concepts.json on save()
  // An INVERT label with its AUC, p-value, positive fraction and positives (one per image).
  void setInvertLabel(int concept, const std::string& formula, double auc, double pValue,
                      double fraction, std::vector<uint8_t> positives);
  // Seed stability (discovery/concept_stability.h): fits settings() again with seeds seed + 1,
  // ..., seed + refits and returns each concept's lower median matched firing IoU with those
  // fits, with how it was measured. Reads the session only (a worker thread may run it);
  // setStability stores the result, kept in concepts.json (per concept and the
  // "stability_check" block) on save().
  StabilityCheck measureStability(int refits, const ProgressSink& progress = {},
                                  const CancelToken& cancel = {}) const;
  void setStability(const StabilityCheck& check);
  // The image source attached by setImages (ConceptWorld gives concept tags for labeling).
  ImageSourcePtr imageSource() const;
  // Writes the concept set into dir(); on failure the previous files stay and UserError says why.
  void save() const;

  // Feature visualisation of a concept along its decoder or encoder with the default settings
  // (visualization/feature_visualization.h), colour statistics from the attached images. A
  // rendering is kept in dir()/renderings/ as soon as it is made: savedRendering gives it back
  // (an empty image when there is none), render computes and keeps it.
  ConceptRendering savedRendering(int concept, RenderTarget target) const;
  ConceptRendering render(int concept, RenderTarget target, const ProgressSink& progress = {},
                          const CancelToken& cancel = {}) const;
  // The strongest real patch of a concept (its first top patch's w . x - b; NaN when none).
  double strongestPatchScore(int concept) const;

  // Per image.
  size_t images() const;
  int64_t trueClass(size_t image) const;   // index into classes(), -1 when unknown
  int64_t predictedClass(size_t image) const;
  std::vector<float> probabilities(size_t image) const;  // softmax of the cached logits
  std::vector<float> strengths(size_t image) const;      // I: max of w_i . x - b_i
  // The h x w detector map w_i . x_p - b_i of one concept (row-major), > 0 where present.
  std::vector<float> conceptMap(size_t image, int concept) const;
  int mapHeight() const;
  int mapWidth() const;
  int inputHeight() const;
  int inputWidth() const;
  // The box of the network input a map position looks at (Network Dissection-style upsampling).
  cv::Rect patchBox(int row, int col) const;
  // The images the cache was made from (matched by item name); without them image() is empty.
  void setImages(ImageSourcePtr images);
  std::string imageName(size_t image) const;  // files.txt entry
  // The image as the network sees it (resized and cropped to the input size), BGR or gray 8-bit;
  // an empty Mat when the images are not available or the file became unreadable.
  cv::Mat image(size_t image) const;

  // Class probabilities of one image after the edits (fast: one head pass, see
  // bench/counterfactual_bench).
  std::vector<float> counterfactual(size_t image, const std::vector<ConceptToggle>& edits) const;
  // The same edit, also giving every concept's strength afterwards (max of w_i . x' - b_i): an
  // edit moves along s_i, so concepts whose detectors are not orthogonal to s_i move too, and a
  // view can show by how much.
  struct EditedImage {
    std::vector<float> probabilities, strengths;
  };
  EditedImage edit(size_t image, const std::vector<ConceptToggle>& edits) const;
  // Accuracy and confusion over the whole cache before/after the edits.
  DatasetEffect applyToDataset(const std::vector<ConceptToggle>& edits,
                               const ProgressSink& progress = {},
                               const CancelToken& cancel = {}) const;
  // Concepts that pushed `image` toward class `k`: strength-weighted influence, largest first.
  std::vector<int> conceptsPushingTowards(size_t image, int64_t k, int count = 5) const;
  // Target, context and bias concepts of every class (analysis/audit_categories.h), from the
  // concepts' presence, their labels and a switch-off test on the cached activations.
  // `labels` (one per concept) replace the concepts' own: a view passes a copy taken on its
  // thread, since renaming writes the labels while this runs on a worker.
  AuditResult auditCategories(const AuditOptions& options = {},
                              std::vector<std::string> labels = {}) const;
  // The concept's label, or "concept i" when it has none.
  std::string conceptName(int concept) const;

 private:
  struct Impl;
  explicit ConceptSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> d;
};

}  // namespace dx

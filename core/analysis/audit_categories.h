#pragma once
// Dataset-bias categories for the audit (docs/methods.md 1.9): for every class, which concepts are
// its target, its context or its bias.
//
// The rule, per class k (images grouped by their true class; by the predicted class when no image
// has a known true class) and concept i:
//   co-occurs  i is present (its detector fires somewhere in the image) in a share p_in of the
//              images of k and p_out of the others, with p_in >= minShareInClass,
//              p_in >= minLift * p_out, and a one-sided Fisher exact test (present more often in k)
//              that is a Benjamini-Hochberg discovery at q = fdr over every concept x class cell;
//   drives     on the images of k where i is present (at most maxImagesPerCell, evenly spaced), the
//              app's switch-off of i (docs/methods.md 1.6) lowers the logit of k, read against
//              the mean logit of the other classes, by at least minEffect on average, and a one-sided one-sample t-test of those drops is a
//              Benjamini-Hochberg discovery at q = fdr over the co-occurring cells;
//   part of k  a word of the concept's label that is not negated belongs to k, and the label
//              cannot hold unless a word that belongs to k, or another class's exact name, holds.
//              A word belongs to k when it is k's name, shares a word with it (words of one or
//              two letters and a few stop words aside: "red" belongs to red_circle, "bg_dark" to
//              striped_on_dark), or is listed for k in `classParts`; another class's exact name
//              belongs to that class only. "watermark OR red_circle" (found where the two
//              co-occur) is not part of red_circle: it holds on the watermark alone.
//              "dotted_triangle AND bg_light" is part of dotted_triangle, and "Sandal OR Sneaker
//              OR Ankle boot" of Sandal (a shared concept).
// Categories of a co-occurring cell:
//   target     drives, and the label is part of k;
//   bias       drives, and the concept has a label that is not part of k (a shortcut);
//   unnamed    drives, but the concept has no label: target or bias cannot be told until it has one;
//   context    does not drive k.
// Cells that do not co-occur get no category. No LibTorch here: the GUI includes it.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/progress.h"

namespace dx {

enum class AuditCategory { Target, Context, Bias, Unnamed };
const char* auditCategoryName(AuditCategory c);  // "target", "context", "bias", "unnamed"

struct AuditOptions {
  double fdr = 0.05;
  double minShareInClass = 0.2;
  double minLift = 2;
  double minEffect = 0.1;       // mean drop of the class logit when switched off
  int maxImagesPerCell = 200;
  // Per class (by index), further label words that are part of it (e.g. "wheel" for "car").
  std::vector<std::vector<std::string>> classParts;
  ProgressSink progress;
  CancelToken cancel;
};

struct AuditCell {
  int concept = 0, cls = 0;
  AuditCategory category = AuditCategory::Context;
  double shareInClass = 0, shareElsewhere = 0, presenceP = 1;
  double meanDrop = 0, dropP = 1;  // switch-off: mean fall of the class's margin and its p
  int imagesTested = 0;
  bool drives = false, labelPartOfClass = false;
};

struct AuditResult {
  std::vector<AuditCell> cells;  // co-occurring cells, by class then by category then by drop
  std::string classSource;       // "true" or "predicted"
  int imagesWithClass = 0;
  AuditOptions options;          // without progress and cancel
};

// Per-image change of class `cls`'s logit against the mean of the other classes' when `concept` is
// switched off, for each of `images` (after minus before: a concept that drives the class gives
// negative values).
using SwitchOffEffect =
    std::function<std::vector<double>(int concept, int cls, const std::vector<int64_t>& images)>;

struct AuditInputs {
  std::vector<uint8_t> present;       // N x I row-major: concept present in the image
  int concepts = 0;
  std::vector<int64_t> trueClass;     // N, -1 unknown
  std::vector<int64_t> predictedClass;  // N
  std::vector<std::string> classes;
  std::vector<std::string> labels;    // I, empty when the concept has none
  SwitchOffEffect switchOff;
};

// Throws UserError when the inputs disagree in size, Cancelled when cancelled.
AuditResult categorizeConcepts(const AuditInputs& inputs, const AuditOptions& options = {});
// Recomputes the categories for new labels (one per concept; a rename), keeping the measurements.
void applyLabels(AuditResult& result, const std::vector<std::string>& labels,
                 const std::vector<std::string>& classes);

// The words of a label that are not negated: "(red AND circle) OR NOT watermark" -> red, circle.
std::vector<std::string> labelWords(const std::string& label);
bool wordIsPartOfClass(const std::string& word, const std::string& className,
                       const std::vector<std::string>& classParts = {});
bool labelIsPartOfClass(const std::string& label, size_t cls, const std::vector<std::string>& classes,
                        const std::vector<std::vector<std::string>>& classParts = {});

// One-sided Fisher exact test: P(X >= inClass) for X hypergeometric (population `images`,
// `present` of them marked, `classSize` drawn).
double fisherGreaterP(int64_t images, int64_t present, int64_t classSize, int64_t inClass);

// The rule above in one paragraph, with the options' numbers.
std::string auditRule(const AuditOptions& options);

nlohmann::json auditJson(const AuditResult& result, const std::vector<std::string>& classes,
                         const std::vector<std::string>& conceptNames);
// A CSV: class,concept,name,category,share_in_class,share_elsewhere,presence_p,mean_logit_drop,
// drop_p,images_tested
std::string auditCsv(const AuditResult& result, const std::vector<std::string>& classes,
                     const std::vector<std::string>& conceptNames);

// "class,word,word..." lines (as image tag files: '#' comments, blank lines skipped) -> per class
// of `classes`; throws UserError naming the file and line for an unknown class.
std::vector<std::vector<std::string>> readClassParts(const std::string& path,
                                                     const std::vector<std::string>& classes);

}  // namespace dx

#pragma once
// Dataset-level effect of concept edits (docs/methods.md 1.6, "correction without retraining"):
// accuracy and confusion before and after, per class, over a whole activation cache.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "activations/activation_cache.h"
#include "analysis/interventions.h"

namespace dx {

struct EditReport {
  std::vector<std::string> classes;               // the model's classes
  std::vector<int64_t> images, correctBefore, correctAfter;  // per true class
  at::Tensor confusionBefore, confusionAfter;     // K x K, rows = true class
  int64_t total() const;
  double accuracyBefore() const;
  double accuracyAfter() const;
};

// Labels are matched to the model's classes by name; unlabelled images are ignored. Streams the
// cache in chunks; progress and cancel between chunks.
EditReport evaluateEdits(const HeadFunction& head, const ConceptBasis& basis,
                         const ActivationCache& cache, const std::vector<ConceptEdit>& edits,
                         const ProgressSink& progress = {}, const CancelToken& cancel = {});

}  // namespace dx

#pragma once
// One layer's activations and the logits for every usable image of a source, in memory: what
// TCAV needs for its concept, random and class sets (docs/methods.md 3.1), which are small (tens to
// a few hundred images each). Large datasets go through extractActivations and a cache instead.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/concept_model.h"
#include "data/image_source.h"
#include "base/progress.h"

namespace dx {

struct ImageActivations {
  at::Tensor activations;          // N x C x h x w float32, CPU
  at::Tensor logits;               // N x K float32, CPU
  at::Tensor classTokens;          // N x p x C float32, CPU, at a layer with class tokens
  std::vector<int> labels;         // source class index per row, -1 when unlabelled
  std::vector<std::string> names;  // source item name per row
  std::vector<SkippedFile> skipped;
  size_t size() const { return names.size(); }
};

// Rows follow the source order (skipped images left out); limit 0 = every image. Progress is
// reported per batch under `stage`; throws Cancelled when `cancel` fires and UserError when no
// image can be used.
ImageActivations imageActivations(const ConceptModel& model, const ImageSourcePtr& source,
                                  const std::string& layer, size_t limit = 0, int batchSize = 64,
                                  const std::string& stage = "activations",
                                  const ProgressSink& progress = {},
                                  const CancelToken& cancel = {});

// The rows whose index is in `rows` (in that order).
ImageActivations selectRows(const ImageActivations& all, const std::vector<int64_t>& rows);

}  // namespace dx

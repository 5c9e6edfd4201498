#pragma once
// Class predictions for every image of a source (the original network's forward pass).
#include <string>
#include <vector>

#include "model/concept_model.h"
#include "data/image_source.h"
#include "base/progress.h"

namespace dx {

struct Prediction {
  size_t index = 0;                 // index in the source
  int label = -1;                   // source class index or -1
  int predicted = 0;                // model class index
  std::vector<float> probabilities; // softmax over the model's classes
};

struct PredictionRun {
  std::vector<Prediction> predictions;
  std::vector<SkippedFile> skipped;
};

PredictionRun predictImages(const ConceptModel& model, ImageSourcePtr source, size_t limit = 0,
                            int batchSize = 64, const ProgressSink& progress = {},
                            const CancelToken& cancel = {});

}  // namespace dx

#include "model/predictor.h"

#include <torch/script.h>

#include "data/batch_loader.h"
#include "base/stopwatch.h"

namespace dx {

PredictionRun predictImages(const ConceptModel& model, ImageSourcePtr source, size_t limit,
                            int batchSize, const ProgressSink& progress,
                            const CancelToken& cancel) {
  const auto& spec = model.meta().input;
  size_t n = limit > 0 ? std::min(limit, source->size()) : source->size();
  PredictionRun run;
  run.skipped = source->skipped();
  BatchLoader loader(source, spec, n, static_cast<size_t>(batchSize));
  Stopwatch clock;
  size_t done = 0;
  while (auto batch = loader.next()) {
    if (cancel.cancelled()) throw Cancelled();
    run.skipped.insert(run.skipped.end(), batch->skipped.begin(), batch->skipped.end());
    done += batch->attempted;
    if (batch->indices.empty()) continue;
    auto b = static_cast<int64_t>(batch->indices.size());
    auto x = torch::from_blob(batch->pixels.data(), {b, spec.channels(), spec.height, spec.width});
    auto probs = torch::softmax(model.forward(x), 1).to(torch::kCPU).contiguous();
    auto k = probs.size(1);
    const float* p = probs.data_ptr<float>();
    for (int64_t i = 0; i < b; ++i) {
      Prediction pr;
      pr.index = batch->indices[size_t(i)];
      pr.label = source->label(pr.index);
      pr.probabilities.assign(p + i * k, p + (i + 1) * k);
      pr.predicted = static_cast<int>(
          std::max_element(pr.probabilities.begin(), pr.probabilities.end()) -
          pr.probabilities.begin());
      run.predictions.push_back(std::move(pr));
    }
    if (progress) progress(clock.progress("predict", static_cast<long long>(done), static_cast<long long>(n)));
  }
  return run;
}

}  // namespace dx

#include "activations/image_activations.h"

#include <torch/torch.h>

#include "data/batch_loader.h"
#include "base/stopwatch.h"

namespace dx {

ImageActivations imageActivations(const ConceptModel& model, const ImageSourcePtr& source,
                                  const std::string& layerName, size_t limit, int batchSize,
                                  const std::string& stage, const ProgressSink& progress,
                                  const CancelToken& cancel) {
  if (!source) throw UserError("activations: no image source given.");
  const LayerSpec& layer = model.layer(layerName);
  const auto& spec = model.meta().input;
  size_t n = limit > 0 ? std::min(limit, source->size()) : source->size();
  ImageActivations out;
  out.skipped = source->skipped();
  std::vector<at::Tensor> acts, logits, tokens;
  BatchLoader loader(source, spec, n, size_t(std::max(1, batchSize)));
  torch::NoGradGuard noGrad;
  Stopwatch clock;
  size_t done = 0;
  while (auto batch = loader.next()) {
    if (cancel.cancelled()) throw Cancelled();
    if (!batch->indices.empty()) {
      auto b = int64_t(batch->indices.size());
      auto x = torch::from_blob(batch->pixels.data(),
                                {b, spec.channels(), spec.height, spec.width});
      auto [z, classTokens] = model.featuresWithClassTokens(layer.name, x);
      logits.push_back(model.head(layer.name, z, classTokens).to(torch::kCPU));
      if (classTokens.defined()) tokens.push_back(classTokens.to(torch::kCPU));
      acts.push_back(z.to(torch::kCPU));
      for (size_t i : batch->indices) {
        out.labels.push_back(source->label(i));
        out.names.push_back(source->itemName(i));
      }
    }
    out.skipped.insert(out.skipped.end(), batch->skipped.begin(), batch->skipped.end());
    done += batch->attempted;
    if (progress) progress(clock.progress(stage, (long long)done, (long long)n));
  }
  if (cancel.cancelled()) throw Cancelled();
  if (acts.empty())
    throw UserError(source->description() + ": none of its " + std::to_string(n) +
                    " images could be used; check the files (see the skipped list).");
  out.activations = torch::cat(acts).contiguous();
  out.logits = torch::cat(logits).contiguous();
  if (!tokens.empty()) out.classTokens = torch::cat(tokens).contiguous();
  return out;
}

ImageActivations selectRows(const ImageActivations& all, const std::vector<int64_t>& rows) {
  ImageActivations out;
  auto index = torch::tensor(rows, torch::kLong);
  out.activations = all.activations.index_select(0, index);
  out.logits = all.logits.index_select(0, index);
  if (all.classTokens.defined()) out.classTokens = all.classTokens.index_select(0, index);
  for (int64_t r : rows) {
    out.labels.push_back(all.labels.at(size_t(r)));
    out.names.push_back(all.names.at(size_t(r)));
  }
  return out;
}

}  // namespace dx

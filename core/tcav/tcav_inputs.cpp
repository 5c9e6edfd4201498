#include "tcav/tcav_inputs.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "data/source_factory.h"

namespace dx {
namespace fs = std::filesystem;

std::string folderName(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "a/b/" normalises to "a/b/" with no filename
  return p.filename().string().empty() ? dir : p.filename().string();
}

std::vector<NamedActivations> folderActivations(const ConceptModel& model,
                                                const std::vector<std::string>& dirs,
                                                const std::string& layer, size_t limit,
                                                const ProgressSink& progress,
                                                const CancelToken& cancel) {
  std::vector<NamedActivations> sets;
  std::map<std::string, int> seen;
  for (const auto& dir : dirs) {
    std::string name = folderName(dir);
    if (int n = ++seen[name]; n > 1) name += "_" + std::to_string(n);
    sets.push_back({name, imageActivations(model, openImageSource(dir), layer, limit, 64,
                                           "activations " + name, progress, cancel)});
  }
  return sets;
}

std::vector<ConceptSet> conceptSets(const std::vector<NamedActivations>& folders) {
  std::vector<ConceptSet> sets;
  for (const auto& named : folders) sets.push_back({named.name, named.acts.activations});
  return sets;
}

at::Tensor classTokenVectors(const at::Tensor& classTokens) {
  return classTokens.reshape({classTokens.size(0), -1, 1, 1});
}

std::vector<ConceptSet> classTokenSets(const std::vector<NamedActivations>& folders) {
  std::vector<ConceptSet> sets;
  for (const auto& named : folders) {
    if (!named.acts.classTokens.defined())
      throw UserError("the images of " + named.name + " have no class token at this layer; "
                      "choose a transformer block that keeps one.");
    sets.push_back({named.name, classTokenVectors(named.acts.classTokens)});
  }
  return sets;
}

std::vector<ConceptSet> tcavSets(const std::vector<NamedActivations>& folders, bool onClassToken) {
  return onClassToken ? classTokenSets(folders) : conceptSets(folders);
}

void checkClassTokenRun(const ConceptModel& model, const std::string& layer, bool spatial) {
  if (spatial)
    throw UserError("TCAV on the class token and SACV: the class token has no positions for "
                    "SACV; drop one of them.");
  const LayerSpec& spec = model.layer(layer);
  if (spec.classTokens == 0)
    throw UserError("TCAV on the class token: layer " + spec.name + " has no class token; choose "
                    "a transformer block that keeps one (directrix-cli info lists the layers).");
}

std::vector<ConceptSet> folderSets(const ConceptModel& model, const std::vector<std::string>& dirs,
                                   const std::string& layer, size_t limit,
                                   const ProgressSink& progress, const CancelToken& cancel) {
  return conceptSets(folderActivations(model, dirs, layer, limit, progress, cancel));
}

std::vector<int64_t> classRows(const std::vector<int>& labels,
                               const std::vector<std::string>& labelNames,
                               const std::vector<int64_t>& predictions,
                               const std::string& className, int64_t k, const std::string& select,
                               std::string* how, const std::string& what) {
  auto labelled = std::find(labelNames.begin(), labelNames.end(), className);
  std::string rule = select.empty() ? (labelled != labelNames.end() ? "labelled" : "predicted")
                                    : select;
  if (rule != "labelled" && rule != "predicted")
    throw UserError("class images are selected as labelled or predicted, not \"" + rule + "\".");
  if (rule == "labelled" && labelled == labelNames.end())
    throw UserError(what + " has no sub-folder named \"" + className + "\"; put the class's "
                    "images there or use the images the model predicts as the class instead.");
  const int label = int(labelled - labelNames.begin());
  std::vector<int64_t> rows;
  for (size_t i = 0; i < predictions.size(); ++i)
    if (rule == "labelled" ? i < labels.size() && labels[i] == label : predictions[i] == k)
      rows.push_back(int64_t(i));
  if (rows.size() < 2)
    throw UserError(what + ": only " + std::to_string(rows.size()) + " image(s) " + rule +
                    " as " + className + "; TCAV needs the class's images (a few dozen or more).");
  if (how) *how = rule;
  return rows;
}

std::vector<int64_t> predictedClasses(const ImageActivations& all) {
  auto p = all.logits.argmax(1).to(torch::kLong).contiguous();
  return std::vector<int64_t>(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
}

}  // namespace dx

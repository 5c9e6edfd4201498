#include "analysis/concept_session.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "discovery/concept_maps.h"
#include "discovery/concept_stability.h"
#include "analysis/concept_report.h"
#include "analysis/concept_set_files.h"
#include "analysis/correction.h"
#include "analysis/interventions.h"
#include "model/preprocess.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"

namespace dx {
namespace fs = std::filesystem;

struct ConceptSession::Impl {
  std::shared_ptr<const ConceptModel> model;
  std::shared_ptr<const ActivationCache> cache;
  std::string dir, layer;
  DiscoverySettings settings;
  ConceptBasis basis;
  std::vector<ConceptInfo> concepts;
  InfluenceTestInfo influenceTest;
  // The top-level keys read from concepts.json (all but "concepts") and the latest
  // "stability_check": save() writes back those that conceptSetDocument does not write itself,
  // such as how the set was made (the CLI's "seconds", "ranks", "activations", ...).
  nlohmann::json keptKeys = nlohmann::json::object();
  at::Tensor strengths;  // N x I
  std::vector<int64_t> labelToClass;
  ImageSourcePtr images;
  std::unordered_map<std::string, size_t> sourceIndex;  // item name -> index in `images`

  HeadFunction allImages;  // the head for every image of the cache (with their class tokens)

  // The head for every image of the cache (rows(image, 1) for one).
  const HeadFunction& head() const { return allImages; }
  void makeHead() {
    at::Tensor classTokens;  // N x p x C at a transformer layer with class tokens
    if (const NpyMap* tokens = cache->classTokens()) classTokens = readNpyTensor(tokens->path());
    allImages = model->headFunction(layer, classTokens);
  }
  ConceptDirections directions(int concept) const;  // throws UserError for a bad index
  RenderOptions renderOptions() const;
  mutable std::mutex colourMutex;
  mutable at::Tensor colour;  // pixel colour covariance of the images (RGB models)
  mutable bool colourKnown = false;
  at::Tensor activations(size_t image) const {
    return npyRows(cache->activations(), image, 1).to(basis.decoders.device());
  }
  std::vector<ConceptEdit> edits(const std::vector<ConceptToggle>& toggles) const {
    std::vector<ConceptEdit> out;
    for (const auto& t : toggles)
      if (t.strength != 0 && t.concept >= 0 && t.concept < basis.concepts())
        out.push_back({t.concept, t.strength});
    return out;
  }
};

namespace {

std::vector<float> toVector(const at::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

ConceptInfo toInfo(const ConceptSummary& s) {
  ConceptInfo c;
  c.patchFraction = s.patchFraction;
  c.imageFraction = s.imageFraction;
  c.meanScoreWhenPresent = s.meanScoreWhenPresent;
  c.influence = s.influence;
  c.probabilityChange = s.probabilityChange;
  c.influenceQuartiles = s.influenceQuartiles;
  c.pValues = s.pValues;
  c.significant = s.significant;
  c.stability = s.stability;
  for (const TopPatch& p : s.top) c.top.push_back({p.image, p.row, p.col, p.score});
  return c;
}

ConceptSummary toSummary(const ConceptInfo& c) {
  ConceptSummary s;
  s.patchFraction = c.patchFraction;
  s.imageFraction = c.imageFraction;
  s.meanScoreWhenPresent = c.meanScoreWhenPresent;
  s.influence = c.influence;
  s.probabilityChange = c.probabilityChange;
  s.influenceQuartiles = c.influenceQuartiles;
  s.pValues = c.pValues;
  s.significant = c.significant;
  s.stability = c.stability;
  for (const auto& p : c.top) s.top.push_back({p.image, p.row, p.col, p.score});
  return s;
}

FitOptions fitOptions(const DiscoverySettings& settings, const HeadFunction& head,
                      const ProgressSink& progress, const CancelToken& cancel) {
  FitOptions o;
  o.concepts = settings.concepts;
  o.seed = settings.seed;
  o.preset = settings.preset;
  o.head = head;
  o.progress = progress;
  o.cancel = cancel;
  return o;
}

}  // namespace

ConceptSession::ConceptSession(std::unique_ptr<Impl> impl) : d(std::move(impl)) {}
ConceptSession::~ConceptSession() = default;

std::shared_ptr<ConceptSession> ConceptSession::discover(
    std::shared_ptr<const ConceptModel> model, std::shared_ptr<const ActivationCache> cache,
    const DiscoverySettings& settings, const std::string& outDir, const ProgressSink& progress,
    const CancelToken& cancel) {
  auto impl = std::make_unique<Impl>();
  impl->model = model;
  impl->cache = cache;
  impl->dir = outDir;
  impl->layer = cache->layer();
  impl->settings = settings;
  impl->makeHead();
  // Mapped, not read: fits stream it (discovery/patches.h), so memory does not grow with N.
  auto activations = mapNpyTensor(cache->dir() + "/activations.npy");
  impl->basis = makeConceptMethod(settings.method)
                    ->fit(activations, fitOptions(settings, impl->head(), progress, cancel));
  impl->basis.method = settings.method;
  ReportOptions ro;
  ro.seed = settings.seed;
  ro.progress = progress;
  ro.cancel = cancel;
  auto report =
      summariseConcepts(impl->basis, cache->activations(), cache->classes(), impl->head(), ro);
  impl->strengths = report.imageStrength;
  impl->influenceTest = report.influenceTest;
  for (const auto& s : report.concepts) impl->concepts.push_back(toInfo(s));
  impl->labelToClass = cache->labelToModelClass();
  std::shared_ptr<ConceptSession> session(new ConceptSession(std::move(impl)));
  session->save();
  return session;
}

std::shared_ptr<ConceptSession> ConceptSession::open(std::shared_ptr<const ConceptModel> model,
                                                     std::shared_ptr<const ActivationCache> cache,
                                                     const std::string& dir) {
  const auto& shape = cache->activations().shape();  // N x C x h x w
  auto doc = readConceptFolder(dir, {shape[0], shape[1], cache->classes().size(), shape[2], shape[3]});
  auto impl = std::make_unique<Impl>();
  impl->model = model;
  impl->cache = cache;
  impl->dir = dir;
  impl->layer = cache->layer();
  impl->makeHead();
  impl->settings = {doc.value("method", "eddp"), doc.value("preset", "balanced"),
                    doc.value("concepts_requested", 16), doc.value("seed", uint64_t(0))};
  impl->basis = {impl->settings.method, readNpyTensor(dir + "/decoders.npy"),
                 readNpyTensor(dir + "/biases.npy"), readNpyTensor(dir + "/encoders.npy")};
  if (impl->basis.channels() != int64_t(cache->activations().shape()[1]))
    throw UserError(dir + ": these concepts were found at another layer than " + cache->layer() +
                    "; run Discover again.");
  auto report = conceptsFromJson(doc["concepts"], cache->classes());
  impl->influenceTest = influenceTestFromJson(doc.value("influence_test", nlohmann::json()));
  for (const auto& [key, value] : doc.items())
    if (key != "concepts") impl->keptKeys[key] = value;
  for (size_t i = 0; i < report.concepts.size(); ++i) {
    impl->concepts.push_back(toInfo(report.concepts[i]));
    auto& c = impl->concepts.back();
    c.label = doc["concepts"][i].value("label", "");
    if (doc["concepts"][i].contains("label_invert")) {
      const auto& e = doc["concepts"][i]["label_invert"];
      c.labelAuc = e.value("auc", -1.0);
      c.labelPValue = e.value("p_value", 1.0);
      c.labelFraction = e.value("fraction", 0.0);
    }
  }
  if (fs::exists(dir + "/label_positives.npy")) {
    auto positives = readNpyTensor(dir + "/label_positives.npy").to(torch::kUInt8);
    if (positives.dim() == 2 && positives.size(0) == int64_t(cache->size()))
      for (size_t i = 0; i < impl->concepts.size() && int64_t(i) < positives.size(1); ++i) {
        if (impl->concepts[i].labelAuc < 0) continue;
        auto column = positives.select(1, int64_t(i)).contiguous();
        impl->concepts[i].labelPositives.assign(column.data_ptr<uint8_t>(),
                                                column.data_ptr<uint8_t>() + column.numel());
      }
  }
  impl->strengths = readNpyTensor(dir + "/image_strength.npy");
  if (int(impl->concepts.size()) != impl->basis.concepts() ||
      impl->strengths.dim() != 2 || impl->strengths.size(0) != int64_t(cache->size()) ||
      impl->strengths.size(1) != int64_t(impl->concepts.size()))
    throw UserError(dir + ": the concept files disagree with each other or with the cache; run "
                    "Discover again.");
  impl->labelToClass = cache->labelToModelClass();
  return std::shared_ptr<ConceptSession>(new ConceptSession(std::move(impl)));
}

// One writer for every concept set (concept_set_files.h): staged files, the previous set kept
// whole on failure, and a UserError naming the folder and the fix.
void ConceptSession::save() const {
  ConceptReport report;
  report.classes = d->cache->classes();
  for (const auto& c : d->concepts) report.concepts.push_back(toSummary(c));
  PatchGeometry g{inputHeight(), inputWidth(), mapHeight(), mapWidth(), 0};
  auto list = conceptsToJson(report, g);
  auto positives = torch::zeros({int64_t(images()), concepts()}, torch::kUInt8);
  bool anyPositives = false;
  for (size_t i = 0; i < d->concepts.size(); ++i) {
    const auto& c = d->concepts[i];
    if (!c.label.empty()) list[i]["label"] = c.label;
    if (c.labelAuc >= 0)
      list[i]["label_invert"] = {{"auc", c.labelAuc}, {"p_value", c.labelPValue},
                                 {"fraction", c.labelFraction}};
    if (c.labelPositives.size() == images()) {
      anyPositives = true;
      positives.select(1, int64_t(i))
          .copy_(torch::from_blob(const_cast<uint8_t*>(c.labelPositives.data()),
                                  {int64_t(images())}, torch::kUInt8));
    }
  }
  const auto& s = d->settings;
  auto document = conceptSetDocument(s.method, s.preset, s.seed, s.concepts, d->layer,
                                     report.classes, d->influenceTest, std::move(list));
  if (!d->basis.choice.preset.empty())
    document["adaptive_choice"] = fitChoiceJson(d->basis.choice);
  for (const auto& [key, value] : d->keptKeys.items())
    if (!document.contains(key)) document[key] = value;
  ConceptSetFiles files{d->basis.decoders, d->basis.biases, d->basis.encoders, d->strengths,
                        anyPositives ? positives : at::Tensor(), std::move(document)};
  writeConceptSet(d->dir, files);
}

const ActivationCache& ConceptSession::cache() const { return *d->cache; }
const std::string& ConceptSession::dir() const { return d->dir; }
const DiscoverySettings& ConceptSession::settings() const { return d->settings; }
std::string ConceptSession::fittedPreset() const {
  if (!d->basis.choice.preset.empty()) return d->basis.choice.preset;
  auto block = d->keptKeys.find("adaptive_choice");
  if (block == d->keptKeys.end() || !block->is_object()) return "";
  auto fitted = block->find("fitted");
  return fitted != block->end() && fitted->is_string() ? fitted->get<std::string>() : "";
}
std::vector<int> ConceptSession::icaEncoderConcepts() const {
  if (!d->basis.choice.preset.empty()) return d->basis.choice.icaEncoders;
  std::vector<int> concepts;
  auto block = d->keptKeys.find("adaptive_choice");
  if (block == d->keptKeys.end() || !block->is_object()) return concepts;
  auto ica = block->find("ica_encoders");
  if (ica == block->end() || !ica->is_object()) return concepts;
  auto list = ica->find("concepts");
  if (list == ica->end() || !list->is_array()) return concepts;
  for (const auto& i : *list)  // a hand-edited file may hold anything: keep what names a concept
    if (i.is_number_integer() && i.get<int>() >= 0 && i.get<int>() < this->concepts())
      concepts.push_back(i.get<int>());
  return concepts;
}
const std::vector<std::string>& ConceptSession::classes() const { return d->cache->classes(); }
int ConceptSession::concepts() const { return int(d->concepts.size()); }
const ConceptInfo& ConceptSession::concept(int i) const { return d->concepts.at(size_t(i)); }
const InfluenceTestInfo& ConceptSession::influenceTest() const { return d->influenceTest; }
StabilityCheck ConceptSession::measureStability(int refits, const ProgressSink& progress,
                                                const CancelToken& cancel) const {
  if (refits < 1) throw UserError("seed stability needs at least one refit");
  auto activations = mapNpyTensor(d->cache->dir() + "/activations.npy");
  auto method = makeConceptMethod(d->settings.method);
  std::vector<ConceptBasis> others;
  Stopwatch clock;
  for (int r = 1; r <= refits; ++r) {
    DiscoverySettings again = d->settings;
    again.seed = d->settings.seed + uint64_t(r);
    auto options = fitOptions(again, d->head(), refitProgress(progress, r, refits), cancel);
    others.push_back(method->fit(activations, options));
  }
  return checkStability(d->basis, d->settings.seed, others, activations, clock.seconds());
}

void ConceptSession::setStability(const StabilityCheck& check) {
  if (check.stability.size() != d->concepts.size())
    throw UserError("seed stability for " + std::to_string(check.stability.size()) +
                    " concepts, but the session has " + std::to_string(d->concepts.size()));
  for (size_t i = 0; i < check.stability.size(); ++i)
    d->concepts[i].stability = check.stability[i];
  // Values alone (no refits named) say nothing of how they were measured: no block then.
  if (check.refitSeeds.empty())
    d->keptKeys.erase("stability_check");
  else
    d->keptKeys["stability_check"] = stabilityCheckJson(check);
}

void ConceptSession::setLabel(int i, const std::string& label) {
  auto& c = d->concepts.at(size_t(i));
  c.label = label;
  c.labelAuc = -1;
  c.labelPValue = 1;
  c.labelFraction = 0;
  c.labelPositives.clear();
}

void ConceptSession::setInvertLabel(int i, const std::string& formula, double auc,
                                    double pValue, double fraction,
                                    std::vector<uint8_t> positives) {
  auto& c = d->concepts.at(size_t(i));
  c.label = formula;
  c.labelAuc = auc;
  c.labelPValue = pValue;
  c.labelFraction = fraction;
  c.labelPositives = std::move(positives);
}

ImageSourcePtr ConceptSession::imageSource() const { return d->images; }

// The colour statistics come from the attached images (computed once): identical images give
// identical options, so a kept rendering is found again.
RenderOptions ConceptSession::Impl::renderOptions() const {
  std::lock_guard<std::mutex> lock(colourMutex);
  if (!colourKnown && images && images->size() > 0 && model->meta().input.channels() == 3)
    colour = colourCovariance(*model, sampleImages(*images, 256));
  colourKnown = true;
  RenderOptions o;
  o.colourCovariance = colour;
  return o;
}

ConceptDirections ConceptSession::Impl::directions(int concept) const {
  if (concept < 0 || concept >= basis.concepts())
    throw UserError("there is no concept " + std::to_string(concept) + " in " + dir + ".");
  return {basis.decoders[concept], basis.encoders[concept], basis.biases[concept].item<double>()};
}

ConceptRendering ConceptSession::savedRendering(int concept, RenderTarget target) const {
  auto o = d->renderOptions();
  return loadRendering(renderingPath(d->dir, concept, d->directions(concept), target, o));
}

ConceptRendering ConceptSession::render(int concept, RenderTarget target,
                                        const ProgressSink& progress,
                                        const CancelToken& cancel) const {
  auto o = d->renderOptions();
  auto directions = d->directions(concept);
  std::string path = renderingPath(d->dir, concept, directions, target, o);
  o.progress = progress;
  o.cancel = cancel;
  auto r = renderConcept(*d->model, d->layer, directions, target, o);
  saveRendering(path, r);
  return r;
}

double ConceptSession::strongestPatchScore(int concept) const {
  const auto& top = this->concept(concept).top;
  return top.empty() ? std::nan("") : double(top.front().score);
}
size_t ConceptSession::images() const { return d->cache->size(); }

int64_t ConceptSession::trueClass(size_t image) const {
  int64_t label = d->cache->label(image);
  return label >= 0 && size_t(label) < d->labelToClass.size() ? d->labelToClass[size_t(label)] : -1;
}
int64_t ConceptSession::predictedClass(size_t image) const { return d->cache->prediction(image); }

std::vector<float> ConceptSession::probabilities(size_t image) const {
  return toVector(torch::softmax(npyRows(d->cache->logits(), image, 1)[0], 0));
}
std::vector<float> ConceptSession::strengths(size_t image) const {
  return toVector(d->strengths[int64_t(image)]);
}

std::vector<float> ConceptSession::conceptMap(size_t image, int concept) const {
  torch::NoGradGuard noGrad;
  auto z = d->activations(image)[0];  // C x h x w
  auto map = torch::einsum("c,chw->hw", {d->basis.decoders[concept], z}) - d->basis.biases[concept];
  return toVector(map);
}

int ConceptSession::mapHeight() const { return int(d->cache->activations().shape()[2]); }
int ConceptSession::mapWidth() const { return int(d->cache->activations().shape()[3]); }
int ConceptSession::inputHeight() const {
  return d->cache->inputHeight() ? d->cache->inputHeight() : d->model->meta().input.height;
}
int ConceptSession::inputWidth() const {
  return d->cache->inputWidth() ? d->cache->inputWidth() : d->model->meta().input.width;
}
cv::Rect ConceptSession::patchBox(int row, int col) const {
  return PatchGeometry{inputHeight(), inputWidth(), mapHeight(), mapWidth(), 0}.box(row, col);
}

void ConceptSession::setImages(ImageSourcePtr images) {
  {
    std::lock_guard<std::mutex> lock(d->colourMutex);  // renderOptions reads images on workers
    d->images = std::move(images);
    d->colour = at::Tensor();  // other images, other colour statistics
    d->colourKnown = false;
  }
  d->sourceIndex.clear();
  if (d->images)
    for (size_t i = 0; i < d->images->size(); ++i) d->sourceIndex[d->images->itemName(i)] = i;
}
std::string ConceptSession::imageName(size_t image) const { return d->cache->files().at(image); }

cv::Mat ConceptSession::image(size_t image) const {
  if (!d->images || image >= d->cache->size()) return {};
  auto it = d->sourceIndex.find(d->cache->files()[image]);
  if (it == d->sourceIndex.end()) return {};
  try {
    return networkView(d->images->load(it->second), d->model->meta().input);
  } catch (const std::exception&) {
    return {};  // the file changed or vanished since extraction; the caller shows a placeholder
  }
}

std::vector<float> ConceptSession::counterfactual(size_t image,
                                                  const std::vector<ConceptToggle>& toggles) const {
  return edit(image, toggles).probabilities;
}

ConceptSession::EditedImage ConceptSession::edit(size_t image,
                                                 const std::vector<ConceptToggle>& toggles) const {
  torch::NoGradGuard noGrad;
  auto z = d->activations(image);
  auto edits = d->edits(toggles);
  auto edited = edits.empty() ? z : editConcepts(d->basis, z, edits);
  auto scores = patchesOf(edited).matmul(d->basis.decoders.t()) - d->basis.biases;  // P x I
  return {toVector(torch::softmax(d->head().rows(int64_t(image), 1)(edited), 1)[0]),
          toVector(std::get<0>(scores.max(0)))};
}

DatasetEffect ConceptSession::applyToDataset(const std::vector<ConceptToggle>& toggles,
                                             const ProgressSink& progress,
                                             const CancelToken& cancel) const {
  auto r = evaluateEdits(d->head(), d->basis, *d->cache, d->edits(toggles), progress, cancel);
  DatasetEffect e;
  e.images = r.images;
  e.correctBefore = r.correctBefore;
  e.correctAfter = r.correctAfter;
  auto before = r.confusionBefore.contiguous(), after = r.confusionAfter.contiguous();
  e.confusionBefore.assign(before.data_ptr<int64_t>(), before.data_ptr<int64_t>() + before.numel());
  e.confusionAfter.assign(after.data_ptr<int64_t>(), after.data_ptr<int64_t>() + after.numel());
  e.accuracyBefore = r.accuracyBefore();
  e.accuracyAfter = r.accuracyAfter();
  return e;
}

std::vector<int> ConceptSession::conceptsPushingTowards(size_t image, int64_t k, int count) const {
  // Present concepts ranked by (how strongly present) x (how much they raise class k) - a
  // first-order reading of "which concepts pushed this image to k" (docs/methods.md 1.6).
  auto s = strengths(image);
  std::vector<std::pair<double, int>> ranked;
  for (int i = 0; i < concepts(); ++i) {
    const auto& c = d->concepts[size_t(i)];
    if (s[size_t(i)] <= 0 || size_t(k) >= c.influence.size()) continue;
    double push = double(s[size_t(i)]) * c.influence[size_t(k)];
    if (push > 0) ranked.push_back({push, i});
  }
  std::sort(ranked.rbegin(), ranked.rend());
  std::vector<int> out;
  for (size_t j = 0; j < ranked.size() && int(j) < count; ++j) out.push_back(ranked[j].second);
  return out;
}

AuditResult ConceptSession::auditCategories(const AuditOptions& options,
                                            std::vector<std::string> labels) const {
  AuditInputs in;
  in.concepts = concepts();
  auto present = (d->strengths > 0).to(torch::kUInt8).contiguous();
  in.present.assign(present.data_ptr<uint8_t>(), present.data_ptr<uint8_t>() + present.numel());
  for (size_t image = 0; image < images(); ++image) {
    in.trueClass.push_back(trueClass(image));
    in.predictedClass.push_back(predictedClass(image));
  }
  in.classes = classes();
  if (labels.size() == size_t(concepts())) in.labels = std::move(labels);
  else
    for (const auto& c : d->concepts) in.labels.push_back(c.label);
  in.switchOff = [this](int concept, int cls, const std::vector<int64_t>& images) {
    torch::NoGradGuard noGrad;
    std::vector<double> change;
    const int64_t chunk = 256;
    for (size_t start = 0; start < images.size(); start += size_t(chunk)) {
      size_t end = std::min(images.size(), start + size_t(chunk));
      std::vector<at::Tensor> rows;
      for (size_t j = start; j < end; ++j) rows.push_back(d->activations(size_t(images[j])));
      auto z = torch::cat(rows);
      auto index = torch::tensor(std::vector<int64_t>(images.begin() + long(start),
                                                      images.begin() + long(end)));
      auto head = d->head().rows(index);
      // The class's logit against the mean of the others': a change every class shares moves
      // no prediction.
      auto margin = [cls](const at::Tensor& logits) {
        auto k = logits.select(1, cls);
        int64_t others = logits.size(1) - 1;
        return others > 0 ? k - (logits.sum(1) - k) / double(others) : k;
      };
      auto before = margin(head(z)), after = margin(head(editConcepts(d->basis, z, {{concept, -1}})));
      auto delta = (after - before).to(torch::kCPU, torch::kDouble).contiguous();
      change.insert(change.end(), delta.data_ptr<double>(), delta.data_ptr<double>() + delta.numel());
    }
    return change;
  };
  try {
    return categorizeConcepts(in, options);
  } catch (const UserError& e) {
    throw UserError(d->dir + ": " + e.what());
  }
}

std::string ConceptSession::conceptName(int concept) const {
  const std::string& label = this->concept(concept).label;
  return label.empty() ? "concept " + std::to_string(concept) : label;
}

}  // namespace dx

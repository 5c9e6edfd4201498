#include "tcav/tcav_study.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "tcav/sacv.h"
#include "tcav/tcav.h"
#include "base/stopwatch.h"
#include "tcav/tcav_inputs.h"
#include "base/tensor_io.h"

namespace dx {
namespace fs = std::filesystem;

struct TcavStudy::Impl {
  std::shared_ptr<const ConceptModel> model;
  std::string layer;
  int classIndex = 0;
  std::vector<std::string> names;
  std::vector<Cav> mapCavs;  // per concept, shape {C}, on the CPU; none on the class token
  bool classToken = false;
};

TcavStudy::TcavStudy(std::unique_ptr<Impl> impl) : d(std::move(impl)) {}
TcavStudy::~TcavStudy() = default;
const std::string& TcavStudy::layer() const { return d->layer; }
int TcavStudy::concepts() const { return int(d->names.size()); }
const std::string& TcavStudy::conceptName(int concept) const {
  return d->names.at(size_t(concept));
}
int TcavStudy::classIndex() const { return d->classIndex; }
bool TcavStudy::hasMaps() const { return !d->mapCavs.empty(); }

namespace {

// The images the class and the random draws come from: rows of the project's cache when it holds
// the study's layer (nothing recomputed), else activations computed from the source.
struct Pool {
  std::vector<int> labels;  // into labelNames, -1 unlabelled
  std::vector<std::string> labelNames;
  std::vector<int64_t> predictions;
  ImageActivations computed;
  std::shared_ptr<const ActivationCache> cache;
  bool onClassToken = false;  // TcavRequest::classToken

  size_t size() const { return predictions.size(); }
  at::Tensor rows(const std::vector<int64_t>& rows) const {
    if (!cache) return computed.activations.index_select(0, torch::tensor(rows, torch::kLong));
    std::vector<at::Tensor> parts;
    for (int64_t r : rows) parts.push_back(npyRows(cache->activations(), size_t(r), 1));
    return torch::cat(parts);
  }
  // The rows' class tokens at a transformer layer with them, else undefined.
  at::Tensor classTokens(const std::vector<int64_t>& rows) const {
    auto index = torch::tensor(rows, torch::kLong);
    if (!cache) return computed.classTokens.defined()
                           ? computed.classTokens.index_select(0, index) : at::Tensor();
    if (!cache->classTokens()) return {};
    std::vector<at::Tensor> parts;
    for (int64_t r : rows) parts.push_back(npyRows(*cache->classTokens(), size_t(r), 1));
    return torch::cat(parts);
  }
  // What the CAVs and derivatives are taken on: the patch grid, or the class token as a vector.
  at::Tensor inputs(const std::vector<int64_t>& rows) const {
    return onClassToken ? classTokenVectors(classTokens(rows)) : this->rows(rows);
  }
};

Pool openPool(const TcavRequest& r, const std::string& layer, const ProgressSink& progress,
              const CancelToken& cancel) {
  Pool p;
  p.onClassToken = r.classToken;
  if (r.cache && r.cache->layer() == layer) {
    p.cache = r.cache;
    p.labelNames = r.cache->labelClasses();
    for (size_t i = 0; i < r.cache->size(); ++i) {
      p.labels.push_back(int(r.cache->label(i)));
      p.predictions.push_back(r.cache->prediction(i));
    }
    return p;
  }
  p.computed = imageActivations(*r.model, r.classImages, layer, r.limit, 64,
                                "activations class images", progress, cancel);
  p.labels = p.computed.labels;
  p.labelNames = r.classImages->classNames();
  p.predictions = predictedClasses(p.computed);
  return p;
}

// `runs` random sets of `size` images of the pool. Disjoint when the pool is large enough (as
// the official code's random500_* folders); otherwise each set is its own draw, so sets share
// images, which narrows the random baseline: said in a note. The class's images may be drawn,
// as random ImageNet images include every class.
std::vector<ConceptSet> randomDraws(const Pool& pool, int runs, int size, uint64_t seed,
                                    std::vector<std::string>& notes) {
  const size_t n = pool.size(), m = size_t(std::max(0, size));
  if (m < 2 || n < 2 * m)
    throw UserError("TCAV: random sets of " + std::to_string(m) + " images need at least " +
                    std::to_string(2 * std::max<size_t>(m, 2)) + " images in the project (it has " +
                    std::to_string(n) + "); choose smaller random sets or random folders.");
  const bool disjoint = n >= size_t(runs) * m;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<ConceptSet> sets;
  for (int r = 0; r < runs; ++r) {
    if (!disjoint && r > 0) std::shuffle(order.begin(), order.end(), rng);
    size_t first = disjoint ? size_t(r) * m : 0;
    std::vector<int64_t> rows(order.begin() + long(first), order.begin() + long(first + m));
    std::sort(rows.begin(), rows.end());  // sequential reads from the cache
    sets.push_back({"random_" + std::to_string(r), pool.inputs(rows)});
  }
  if (!disjoint)
    notes.push_back("The " + std::to_string(runs) + " random sets of " + std::to_string(m) +
                    " images overlap (the project has " + std::to_string(n) + " images), which "
                    "makes the random baseline narrower; use fewer runs or smaller sets.");
  return sets;
}

void checkRequest(const TcavRequest& r) {
  if (!r.model) throw UserError("TCAV: open a model first.");
  if (!r.classImages) throw UserError("TCAV: open the images to take the class's images from.");
  if (r.classIndex < 0 || size_t(r.classIndex) >= r.model->meta().classes.size())
    throw UserError("TCAV: class " + std::to_string(r.classIndex) + " is not one of the model's.");
  if (r.conceptDirs.empty())
    throw UserError("TCAV: add at least one concept folder (images that show the concept).");
  auto names = cavClassifierNames();
  if (std::find(names.begin(), names.end(), r.classifier) == names.end())
    throw UserError("TCAV: unknown classifier \"" + r.classifier + "\"; use logistic, sgd, mean.");
  if (r.randomDirs.empty() && r.runs < 2)
    throw UserError("TCAV: random draws need at least 2 runs.");
  if (r.randomDirs.size() == 1)
    throw UserError("TCAV: give at least 2 random folders (one per run), or none to draw random "
                    "sets from the project's images.");
  if (r.classToken) checkClassTokenRun(*r.model, r.layer, r.spatial);
  if (!r.randomDirs.empty() && size_t(r.runs) > r.randomDirs.size())
    throw UserError("TCAV: " + std::to_string(r.runs) + " runs need " + std::to_string(r.runs) +
                    " random folders (" + std::to_string(r.randomDirs.size()) + " given).");
}

double finiteMean(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++n;
  return n ? sum / n : std::nan("");
}

std::vector<double> accuracies(const std::vector<Cav>& cavs) {
  std::vector<double> out;
  for (const auto& c : cavs) out.push_back(c.heldOutAccuracy);
  return out;
}

TcavReport makeReport(const TcavRequest& r, const TcavResult& result, const std::string& layer) {
  TcavReport rep;
  rep.method = r.spatial ? "sacv" : "tcav";
  rep.layer = layer;
  rep.className = r.model->meta().classes[size_t(r.classIndex)];
  rep.classifier = r.classifier;
  rep.classIndex = r.classIndex;
  rep.classImages = result.classImages;
  rep.runs = result.concepts.empty() ? 0 : int(result.concepts[0].scores.size());
  rep.randomScores = result.randomScores;
  rep.randomMean = finiteMean(result.randomScores);
  double ss = 0;
  int finiteNulls = 0;
  for (double s : result.randomScores)
    if (std::isfinite(s)) ss += (s - rep.randomMean) * (s - rep.randomMean), ++finiteNulls;
  rep.randomStd = finiteNulls > 1 ? std::sqrt(ss / (finiteNulls - 1)) : 0;
  rep.threshold = result.threshold;
  rep.constantGradient = result.constantGradient;
  for (size_t c = 0; c < result.concepts.size(); ++c) {
    const ConceptTcav& t = result.concepts[c];
    TcavConceptReport out;
    out.name = t.name;
    out.folder = c < r.conceptDirs.size() ? r.conceptDirs[c] : std::string();
    out.scores = t.scores;
    out.meanDerivatives = t.meanDerivatives;
    out.accuracies = accuracies(t.cavs);
    out.accuracyMean = finiteMean(out.accuracies);
    out.mean = t.mean;
    out.std = t.std;
    out.t = t.t;
    out.pValue = t.pValue;
    out.significant = t.significant;
    out.nearChance = t.nearChance;
    out.undefinedRuns = t.undefinedRuns;
    rep.concepts.push_back(out);
  }
  return rep;
}

void addNotes(TcavReport& rep, const TcavRequest& r) {
  if (r.classToken)
    rep.notes.push_back("CAVs and derivatives are on each image's class token at " + rep.layer +
                        " (its patches held), so there are no SACV maps in the Image tab.");
  if (rep.constantGradient && !r.spatial)
    rep.notes.push_back("Every class image has the same gradient at " + rep.layer + " (the head "
                        "is global average pooling + linear), so each run scores 0 or 1; an "
                        "earlier layer gives per-image scores.");
  if (rep.randomScores.size() < 2)
    rep.notes.push_back("Significance needs at least 2 independent random-vs-random runs, i.e. 4 "
                        "random sets (" + std::to_string(2 * rep.randomScores.size() + 1) +
                        " or fewer given): add random folders or runs.");
  for (const auto& c : rep.concepts)
    if (c.accuracyMean < 0.6)
      rep.notes.push_back("The CAVs of \"" + c.name + "\" hardly tell its images from the "
                          "other set's (held-out accuracy " + std::to_string(c.accuracyMean).substr(0, 4) +
                          "): it is left out of significance; give more or clearer examples.");
  if (!r.randomDirs.empty() && size_t(rep.runs) < r.randomDirs.size())
    rep.notes.push_back("The runs used the first " + std::to_string(rep.runs) + " of " +
                        std::to_string(r.randomDirs.size()) + " random folders.");
}

}  // namespace

std::vector<std::string> tcavClassifierNames() { return cavClassifierNames(); }

TcavOutcome runTcavStudy(const TcavRequest& r, const ProgressSink& progress,
                         const CancelToken& cancel) {
  checkRequest(r);
  const std::string layer = r.model->layer(r.layer).name;
  const int64_t k = r.classIndex;
  std::string how;
  Pool pool = openPool(r, layer, progress, cancel);
  auto classRowIndex = classRows(pool.labels, pool.labelNames, pool.predictions,
                                 r.model->meta().classes[size_t(k)], k, r.select, &how,
                                 r.classImages->description());
  auto classActs = pool.inputs(classRowIndex);
  auto setsOf = [&](const std::vector<std::string>& dirs) {
    return tcavSets(folderActivations(*r.model, dirs, layer, r.limit, progress, cancel),
                    r.classToken);
  };
  auto concepts = setsOf(r.conceptDirs);
  const int runs = r.runs > 0 ? r.runs : int(r.randomDirs.size());
  // Every folder is read: runs take random set r for run r, null runs pair all sets two by two.
  const std::vector<std::string>& used = r.randomDirs;
  std::vector<std::string> notes;
  auto randoms = used.empty() ? randomDraws(pool, 2 * runs, r.randomSetSize, r.seed, notes)
                              : setsOf(used);
  TcavOptions o;
  o.cav.classifier = r.classifier;
  o.cav.seed = r.seed;
  o.runs = runs;
  o.spatial = r.spatial;
  o.welch = r.welch;
  o.earlierLayer = r.model->meta().layerBefore(layer);
  if (r.relative)
    for (size_t a = 0; a < concepts.size(); ++a)
      for (size_t b = a + 1; b < concepts.size(); ++b) o.relative.push_back({a, b});
  o.significance = r.significance;
  o.progress = progress;
  o.cancel = cancel;
  // The head pairs each class image's grid with its own class tokens, either way round.
  HeadFunction head = r.classToken
                          ? r.model->classTokenHead(layer, pool.rows(classRowIndex))
                          : r.model->headFunction(layer, pool.classTokens(classRowIndex));
  TcavResult result = runTcav(head, classActs, k, concepts, randoms, {}, o);

  auto impl = std::make_unique<TcavStudy::Impl>();
  impl->model = r.model;
  impl->layer = layer;
  impl->classIndex = r.classIndex;
  impl->classToken = r.classToken;
  TcavOutcome out;
  out.report = makeReport(r, result, layer);
  out.report.classSelection = how;
  Stopwatch clock;
  for (const auto& set : concepts) impl->names.push_back(set.name);
  for (size_t c = 0; c < concepts.size() && !r.classToken; ++c) {  // maps need the grid
    if (cancel.cancelled()) throw Cancelled();
    // Run 0's sets and seed, so the map shows the concept the first run scored.
    Cav cav = r.spatial ? result.concepts[c].cavs.at(0)
                        : trainSacv(concepts[c].activations, randoms[0].activations, o.cav);
    cav.direction = cav.direction.to(torch::kCPU);
    impl->mapCavs.push_back(cav);
    out.report.concepts[c].mapAccuracy = cav.heldOutAccuracy;
    if (progress && !r.spatial)
      progress(clock.progress("sacv map CAVs", (long long)c + 1, (long long)concepts.size()));
  }
  out.report.notes = notes;
  addNotes(out.report, r);
  out.study = std::make_shared<TcavStudy>(std::move(impl));
  return out;
}

namespace {

bool sameFile(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return true;  // a cache from before paths were recorded
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  return fs::absolute(a, ec).lexically_normal() == fs::absolute(b, ec).lexically_normal();
}

// One image's activation, 1 x C x h x w, after checking that the study's CAV applies to it.
at::Tensor studiedActivation(const TcavStudy::Impl& s, int concept, const ActivationCache& cache,
                             size_t image) {
  if (s.classToken)
    throw UserError("SACV: this TCAV study ran on the class token, which has no positions to "
                    "map; run it on the patch grid to see maps.");
  if (concept < 0 || size_t(concept) >= s.mapCavs.size())
    throw UserError("SACV: maps exist for the concept folders only; row " +
                    std::to_string(concept + 1) + " is a relative CAV or not in the study.");
  if (cache.layer() != s.layer)
    throw UserError("SACV: the TCAV study ran at layer " + s.layer + ", the shown image's "
                    "activations are of layer " + cache.layer() + "; run TCAV at " +
                    cache.layer() + " (or switch the project to " + s.layer + ") to see its maps.");
  if (!sameFile(cache.modelPath(), s.model->path()))
    throw UserError("SACV: the TCAV study used " + s.model->path() + ", the shown image's "
                    "activations come from " + cache.modelPath() + "; run TCAV again.");
  if (image >= cache.size())
    throw UserError("SACV: image " + std::to_string(image) + " is not in the activation cache (" +
                    std::to_string(cache.size()) + " images).");
  auto z = npyRows(cache.activations(), image, 1);
  if (z.dim() != 4 || z.size(1) != s.mapCavs[size_t(concept)].direction.numel())
    throw UserError("SACV: the cached activations do not have the study's channels; extract the "
                    "activations again.");
  return z;
}

std::vector<float> mapValues(const at::Tensor& map, int* height, int* width) {
  auto m = map.to(torch::kCPU, torch::kFloat).contiguous();
  if (height) *height = int(m.size(0));
  if (width) *width = int(m.size(1));
  return std::vector<float>(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
}

}  // namespace

std::vector<float> sacvRelevance(const TcavStudy& study, int concept, const ActivationCache& cache,
                                 size_t image, int* height, int* width) {
  auto z = studiedActivation(*study.d, concept, cache, image);
  // R needs no gradient; sacvMaps only checks the shape of the one it gets.
  auto maps = sacvMaps(study.d->mapCavs[size_t(concept)], z, torch::zeros_like(z));
  return mapValues(maps.relevance[0], height, width);
}

std::vector<float> sacvContribution(const TcavStudy& study, int concept,
                                    const ActivationCache& cache, size_t image, int* height,
                                    int* width) {
  const auto& s = *study.d;
  auto z = studiedActivation(s, concept, cache, image);
  at::Tensor classTokens;
  if (cache.classTokens()) classTokens = npyRows(*cache.classTokens(), image, 1);
  auto g = logitGradients(s.model->headFunction(s.layer, classTokens), z, s.classIndex);
  auto maps = sacvMaps(s.mapCavs[size_t(concept)], z, g.to(z.device()));
  return mapValues(maps.contribution[0], height, width);
}

}  // namespace dx

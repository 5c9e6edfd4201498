#include "tcav/tcav.h"

#include <torch/torch.h>

#include <cmath>

#include "tcav/sacv.h"
#include "base/stopwatch.h"
#include "tcav/t_test.h"

namespace dx {
namespace {

void checkSet(const ConceptSet& set, const at::Tensor& like, const std::string& role) {
  const auto& a = set.activations;
  if (!a.defined() || a.dim() != 4 || a.sizes().slice(1) != like.sizes().slice(1))
    throw UserError("TCAV: the " + role + " set \"" + set.name + "\" does not have the class "
                    "images' activation shape; extract every set at the same layer.");
  if (a.size(0) < 2)
    throw UserError("TCAV: the " + role + " set \"" + set.name + "\" has " +
                    std::to_string(a.size(0)) + " image(s); give it at least 2 (Kim et al. use "
                    "about 50).");
}

// Scores one CAV on the class images: flattened TCAV or spatial SACV.
struct Evaluator {
  at::Tensor activations, gradients;
  bool spatial = false;

  Cav train(const ConceptSet& positive, const ConceptSet& negative, const CavOptions& o) const {
    Cav cav;
    if (spatial) {
      cav = trainSacv(positive.activations, negative.activations, o);
    } else {
      const auto& p = positive.activations;
      cav = trainCav(p.flatten(1), negative.activations.flatten(1), o);
      cav.shape = {p.size(1), p.size(2), p.size(3)};
    }
    cav.concept = positive.name;
    cav.random = negative.name;
    return cav;
  }

  DirectionalScore score(const Cav& cav) const {
    if (!spatial) return tcavScore(gradients, cav.direction);
    if (cav.direction.numel() != activations.size(1))
      throw UserError("SACV: the direction \"" + cav.concept + "\" has " +
                      std::to_string(cav.direction.numel()) + " values; SACV needs one per "
                      "channel (" + std::to_string(activations.size(1)) + ").");
    auto s = sacvScore(sacvMaps(cav, activations, gradients));
    return {s.score, s.weightedContribution};
  }
};

double meanOf(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

double stdOf(const std::vector<double>& v, double m) {
  if (v.size() < 2) return 0;
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

// True when every image has (numerically) the same gradient, e.g. a GAP + linear head.
bool constantAcrossImages(const at::Tensor& g) {
  if (g.size(0) < 2) return false;
  double scale = g.abs().max().item<double>();
  return (g - g.slice(0, 0, 1)).abs().max().item<double>() <= 1e-5 * std::max(scale, 1e-30);
}

// True when every position of every image has the same gradient (a pooling + linear head):
// SACV's contribution map is then constant and says nothing about where the concept acts.
bool constantAcrossPositions(const at::Tensor& g) {
  if (g.size(2) * g.size(3) < 2) return false;
  auto first = g.flatten(2).slice(2, 0, 1);
  double scale = g.abs().max().item<double>();
  return (g.flatten(2) - first).abs().max().item<double>() <= 1e-5 * std::max(scale, 1e-30);
}

std::vector<double> finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}

void summarise(ConceptTcav& c, const std::vector<double>& nullScores, const TcavOptions& o,
               double threshold) {
  auto scores = finite(c.scores);  // SACV runs without a concept position are undefined
  c.undefinedRuns = int(c.scores.size() - scores.size());
  c.mean = meanOf(scores);
  c.std = stdOf(scores, c.mean);
  double accuracy = 0;
  int trained = 0;
  for (const auto& cav : c.cavs)
    if (std::isfinite(cav.heldOutAccuracy)) accuracy += cav.heldOutAccuracy, ++trained;
  c.nearChance = trained > 0 && accuracy / trained < o.minAccuracy;
  c.t = 0, c.pValue = std::nan(""), c.significant = false;
  auto nulls = finite(nullScores);  // SACV null runs can be undefined too
  if (c.nearChance || nulls.size() < 2 || scores.empty() || (!c.fixed && scores.size() < 2))
    return;  // nothing to test: said by the flags and the number of null scores
  TTestResult t = c.fixed ? predictionIntervalTest(nulls, scores[0])
                          : tTestIndependent(scores, nulls, o.welch);
  c.t = t.t;  // > 0: the concept scores above the random baseline
  c.pValue = t.pValue;
  c.significant = c.pValue <= threshold;
}

}  // namespace

at::Tensor logitGradients(const HeadFunction& head, const at::Tensor& z, int64_t k, int batchSize,
                          const CancelToken& cancel) {
  if (!head) throw UserError("TCAV: no head (the network after the layer) was given.");
  if (z.dim() != 4) throw UserError("TCAV: activations must be N x C x h x w.");
  torch::AutoGradMode enable(true);
  std::vector<at::Tensor> parts;
  int64_t step = std::max(1, batchSize);
  for (int64_t first = 0; first < z.size(0); first += step) {
    if (cancel.cancelled()) throw Cancelled();
    auto batch = z.slice(0, first, std::min(z.size(0), first + step)).detach().to(torch::kFloat);
    batch.requires_grad_(true);
    auto logits = head.rows(first, batch.size(0))(batch);
    if (k < 0 || k >= logits.size(1))
      throw UserError("TCAV: class index " + std::to_string(k) + " is outside the model's " +
                      std::to_string(logits.size(1)) + " classes.");
    // Images do not interact in an inference-mode head, so the gradient of the summed logit
    // is every image's own gradient.
    parts.push_back(torch::autograd::grad({logits.select(1, k).sum()}, {batch})[0].detach());
  }
  return torch::cat(parts);
}

DirectionalScore tcavScore(const at::Tensor& gradients, const at::Tensor& direction) {
  torch::NoGradGuard noGrad;
  auto v = direction.to(gradients.device(), torch::kFloat).flatten();
  at::Tensor s;
  if (v.numel() == gradients.size(1))  // a per-channel direction, broadcast over positions
    s = torch::einsum("nchw,c->n", {gradients, v});
  else if (v.numel() == gradients[0].numel())
    s = gradients.flatten(1).mv(v);
  else
    throw UserError("TCAV: a direction of " + std::to_string(v.numel()) + " values fits neither "
                    "the layer's channels nor its flattened activations; use a CAV of this layer.");
  return {(s > 0).to(torch::kDouble).mean().item<double>(),
          s.to(torch::kDouble).mean().item<double>()};
}

Cav encoderCav(const ConceptBasis& basis, int concept, const std::string& name) {
  if (concept < 0 || concept >= basis.concepts())
    throw UserError("TCAV: concept " + std::to_string(concept) + " does not exist (the basis has " +
                    std::to_string(basis.concepts()) + ").");
  Cav cav;
  auto s = basis.encoders[concept].to(torch::kFloat);
  cav.direction = s / s.norm().clamp_min(1e-30);
  cav.classifier = "eddp-encoder";
  cav.shape = {s.size(0)};
  cav.concept = name;
  return cav;
}

TcavResult runTcav(const HeadFunction& head, const at::Tensor& classActivations, int64_t k,
                   const std::vector<ConceptSet>& concepts, const std::vector<ConceptSet>& randoms,
                   const std::vector<Cav>& fixed, const TcavOptions& o) {
  checkActivations(classActivations, 1, "TCAV");
  int64_t runs = o.runs > 0 ? o.runs : int64_t(randoms.size());
  if (randoms.size() < 2 || runs < 2 || runs > int64_t(randoms.size()))
    throw UserError("TCAV: " + std::to_string(randoms.size()) + " random set(s) given; it needs "
                    "at least 2, and one per run (" + std::to_string(runs) + " runs); add "
                    "random image folders.");
  if (concepts.empty() && fixed.empty()) throw UserError("TCAV: give at least one concept.");
  for (const auto& [a, b] : o.relative)
    if (a >= concepts.size() || b >= concepts.size() || a == b)
      throw UserError("TCAV: a relative CAV needs two different concept sets.");
  for (const auto& c : concepts) checkSet(c, classActivations, "concept");
  for (const auto& r : randoms) checkSet(r, classActivations, "random");
  TcavResult result;
  result.classIndex = k;
  result.classImages = classActivations.size(0);
  Evaluator eval{classActivations, logitGradients(head, classActivations, k, o.batchSize, o.cancel),
                 o.spatial};
  result.constantGradient = constantAcrossImages(eval.gradients);
  if (o.spatial && constantAcrossPositions(eval.gradients))
    throw UserError("SACV: at this layer every position has the same gradient (the head averages "
                    "the positions, then applies a linear map), so a contribution map would be "
                    "constant and every run would score 0 or 1. Choose an earlier layer" +
                    (o.earlierLayer.empty() ? std::string()
                                            : " (" + o.earlierLayer + ", for example)") +
                    ", one with a convolution between it and the pooling, or run TCAV.");
  size_t trainedCount = concepts.size() + o.relative.size();
  result.concepts.resize(trainedCount);
  Stopwatch clock;
  int64_t nullRuns = int64_t(randoms.size() / 2);
  long long done = 0, total = runs * int64_t(trainedCount) + nullRuns;
  auto addRun = [&](const ConceptSet& positive, const ConceptSet& negative, const CavOptions& co,
                    std::vector<Cav>& cavs, std::vector<double>& scores,
                    std::vector<double>& magnitudes) {
    if (o.cancel.cancelled()) throw Cancelled();
    cavs.push_back(eval.train(positive, negative, co));
    auto s = eval.score(cavs.back());
    scores.push_back(s.score);
    magnitudes.push_back(s.meanDerivative);
    ++done;
    if (o.progress) o.progress(clock.progress(o.spatial ? "sacv runs" : "tcav runs", done, total));
  };
  for (int64_t j = 0; j < nullRuns; ++j) {  // independent random-vs-random pairs
    CavOptions co = o.cav;
    co.seed = o.cav.seed + uint64_t(j);
    addRun(randoms[size_t(2 * j)], randoms[size_t(2 * j + 1)], co, result.randomCavs,
           result.randomScores, result.randomMeanDerivatives);
  }
  for (int64_t r = 0; r < runs; ++r) {
    CavOptions co = o.cav;
    co.seed = o.cav.seed + uint64_t(r);
    for (size_t c = 0; c < concepts.size(); ++c) {
      auto& out = result.concepts[c];
      out.name = concepts[c].name;
      addRun(concepts[c], randoms[size_t(r)], co, out.cavs, out.scores, out.meanDerivatives);
    }
    for (size_t j = 0; j < o.relative.size(); ++j) {
      auto [a, b] = o.relative[j];
      auto& out = result.concepts[concepts.size() + j];
      out.name = concepts[a].name + " vs " + concepts[b].name;
      addRun(concepts[a], concepts[b], co, out.cavs, out.scores, out.meanDerivatives);
    }
  }
  for (const auto& cav : fixed) {
    ConceptTcav c;
    c.name = cav.concept;
    c.fixed = true;
    c.cavs = {cav};
    auto s = eval.score(cav);
    c.scores = {s.score};
    c.meanDerivatives = {s.meanDerivative};
    result.concepts.push_back(c);
  }
  result.threshold = o.significance / double(result.concepts.size());
  for (auto& c : result.concepts) summarise(c, result.randomScores, o, result.threshold);
  return result;
}

}  // namespace dx

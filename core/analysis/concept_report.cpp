#include "analysis/concept_report.h"

#include <torch/torch.h>

#include <algorithm>
#include <cfloat>
#include <cmath>

#include <nlohmann/json.hpp>

#include "analysis/influence.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"
#include "discovery/concept_stability.h"

namespace dx {
namespace {

// Keeps the best patch of each image only, so a concept's gallery shows different images.
std::vector<TopPatch> onePerImage(const std::vector<TopPatch>& patches, size_t k) {
  std::vector<TopPatch> out;
  std::vector<int64_t> seen;
  for (const TopPatch& p : patches) {
    if (std::find(seen.begin(), seen.end(), p.image) != seen.end()) continue;
    seen.push_back(p.image);
    out.push_back(p);
    if (out.size() == k) break;
  }
  return out;
}

void checkFits(const ConceptBasis& basis, const NpyMap& activations) {
  const auto& shape = activations.shape();
  if (shape.size() != 4 || int64_t(shape[1]) != basis.channels())
    throw UserError("the concepts have " + std::to_string(basis.channels()) +
                    " channels but the activations in " + activations.path() +
                    " do not: use concepts discovered at the same layer");
}

// Evenly spaced sample of at most `count` images: their row numbers.
std::vector<int64_t> sampleImages(const NpyMap& activations, int count) {
  size_t n = activations.shape()[0], take = std::min<size_t>(n, size_t(std::max(count, 0)));
  std::vector<int64_t> rows;
  for (size_t j = 0; j < take; ++j) rows.push_back(int64_t(j * n / take));
  return rows;
}

void addInfluence(ConceptReport& r, const ConceptBasis& basis, const NpyMap& activations,
                  const HeadFunction& allImages, const ReportOptions& o) {
  auto rows = sampleImages(activations, o.influenceImages);
  if (rows.empty()) return;
  std::vector<at::Tensor> stacked;
  for (int64_t row : rows) stacked.push_back(npyRows(activations, size_t(row), 1));
  auto z = torch::cat(stacked);
  auto head = allImages.rows(torch::tensor(rows, torch::kLong));
  InfluenceOptions io = o.influence;
  io.seed = o.seed;
  io.progress = o.progress;
  io.cancel = o.cancel;
  io.skip.clear();  // degenerate concepts are not tested (discovery/degenerate.h)
  for (const auto& c : r.concepts) io.skip.push_back(!degeneracyReason(c.patchFraction).empty());
  auto inf = conceptInfluence(head, basis, z, io);
  r.influenceImages = int(z.size(0));
  auto& t = r.influenceTest;
  t.description = inf.test;
  t.null = influenceNullName(io.null);
  t.exact = inf.exact;
  t.nullDraws = inf.nullDraws;
  t.tests = int((inf.pValues == inf.pValues).sum().item<int64_t>());
  t.alpha = io.alpha, t.fdr = io.fdr, t.minEffect = io.minEffect, t.cutoff = inf.cutoff;
  auto quart = inf.logitQuartiles.contiguous();
  for (int i = 0; i < basis.concepts(); ++i) {
    auto& c = r.concepts[size_t(i)];
    for (int64_t k = 0; k < inf.logitChange.size(1); ++k) {
      c.influence.push_back(inf.logitChange[i][k].item<float>());
      c.probabilityChange.push_back(inf.probabilityChange[i][k].item<float>());
      double p = inf.pValues[i][k].item<double>();  // kept above float's smallest normal
      c.pValues.push_back(std::isnan(p) ? NAN : float(std::max(p, double(FLT_MIN))));
      c.significant.push_back(inf.significant[i][k].item<bool>());
      std::array<float, 5> q{};
      for (int j = 0; j < 5; ++j) q[size_t(j)] = quart[i][k][j].item<float>();
      c.influenceQuartiles.push_back(q);
    }
  }
}

}  // namespace

ConceptReport summariseConcepts(const ConceptBasis& basis, const NpyMap& activations,
                                const std::vector<std::string>& classes, const HeadFunction& head,
                                const ReportOptions& o) {
  checkFits(basis, activations);
  torch::NoGradGuard noGrad;
  const auto& shape = activations.shape();
  const int64_t n = int64_t(shape[0]), h = int64_t(shape[2]), w = int64_t(shape[3]);
  const int concepts = basis.concepts();
  auto decoders = basis.decoders.to(torch::kCPU, torch::kFloat);
  auto biases = basis.biases.to(torch::kCPU, torch::kFloat);
  // Several patches per image can top a concept; collect more and keep one per image.
  TopPatchCollector top(concepts, o.topPatches * 4, int(h), int(w));
  auto present = torch::zeros({concepts}, torch::kDouble);
  auto presentSum = torch::zeros({concepts}, torch::kDouble);
  ConceptReport r;
  r.classes = classes;
  r.imageStrength = torch::empty({n, concepts});
  const int64_t chunk = std::max<int64_t>(1, 65536 / (h * w));
  Stopwatch clock;
  for (int64_t start = 0; start < n; start += chunk) {
    if (o.cancel.cancelled()) throw Cancelled();
    int64_t count = std::min(chunk, n - start);
    auto scores = patchesOf(npyRows(activations, size_t(start), size_t(count)))
                      .matmul(decoders.t()) - biases;  // P x I
    auto on = scores > 0;
    present += on.sum(0).to(torch::kDouble);
    presentSum += (scores * on).sum(0).to(torch::kDouble);
    r.imageStrength.slice(0, start, start + count)
        .copy_(std::get<0>(scores.view({count, h * w, concepts}).max(1)));
    top.add(scores, start);
    if (o.progress) o.progress(clock.progress("concept statistics", start + count, n));
  }
  auto imagesWith = (r.imageStrength > 0).sum(0).to(torch::kDouble);
  auto best = top.result();
  r.concepts.resize(size_t(concepts));
  for (int i = 0; i < concepts; ++i) {
    auto& c = r.concepts[size_t(i)];
    double p = present[i].item<double>();
    c.patchFraction = p / double(std::max<int64_t>(1, n * h * w));
    c.imageFraction = imagesWith[i].item<double>() / double(std::max<int64_t>(1, n));
    c.meanScoreWhenPresent = p > 0 ? presentSum[i].item<double>() / p : 0.0;
    c.top = onePerImage(best[size_t(i)], size_t(o.topPatches));
  }
  if (head && o.influenceImages > 0) addInfluence(r, basis, activations, head, o);
  return r;
}

StabilityCheck checkStability(const ConceptBasis& basis, uint64_t seed,
                              const std::vector<ConceptBasis>& refits,
                              const at::Tensor& activations, double refitSeconds) {
  auto sample = stabilitySample(activations);
  StabilityCheck check;
  check.stability = conceptStability(basis, refits, sample);
  for (size_t r = 1; r <= refits.size(); ++r) check.refitSeeds.push_back(seed + r);
  check.samplePatches = sample.size(0);
  check.refitSeconds = refitSeconds;
  return check;
}

int unstableConcepts(const StabilityCheck& check) {
  return int(std::count_if(check.stability.begin(), check.stability.end(),
                           [](double v) { return v < kUnstableBelow; }));
}

nlohmann::json stabilityCheckJson(const StabilityCheck& check) {
  return {{"refits", check.refitSeeds.size()}, {"refit_seeds", check.refitSeeds},
          {"sample_patches", check.samplePatches}, {"sample_seed", kStabilitySampleSeed},
          {"measure", "lower median over the refits of the IoU of the concept's firing with the "
                      "refit detector it is matched to one to one (Hungarian)"},
          {"unstable_below", kUnstableBelow}, {"unstable_concepts", unstableConcepts(check)},
          {"refit_seconds", check.refitSeconds}};
}

nlohmann::json conceptsToJson(const ConceptReport& r, const PatchGeometry& geometry) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < r.concepts.size(); ++i) {
    const ConceptSummary& c = r.concepts[i];
    nlohmann::json influence = nlohmann::json::array();
    for (size_t k = 0; k < c.influence.size(); ++k) {
      nlohmann::json cell = {{"class", k < r.classes.size() ? r.classes[k] : std::to_string(k)},
                             {"logit_change", c.influence[k]},
                             {"significant", bool(c.significant[k])}};
      if (k < c.probabilityChange.size()) cell["probability_change"] = c.probabilityChange[k];
      // NaN (not tested) is written as null
      cell["p_value"] = std::isnan(c.pValues[k]) ? nlohmann::json() : nlohmann::json(c.pValues[k]);
      if (k < c.influenceQuartiles.size()) cell["logit_change_per_image"] = c.influenceQuartiles[k];
      influence.push_back(cell);
    }
    nlohmann::json top = nlohmann::json::array();
    for (const TopPatch& p : c.top) {
      cv::Rect b = geometry.box(p.row, p.col);
      top.push_back({{"image", p.image}, {"row", p.row}, {"col", p.col}, {"score", p.score},
                     {"box", {b.x, b.y, b.width, b.height}}});
    }
    std::string degenerate = degeneracyReason(c.patchFraction);
    nlohmann::json item = {{"index", i}, {"fraction_present", c.patchFraction},
                           {"degenerate", !degenerate.empty()}, {"degenerate_reason", degenerate},
                           {"image_fraction", c.imageFraction},
                           {"mean_score_when_present", c.meanScoreWhenPresent},
                           {"influence", influence}, {"top_patches", top}};
    if (!std::isnan(c.stability)) {  // only where refits measured it (discover --stability)
      item["stability"] = c.stability;
      item["unstable"] = c.stability < kUnstableBelow;
    }
    list.push_back(item);
  }
  return list;
}

nlohmann::json influenceTestJson(const InfluenceTestInfo& t) {
  return {{"description", t.description}, {"reading", "mean change of the class logit"},
          {"step_sd", t.alpha}, {"null", t.null},
          {"test", t.exact ? "exact z-test" : "empirical null"}, {"null_draws", t.nullDraws},
          {"correction", "Benjamini-Hochberg"}, {"fdr", t.fdr}, {"tests", t.tests},
          {"p_cutoff", t.cutoff}, {"min_effect", t.minEffect}};
}

InfluenceTestInfo influenceTestFromJson(const nlohmann::json& j) {
  InfluenceTestInfo t;
  if (!j.is_object()) return t;
  t.description = j.value("description", "");
  t.null = j.value("null", "pattern");
  t.exact = j.value("test", "") == "exact z-test";
  t.nullDraws = j.value("null_draws", 0);
  t.tests = j.value("tests", 0);
  t.alpha = j.value("step_sd", 0.0);
  t.fdr = j.value("fdr", 0.05);
  t.cutoff = j.value("p_cutoff", -1.0);
  t.minEffect = j.value("min_effect", 0.0);
  return t;
}

ConceptReport conceptsFromJson(const nlohmann::json& list, const std::vector<std::string>& classes) {
  ConceptReport r;
  r.classes = classes;
  for (const auto& item : list) {
    ConceptSummary c;
    c.patchFraction = item.value("fraction_present", 0.0);
    c.imageFraction = item.value("image_fraction", 0.0);
    c.meanScoreWhenPresent = item.value("mean_score_when_present", 0.0);
    auto stability = item.find("stability");
    if (stability != item.end() && stability->is_number()) c.stability = stability->get<double>();
    for (const auto& inf : item.value("influence", nlohmann::json::array())) {
      // A file from before the logit reading has "change" (of probability) and Bonferroni marks:
      // its numbers are kept as probability changes; no logit change (0), unmarked, untested.
      bool legacy = !inf.contains("logit_change");
      c.influence.push_back(legacy ? 0.0f : inf.value("logit_change", 0.0f));
      c.probabilityChange.push_back(legacy ? inf.value("change", 0.0f)
                                           : inf.value("probability_change", 0.0f));
      auto p = inf.find("p_value");
      c.pValues.push_back(legacy || p == inf.end() || p->is_null() ? NAN : p->get<float>());
      c.significant.push_back(!legacy && inf.value("significant", false));
      c.influenceQuartiles.push_back(
          inf.value("logit_change_per_image", std::array<float, 5>{0, 0, 0, 0, 0}));
    }
    for (const auto& p : item.value("top_patches", nlohmann::json::array()))
      c.top.push_back({p.value("image", int64_t(0)), p.value("row", 0), p.value("col", 0),
                       p.value("score", 0.0f)});
    r.concepts.push_back(std::move(c));
  }
  return r;
}

}  // namespace dx

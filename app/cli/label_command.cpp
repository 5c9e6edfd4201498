// directrix-cli label: INVERT formulas for scalar representations (docs/methods.md 2).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "arguments.h"
#include "base/atomic_file.h"
#include "commands.h"
#include "labeling/invert.h"
#include "base/npy.h"
#include "base/stopwatch.h"
#include "labeling/concept_scalars.h"
#include "terminal_progress.h"

namespace dx::cli {
namespace {

// N x R float32 scores, memory-mapped; a 1-D array is one representation. A 4-D array
// (N x C x h x w: a cache's activations.npy, whose channels are then the representations, or
// concept maps) is reduced over space first (docs/methods.md 2: "a channel reduced over space").
// A 3-D array is a transformer cache's class_tokens.npy (N x p x C): each channel of the class
// token is an image-level representation as it stands (p = 1), or reduced over the p tokens.
struct Scores {
  std::unique_ptr<NpyMap> map;
  std::vector<float> reduced;  // filled for 4-D input and for 3-D input with p > 1
  size_t images = 0, representations = 0;
  const float* data() const {
    return reduced.empty() ? reinterpret_cast<const float*>(map->data()) : reduced.data();
  }
};

// N x p x C class tokens -> N x C, the maximum or mean over each image's p tokens.
std::vector<float> reduceClassTokens(const float* tokens, size_t images, size_t perImage,
                                     size_t channels, bool maximum) {
  std::vector<float> out(images * channels);
  for (size_t n = 0; n < images; ++n)
    for (size_t c = 0; c < channels; ++c) {
      const float* first = tokens + n * perImage * channels + c;
      float value = first[0];
      for (size_t t = 1; t < perImage; ++t)
        value = maximum ? std::max(value, first[t * channels]) : value + first[t * channels];
      out[n * channels + c] = maximum ? value : value / float(perImage);
    }
  return out;
}

Scores readScores(const std::string& path, const std::string& reduce) {
  Scores s;
  s.map = std::make_unique<NpyMap>(path);
  const auto& shape = s.map->shape();
  if (s.map->descr() != npy::float32)
    throw UserError(path + ": scores must be float32, found dtype '" + s.map->descr() +
                    "'; save them with numpy's astype(np.float32).");
  if (reduce != "max" && reduce != "mean")
    throw UserError("--reduce takes max or mean, not \"" + reduce + "\".");
  if (shape.size() == 4 && shape[2] * shape[3] > 0) {
    s.reduced = reduceConceptMaps(reinterpret_cast<const float*>(s.map->data()), shape[0],
                                  shape[1], shape[2], shape[3],
                                  reduce == "max" ? SpatialReduction::Max : SpatialReduction::Mean);
  } else if (shape.size() == 3 && shape[1] > 1) {
    s.reduced = reduceClassTokens(reinterpret_cast<const float*>(s.map->data()), shape[0],
                                  shape[1], shape[2], reduce == "max");
  } else if (shape.size() == 3 && shape[1] == 0) {
    throw UserError(path + ": class tokens N x p x C with p = 0 hold no token; give the cache's "
                    "class_tokens.npy of a layer that keeps one.");
  } else if (shape.empty() || shape.size() >= 4) {  // 4-D with h * w = 0 included
    throw UserError(path + ": scores must be N x R (images x representations), N x C x h x w "
                    "maps with at least one position, or a cache's N x p x C class tokens; found "
                    "a " + std::to_string(shape.size()) + "-D array with no usable values.");
  }
  s.images = shape[0];
  s.representations = shape.size() == 3 ? shape[2] : shape.size() >= 2 ? shape[1] : 1;
  const float* v = s.data();
  for (size_t k = 0; k < s.images * s.representations; ++k)
    if (std::isnan(v[k]))
      throw UserError(path + ": the score of image " + std::to_string(k / s.representations) +
                      ", representation " + std::to_string(k % s.representations) +
                      " is NaN; replace NaNs (numpy.nan_to_num) or drop those images.");
  return s;
}

std::vector<std::string> readNames(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot be opened; give a text file with one concept name "
                           "per line.");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  for (size_t j = 0; j < names.size(); ++j)
    if (names[j].empty())
      throw UserError(path + ":" + std::to_string(j + 1) + ": empty concept name; every line "
                      "names one column of the labels.");
  return names;
}

// N x m bool or uint8 (0/1) labels, one column per name.
LabelMatrix readLabels(const std::string& path, size_t images, const std::string& scoresPath,
                       std::vector<std::string> names, const std::string& namesPath) {
  NpyMap map(path);
  const auto& shape = map.shape();
  if (map.descr() != npy::boolean && map.descr() != npy::uint8)
    throw UserError(path + ": labels must be bool or uint8, found dtype '" + map.descr() +
                    "'; save them with numpy's astype(bool).");
  if (shape.size() != 2)
    throw UserError(path + ": labels must be N x m (images x concepts), found " +
                    std::to_string(shape.size()) + " dimensions.");
  if (shape[0] != images)
    throw UserError(path + " has " + std::to_string(shape[0]) + " images (rows) but " +
                    scoresPath + " has " + std::to_string(images) +
                    "; both must list the same images in the same order.");
  if (shape[1] != names.size())
    throw UserError(namesPath + " has " + std::to_string(names.size()) + " names but " + path +
                    " has " + std::to_string(shape[1]) + " concepts (columns); give one name "
                    "per column.");
  for (size_t k = 0; k < images * shape[1]; ++k)
    if (map.data()[k] > 1)
      throw UserError(path + ": label of image " + std::to_string(k / shape[1]) + ", concept " +
                      std::to_string(k % shape[1]) + " is " + std::to_string(map.data()[k]) +
                      "; labels must be 0 or 1.");
  return LabelMatrix::fromDense(map.data(), images, std::move(names));
}

double fraction(const Arguments& a, const std::string& name, double fallback) {
  if (!a.has(name)) return fallback;
  std::string v = a.value(name);
  size_t used = 0;
  double f = -1;
  try {
    f = std::stod(v, &used);
  } catch (const std::exception&) {
  }
  if (used != v.size() || !(f >= 0 && f <= 1))
    throw UserError("--" + name + " expects a number between 0 and 1, got \"" + v + "\".");
  return f;
}

InvertOptions invertOptions(const Arguments& a) {
  InvertOptions o;
  o.length = a.count("length", 3);
  o.beam = a.count("beam", 3);
  if (o.length < 1 || o.beam < 1)
    throw UserError("--length and --beam must be at least 1.");
  o.minFraction = fraction(a, "min-fraction", 0.0);
  o.maxFraction = fraction(a, "max-fraction", 0.5);
  if (o.minFraction > o.maxFraction)
    throw UserError("--min-fraction must not exceed --max-fraction.");
  std::string mode = a.value("mode", "positive");
  if (mode != "positive" && mode != "negative")
    throw UserError("--mode must be positive or negative, got \"" + mode + "\".");
  o.mode = mode == "positive" ? InvertMode::Positive : InvertMode::Negative;
  o.poolLimit = a.count("pool", 0);
  o.threads = static_cast<unsigned>(a.count("threads", 0));
  return o;
}

nlohmann::json formulaJson(const LabeledFormula& f, const std::vector<std::string>& names) {
  nlohmann::json literals = nlohmann::json::array(), connectives = nlohmann::json::array();
  for (const auto& l : f.formula.literals())
    literals.push_back({{"concept", l.concept}, {"name", names[l.concept]},
                        {"negated", l.negated}});
  for (auto c : f.formula.connectives()) connectives.push_back(c == Connective::And ? "AND" : "OR");
  return {{"formula", f.formula.text(names)}, {"length", f.formula.length()}, {"auc", f.auc},
          {"fraction", f.fraction}, {"positives", f.positives}, {"p_value", f.pValue},
          {"literals", literals}, {"connectives", connectives}};
}

void writeJson(const std::string& path, const nlohmann::json& doc) {
  writeFileAtomically(path, doc.dump(2) + "\n");
}

}  // namespace

int runLabel(const std::vector<std::string>& args) {
  Arguments a(args, {"scores", "labels", "names", "length", "beam", "min-fraction",
                     "max-fraction", "mode", "pool", "threads", "reduce", "out"},
              {"quiet"});
  for (const char* required : {"scores", "labels", "names", "out"})
    if (!a.has(required))
      throw UserError(std::string("give --") + required + "; see --help for the label command.");
  InvertOptions options = invertOptions(a);
  Scores scores = readScores(a.value("scores"), a.value("reduce", "max"));
  LabelMatrix labels = readLabels(a.value("labels"), scores.images, a.value("scores"),
                                  readNames(a.value("names")), a.value("names"));
  TerminalProgress bar(!a.has("quiet"));
  options.progress = std::ref(bar);
  installInterruptHandler(options.cancel);
  Stopwatch clock;
  auto beams = labelRepresentations(scores.data(), scores.representations, labels, options);
  nlohmann::json reps = nlohmann::json::array();
  for (size_t r = 0; r < beams.size(); ++r) {
    nlohmann::json formulas = nlohmann::json::array();
    for (const auto& f : beams[r]) formulas.push_back(formulaJson(f, labels.names()));
    reps.push_back({{"index", r}, {"formulas", formulas}});
  }
  nlohmann::json doc = {
      {"format", "directrix-labels"}, {"version", 1}, {"method", "invert"},
      {"scores", a.value("scores")}, {"labels", a.value("labels")}, {"names", a.value("names")},
      {"images", labels.images()}, {"concepts", labels.concepts()}, {"length", options.length},
      {"beam", options.beam}, {"min_fraction", options.minFraction},
      {"max_fraction", options.maxFraction}, {"mode", a.value("mode", "positive")},
      {"pool", options.poolLimit},
      {"auc", "P(score of a positive > score of a negative) + 0.5 P(tie), positives = images "
              "where the formula holds"},
      {"p_value", "two-sided Mann-Whitney U test of positives against negatives, normal "
                  "approximation with tie and continuity corrections (scipy.stats.mannwhitneyu, "
                  "method='asymptotic')"},
      {"seconds", clock.seconds()}, {"representations", reps}};
  writeJson(a.value("out"), doc);
  for (size_t r = 0; r < beams.size() && r < 10; ++r)
    std::cout << "  " << r << ": "
              << (beams[r].empty() ? "(no formula within the fraction bounds)"
                                   : beams[r][0].formula.text(labels.names()) + "  AUC " +
                                         std::to_string(beams[r][0].auc))
              << "\n";
  std::cout << "labeled " << beams.size() << " representations in " << clock.seconds()
            << " s; wrote " << a.value("out") << "\n";
  return 0;
}

}  // namespace dx::cli

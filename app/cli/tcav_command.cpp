// directrix-cli tcav: TCAV (or, with --spatial, SACV) scores of user-defined concepts, given
// as folders of example images, for one class (docs/methods.md 3).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <ATen/ops/cat.h>
#include <nlohmann/json.hpp>

#include "arguments.h"
#include "base/atomic_file.h"
#include "commands.h"
#include "tcav/tcav.h"
#include "activations/image_activations.h"
#include "data/source_factory.h"
#include "base/stopwatch.h"
#include "tcav/tcav_inputs.h"
#include "base/tensor_io.h"
#include "terminal_progress.h"

namespace dx::cli {
namespace {
namespace fs = std::filesystem;

struct Inputs {
  std::shared_ptr<ConceptModel> model;
  std::string layer;
  size_t limit = 0;
  ProgressSink progress;
  CancelToken cancel;
};

// Safe in file names: letters, digits, '-', '_' and '.'; the rest becomes '_'.
std::string fileStem(std::string name) {
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
      ch = '_';
  return name;
}

// Every --random folder, then every sub-folder of --random-sets (random500_0, random500_1, ...
// as the official TCAV code lays them out), in name order.
std::vector<std::string> randomFolders(const Arguments& a) {
  auto dirs = a.values("random");
  if (!a.has("random-sets")) return dirs;
  std::string root = a.value("random-sets");
  if (!fs::is_directory(root))
    throw UserError("--random-sets " + root + ": no such folder; give a folder whose sub-folders "
                    "each hold one set of random images.");
  std::vector<std::string> subs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) subs.push_back(e.path().string());
  std::sort(subs.begin(), subs.end());
  dirs.insert(dirs.end(), subs.begin(), subs.end());
  return dirs;
}

int64_t classIndex(const ModelMeta& meta, const std::string& k) {
  for (size_t i = 0; i < meta.classes.size(); ++i)
    if (meta.classes[i] == k) return int64_t(i);
  if (!k.empty() && k.size() < 10 && k.find_first_not_of("0123456789") == std::string::npos &&
      std::stoull(k) < meta.classes.size())
    return int64_t(std::stoull(k));
  std::string all;
  for (const auto& c : meta.classes) all += (all.empty() ? "" : ", ") + c;
  throw UserError("--class " + k + " is not a class of the model; choose one of: " + all + ".");
}

// The explained class's images at the layer, with their class tokens at a transformer layer (the
// head reads each image's own; undefined elsewhere).
struct ClassSet {
  at::Tensor activations, classTokens;
};

// Without --images: the images of the random sets that the model predicts as class k (random
// images are "any images"; the class's own share of them is what TCAV explains).
ClassSet predictedAmongRandoms(const Inputs& in, const std::vector<NamedActivations>& randoms,
                               int64_t k, std::string& how) {
  std::vector<at::Tensor> picked, tokens;
  for (const auto& set : randoms) {
    auto rows = set.acts.logits.argmax(1).eq(k).nonzero().squeeze(1);
    if (rows.numel() == 0) continue;
    picked.push_back(set.acts.activations.index_select(0, rows));
    if (set.acts.classTokens.defined()) tokens.push_back(set.acts.classTokens.index_select(0, rows));
  }
  if (picked.empty())
    throw UserError("none of the random images is predicted as class " +
                    in.model->meta().classes[size_t(k)] + "; give --images DIR with images of "
                    "the class (a sub-folder named like it, or any images).");
  how = "random images predicted as the class";
  return {at::cat(picked), tokens.empty() ? at::Tensor() : at::cat(tokens)};
}

// The class-k images of --images: those labelled k (a sub-folder named like the class) unless
// --select predicted or no sub-folder has the class's name, then those the model predicts as k.
ClassSet classImages(const Arguments& a, const Inputs& in, int64_t k, std::string& how) {
  std::string select = a.value("select", "");
  if (a.has("select") && select != "labelled" && select != "predicted")
    throw UserError("--select takes labelled or predicted, not \"" + select + "\".");
  auto source = openImageSource(a.value("images"));
  auto all = imageActivations(*in.model, source, in.layer, in.limit, 64, "activations images",
                              in.progress, in.cancel);
  auto rows = classRows(all.labels, source->classNames(), predictedClasses(all),
                        in.model->meta().classes[size_t(k)], k, select, &how, a.value("images"));
  auto chosen = selectRows(all, rows);
  return {chosen.activations, chosen.classTokens};
}

// Fixed directions scored against the random baseline: CAVs saved by an earlier run (--cav,
// reused on new images) and EDDP encoding directions (--encoders).
std::vector<Cav> fixedCavs(const Arguments& a, std::vector<std::string>* sources) {
  std::vector<Cav> out;
  for (std::string stem : a.values("cav")) {
    for (const char* ext : {".npy", ".json"})
      if (stem.size() > 5 && stem.compare(stem.size() - std::strlen(ext), std::string::npos, ext) == 0)
        stem.erase(stem.size() - std::strlen(ext));
    out.push_back(loadCav(stem));
    if (out.back().concept.empty()) out.back().concept = fileStem(stem);
    sources->push_back(stem);
  }
  if (!a.has("encoders")) return out;
  auto e = readNpyTensor(a.value("encoders"));
  if (e.dim() != 2)
    throw UserError(a.value("encoders") + ": expected I x C encoding directions (encoders.npy "
                    "written by directrix-cli discover).");
  ConceptBasis basis{"eddp", e, e.new_zeros({e.size(0)}), e};
  for (int i = 0; i < basis.concepts(); ++i) {
    out.push_back(encoderCav(basis, i, "encoder_" + std::to_string(i)));
    sources->push_back(a.value("encoders"));
  }
  return out;
}

// Writes every CAV as cavs/<stem>.npy + .json and returns the stems relative to `out`.
std::vector<std::string> writeCavs(const std::string& out, const std::string& stem,
                                   const std::vector<Cav>& cavs) {
  std::vector<std::string> names;
  for (size_t r = 0; r < cavs.size(); ++r) {
    std::string rel = "cavs/" + fileStem(stem);
    if (cavs.size() > 1) rel += "_run" + std::to_string(r);
    saveCav(cavs[r], out + "/" + rel);
    names.push_back(rel);
  }
  return names;
}

std::vector<double> accuracies(const std::vector<Cav>& cavs) {
  std::vector<double> out;
  for (const auto& c : cavs) out.push_back(c.heldOutAccuracy);  // NaN -> null in JSON
  return out;
}

double significanceLevel(const std::string& text) {
  size_t used = 0;
  double level = 0;
  try {
    level = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  if (used != text.size() || !(level > 0 && level < 1))
    throw UserError("--significance expects a level between 0 and 1 (e.g. 0.05), got \"" + text +
                    "\".");
  return level;
}

// "A:B" -> indices of the concept sets named A and B (folder names).
std::vector<std::pair<size_t, size_t>> relativePairs(const std::vector<std::string>& specs,
                                                     const std::vector<ConceptSet>& concepts) {
  auto find = [&](const std::string& name, const std::string& spec) {
    for (size_t i = 0; i < concepts.size(); ++i)
      if (concepts[i].name == name) return i;
    throw UserError("--relative " + spec + ": \"" + name + "\" is not one of the --concept "
                    "folders' names.");
  };
  std::vector<std::pair<size_t, size_t>> out;
  for (const auto& spec : specs) {
    auto colon = spec.find(':');
    if (colon == std::string::npos)
      throw UserError("--relative expects A:B, two --concept folder names, got \"" + spec + "\".");
    out.push_back({find(spec.substr(0, colon), spec), find(spec.substr(colon + 1), spec)});
  }
  return out;
}

void requireOptions(const Arguments& a) {
  const std::map<std::string, std::string> needs = {
      {"model", " FILE.pt, a model exported with packaging/export_model.py."},
      {"out", " DIR, the folder that receives scores.json and the CAVs."},
      {"class", " K, the class (name or index) whose predictions are explained."},
  };
  for (const auto& [option, text] : needs)
    if (!a.has(option)) throw UserError("give --" + option + text);
  if (!a.has("random") && !a.has("random-sets"))
    throw UserError("give --random DIR (repeat it, at least twice) or --random-sets DIR (one "
                    "random set per sub-folder): random images, one set per run.");
  if (!a.has("concept") && !a.has("encoders") && !a.has("cav"))
    throw UserError("give --concept DIR (repeat it), folders of images showing each concept, "
                    "--cav FILE.npy saved by an earlier tcav run, or --encoders encoders.npy "
                    "written by directrix-cli discover.");
}

// scores.json without the inputs' description (the caller adds model, layer, class, folders);
// writes the CAVs under out/cavs on the way.
nlohmann::json resultJson(const TcavResult& result, const TcavOptions& o, const std::string& out) {
  nlohmann::json concepts = nlohmann::json::array();
  for (const auto& r : result.concepts)
    concepts.push_back({{"name", r.name}, {"fixed_direction", r.fixed}, {"scores", r.scores},
                        {"mean", r.mean}, {"std", r.std}, {"t", r.t}, {"p_value", r.pValue},
                        {"significant", r.significant}, {"near_chance", r.nearChance},
                        {"undefined_runs", r.undefinedRuns},
                        {"mean_derivatives", r.meanDerivatives},
                        {"held_out_accuracies", accuracies(r.cavs)},
                        {"cavs", writeCavs(out, r.name, r.cavs)}});
  const char* score =
      o.spatial ? "fraction of the class images' concept positions (relevance > 0) whose "
                  "contribution to the class logit is > 0 (SACV, docs/methods.md 3.2)"
                : "fraction of the class images whose class-logit derivative along the CAV is "
                  "> 0 (TCAV, docs/methods.md 3.1)";
  return {{"format", "directrix-tcav"}, {"version", 1}, {"method", o.spatial ? "sacv" : "tcav"},
          {"class_index", result.classIndex}, {"class_images", result.classImages},
          {"classifier", o.cav.classifier},
          {"null_runs", result.randomScores.size()},
          {"null_pairs", "random sets (0, 1), (2, 3), ...: independent random-vs-random runs"},
          {"test", o.welch ? "welch" : "student"},
          {"fixed_direction_test", "normal prediction interval of the random-vs-random scores"},
          {"min_accuracy", o.minAccuracy}, {"significance", o.significance},
          {"bonferroni_threshold", result.threshold},
          {"constant_gradient", result.constantGradient}, {"score", score},
          {"random", {{"scores", result.randomScores},
                      {"mean_derivatives", result.randomMeanDerivatives},
                      {"held_out_accuracies", accuracies(result.randomCavs)},
                      {"cavs", writeCavs(out, "random_vs_random", result.randomCavs)}}},
          {"concepts", concepts}};
}

void printSummary(const TcavResult& result, const nlohmann::json& doc) {
  std::cout << (doc["method"] == "sacv" ? "SACV" : "TCAV") << " for class "
            << doc["class"].get<std::string>() << " (" << result.classImages << " images, layer "
            << doc["layer"].get<std::string>() << ", " << result.randomScores.size()
            << " null runs; random baseline " << nlohmann::json(result.randomScores).dump()
            << ")\n";
  for (const auto& r : result.concepts)
    std::cout << "  " << r.name << ": score " << r.mean << " +- " << r.std << ", p " << r.pValue
              << (r.nearChance             ? "  not tested: its CAVs are near chance\n"
                  : std::isnan(r.pValue) ? "  not tested: significance needs at least 4 random "
                                           "sets (2 independent random-vs-random runs)\n"
                  : r.significant        ? "  significant\n"
                                         : "  not significant\n");
}

// --class-token: CAVs and derivatives on each image's class token, an image-level vector,
// instead of its patch grid. After a ViT's last blocks the classifier reads the class token
// alone (README, "Transformers"), so derivatives along the patches say little there.
void checkClassTokenOptions(const Arguments& a, const Inputs& in, bool spatial) {
  if (!a.has("class-token")) return;
  checkClassTokenRun(*in.model, in.layer, spatial);
  if (a.has("encoders"))
    throw UserError("--class-token and --encoders: EDDP encoding directions live in the patch "
                    "grid, not on the class token; drop one of them.");
}

}  // namespace

int runTcav(const std::vector<std::string>& args) {
  Arguments a(args, {"model", "layer", "concept", "random", "class", "images", "select", "runs",
                     "classifier", "encoders", "limit", "seed", "significance", "device", "out",
                     "random-sets", "cav", "relative"},
              {"spatial", "welch", "quiet", "class-token"});
  requireOptions(a);
  TerminalProgress bar(!a.has("quiet"));
  Inputs in;
  LoadOptions lo;
  lo.device = a.value("device", "auto");
  in.model = ConceptModel::load(a.value("model"), lo);
  const LayerSpec& layer = in.model->layer(a.value("layer"));
  in.layer = layer.name;
  in.limit = a.count("limit", 0);
  in.progress = std::ref(bar);
  installInterruptHandler(in.cancel);
  int64_t k = classIndex(in.model->meta(), a.value("class"));
  TcavOptions o;
  o.cav.classifier = a.value("classifier", "logistic");
  o.cav.seed = a.count("seed", 0);
  o.runs = int(a.count("runs", 0));
  o.spatial = a.has("spatial");
  o.welch = a.has("welch");
  o.earlierLayer = in.model->meta().layerBefore(in.layer);
  o.significance = significanceLevel(a.value("significance", "0.05"));
  o.progress = in.progress;
  o.cancel = in.cancel;
  std::vector<std::string> conceptDirs = a.values("concept"), randomDirs = randomFolders(a);
  if (randomDirs.size() < 2 || (o.runs > 0 && size_t(o.runs) > randomDirs.size()))
    throw UserError("give at least 2 random folders, and one per run (" +
                    std::to_string(randomDirs.size()) + " given): repeat --random DIR or use "
                    "--random-sets DIR with one sub-folder per set.");
  Stopwatch clock;
  std::string selection;
  const bool onClassToken = a.has("class-token");
  checkClassTokenOptions(a, in, o.spatial);
  auto concepts = tcavSets(
      folderActivations(*in.model, conceptDirs, in.layer, in.limit, in.progress, in.cancel),
      onClassToken);
  auto randomActs =
      folderActivations(*in.model, randomDirs, in.layer, in.limit, in.progress, in.cancel);
  auto randoms = tcavSets(randomActs, onClassToken);
  auto classSet = a.has("images") ? classImages(a, in, k, selection)
                                  : predictedAmongRandoms(in, randomActs, k, selection);
  std::vector<std::string> fixedSources;
  auto fixed = fixedCavs(a, &fixedSources);
  o.relative = relativePairs(a.values("relative"), concepts);
  // At a transformer layer the head pairs each class image with its own class tokens (or, on
  // the class token, with its own patch grid).
  auto result =
      onClassToken
          ? runTcav(in.model->classTokenHead(in.layer, classSet.activations),
                    classTokenVectors(classSet.classTokens), k, concepts, randoms, fixed, o)
          : runTcav(in.model->headFunction(in.layer, classSet.classTokens), classSet.activations,
                    k, concepts, randoms, fixed, o);
  if (result.constantGradient && !o.spatial)
    std::cerr << "note: every class image has the same gradient at " << in.layer
              << (onClassToken ? " (the logit is linear in the class token there)"
                               : " (head_" + in.layer + " is linear after pooling)")
              << ", so each run scores 0 or 1; an earlier layer gives per-image scores.\n";

  std::string out = a.value("out");
  std::error_code ec;
  fs::create_directories(out + "/cavs", ec);
  if (ec) throwWriteError(out + "/cavs", ec.value());
  auto doc = resultJson(result, o, out);
  doc["runs"] = o.runs > 0 ? size_t(o.runs) : randomDirs.size();  // runs per trained concept
  const size_t trained = conceptDirs.size() + o.relative.size();
  for (size_t c = 0; c < result.concepts.size(); ++c)
    doc["concepts"][c]["folder"] =
        c < conceptDirs.size() ? conceptDirs[c]
        : c < trained          ? conceptDirs[o.relative[c - conceptDirs.size()].first] + " vs " +
                                     conceptDirs[o.relative[c - conceptDirs.size()].second]
        : c - trained < fixedSources.size() ? fixedSources[c - trained]
                                            : std::string();
  doc.update({{"model", in.model->path()}, {"layer", in.layer},
              {"class", in.model->meta().classes[size_t(k)]}, {"class_selection", selection},
              {"vector", onClassToken ? "class token" : "patch grid"},
              {"seconds", clock.seconds()}});
  writeFileAtomically(out + "/scores.json", doc.dump(2) + "\n");  // last: marks the folder done
  printSummary(result, doc);
  std::cout << "wrote " << out << "/scores.json in " << clock.seconds() << " s\n";
  return 0;
}

}  // namespace dx::cli

// Concept discovery against ConceptWorld's ground truth: for EDDP and every baseline, Network
// Dissection IoU of each detector with the 16 concept masks, S1 and S2 (docs/methods.md 1.7), and
// the watermark scenario (find the watermark concept, its influence on the class it was tied to in
// training, accuracy on watermarked images before/after switching it off). As the paper does,
// concepts are fitted on the train split and scored on the test split (held-out IoU);
// --fit-on test fits on the scored images instead. Every dissection is followed by its chance
// level: random directions firing on the same shares as the method's detectors (dx::chanceBasis).
// Command line: kUsage, above main().
// --verbose 1 lists every detector (label, IoU, the share of pixels it and its label cover), then
// every concept (its share, its best detector and that detector's label).
// --score scores saved concept folders instead of fitting (decoders.npy, biases.npy and
// encoders.npy of the layer, as `directrix-cli discover --out` writes them, or as any other tool
// may write them), so that concepts found elsewhere are scored by the same dissection; the
// fitting options (--methods, --preset, --concepts, --seed, --fit-on, --train-count) are then
// unused.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/concept_model.h"
#include "bench_args.h"
#include "discovery/concept_method.h"
#include "model/head_module.h"
#include "conceptworld/conceptworld_eval.h"
#include "data/demo.h"
#include "activations/extractor.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"

namespace {

dx::ActivationCache extract(std::shared_ptr<const dx::ConceptModel> model,
                            const dx::ConceptWorldSpec& spec, const std::string& layer,
                            const std::string& dir) {
  dx::ExtractionRequest r;
  r.model = model;
  r.source = std::make_shared<dx::ConceptWorld>(spec);
  r.layer = layer;
  r.outDir = dir;
  return dx::ActivationCache(dx::extractActivations(r).dir);
}

void printDissection(const std::vector<std::string>& concepts, const dx::Dissection::Result& d) {
  std::printf("  S1 %.2f  S2 %.2f   best detector IoU per concept:", d.s1, d.s2);
  for (size_t c = 0; c < concepts.size(); ++c) {
    int best = d.bestDetectorFor(int(c));
    std::printf(" %s %.2f", concepts[c].c_str(),
                best < 0 ? 0.0 : d.iou[best][int64_t(c)].item<float>());
  }
  std::printf("\n");
}

// --verbose 1: every detector, best first, with the share of pixels it fires on beside its
// label's (a detector far smaller or larger than its concept's mask cannot reach a high IoU);
// then every concept's share and the detector that overlaps it best.
void printDetectors(const std::vector<std::string>& concepts, const dx::Dissection::Result& d) {
  std::vector<int> order(d.bestIou.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(),
                   [&d](int a, int b) { return d.bestIou[a] > d.bestIou[b]; });
  for (int i : order) {
    int label = d.label[size_t(i)];
    std::printf("    detector %2d: %-12s IoU %.2f, fires on %5.1f%% of pixels (%s: %5.1f%%)\n", i,
                concepts[size_t(label)].c_str(), d.bestIou[size_t(i)], 100 * d.firedShare[size_t(i)],
                concepts[size_t(label)].c_str(), 100 * d.conceptShare[size_t(label)]);
  }
  std::printf("    each concept: share of pixels, its best detector (that detector's own label)\n");
  for (size_t c = 0; c < concepts.size(); ++c) {
    int best = d.bestDetectorFor(int(c));
    std::printf("    %-12s %5.1f%%  ", concepts[c].c_str(), 100 * d.conceptShare[c]);
    if (best < 0) std::printf("no detector overlaps it\n");
    else
      std::printf("detector %2d, IoU %.2f (%s)\n", best, d.iou[best][int64_t(c)].item<float>(),
                  concepts[size_t(d.label[size_t(best)])].c_str());
  }
}

std::string shapeOf(const at::Tensor& t) {
  std::string s;
  for (auto size : t.sizes()) s += (s.empty() ? "" : " x ") + std::to_string(size);
  return s.empty() ? "a scalar" : s;
}

// A saved concept folder (--score) as a basis of `channels` channels (the scored layer's).
dx::ConceptBasis savedBasis(const std::string& dir, int64_t channels) {
  for (const char* file : {"decoders.npy", "biases.npy", "encoders.npy"})
    if (!std::filesystem::exists(std::filesystem::path(dir) / file))
      throw std::runtime_error(dir + " has no " + file + ": give --score folders written by "
                               "`directrix-cli discover --out` (or holding the same three files).");
  dx::ConceptBasis basis{dir, dx::readNpyTensor(dir + "/decoders.npy"),
                         dx::readNpyTensor(dir + "/biases.npy"),
                         dx::readNpyTensor(dir + "/encoders.npy")};
  const auto& w = basis.decoders;
  if (w.dim() != 2 || w.size(0) < 1 || w.size(1) != channels ||
      !basis.encoders.sizes().equals(w.sizes()) || basis.biases.dim() != 1 ||
      basis.biases.size(0) != w.size(0))
    throw std::runtime_error(
        dir + ": decoders.npy is " + shapeOf(w) + ", encoders.npy " + shapeOf(basis.encoders) +
        ", biases.npy " + shapeOf(basis.biases) + "; this layer needs I x " +
        std::to_string(channels) + ", I x " + std::to_string(channels) + " and I (I >= 1). " +
        "Fit the concepts at this --layer, or pass the --layer they were fitted at.");
  for (auto* t : {&basis.decoders, &basis.biases, &basis.encoders})
    *t = t->to(at::kFloat).contiguous();
  return basis;
}

// S1 / S2 of random directions firing on the same shares of the scored patches as the method's
// detectors (dx::chanceBasis), over kChanceDraws seeds, and how far the method lies above them.
constexpr int kChanceDraws = 5;
void printChance(const dx::ConceptWorld& world, const dx::ConceptBasis& basis,
                 const dx::ActivationCache& scored, const dx::Dissection::Result& method) {
  auto patches = dx::patchesOf(dx::readNpyTensor(scored.dir() + "/activations.npy"))
                     .to(basis.decoders.device());
  double s1 = 0, s2 = 0, s1Low = INFINITY, s1High = 0, s2Low = INFINITY, s2High = 0;
  for (int draw = 1; draw <= kChanceDraws; ++draw) {
    auto chance = dx::chanceBasis(basis, patches, uint64_t(draw));
    auto r = dx::dissectConceptWorld(world, chance, scored);
    s1 += r.s1 / kChanceDraws, s2 += r.s2 / kChanceDraws;
    s1Low = std::min(s1Low, r.s1), s1High = std::max(s1High, r.s1);
    s2Low = std::min(s2Low, r.s2), s2High = std::max(s2High, r.s2);
  }
  std::printf("  chance (random directions at the same shares, %d draws): S1 %.2f (%.2f-%.2f)  "
              "S2 %.2f (%.2f-%.2f); above chance: S1 %+.2f  S2 %+.2f\n",
              kChanceDraws, s1, s1Low, s1High, s2, s2Low, s2High, method.s1 - s1, method.s2 - s2);
}

}  // namespace

constexpr char kUsage[] =
    "usage: conceptworld_eval [--model M] [--layer block4] [--count 1000] [--concepts 32]\n"
    "       [--methods eddp,pca,...] [--preset balanced] [--seed S] [--work DIR]\n"
    "       [--fit-on train|test] [--train-count 2000] [--verbose 1]\n"
    "       [--score DIR[,DIR...]]\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  dx::bench::requirePairs(argc, argv);
  std::map<std::string, std::string> opt{{"--model", ""}, {"--layer", "block4"},
                                         {"--count", "1000"}, {"--concepts", "32"},
                                         {"--methods", "eddp,pca,nmf,kmeans,spherical-kmeans,sae"},
                                         {"--preset", "balanced"}, {"--seed", "0"}, {"--work", ""},
                                         {"--fit-on", "train"}, {"--train-count", "2000"},
                                         {"--verbose", "0"}, {"--score", ""}};
  for (int i = 1; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
  try {
    dx::configureTorchThreads();
    std::string modelPath = opt["--model"].empty() ? dx::conceptWorldModelPath() : opt["--model"];
    auto model = dx::ConceptModel::load(modelPath);
    std::string work = opt["--work"].empty()
                           ? (std::filesystem::temp_directory_path() / "conceptworld-eval").string()
                           : opt["--work"];
    dx::ConceptWorldSpec mixed = dx::conceptWorldDefaults(dx::ConceptWorldSpec::Test);
    mixed.count = std::stoul(opt["--count"]);
    dx::ConceptWorldSpec marked = mixed, clean = mixed;
    marked.testRate = 1.0;
    clean.watermark = false;
    const std::string layer = opt["--layer"];
    auto mixedCache = extract(model, mixed, layer, work + "/mixed");
    auto markedCache = extract(model, marked, layer, work + "/marked");
    auto cleanCache = extract(model, clean, layer, work + "/clean");
    dx::ConceptWorld world(mixed);
    auto head = dx::loadHeadModule(modelPath, model->layer(layer).name);
    std::string fitDir = mixedCache.dir();
    if (opt["--fit-on"] == "train" && opt["--score"].empty()) {
      dx::ConceptWorldSpec train = dx::conceptWorldDefaults(dx::ConceptWorldSpec::Train);
      train.count = std::stoul(opt["--train-count"]);
      fitDir = extract(model, train, layer, work + "/train").dir();
      std::printf("concepts fitted on %zu train-split images, scored on the test split\n",
                  train.count);
    }
    const auto& shape = mixedCache.activations().shape();
    std::printf("ConceptWorld test split, %zu images (half watermarked), layer %s (%zu x %zu x %zu)\n",
                mixed.count, layer.c_str(), shape[1], shape[2], shape[3]);
    struct Scored {
      std::string name;
      dx::ConceptBasis basis;
      double fitSeconds = 0;
      bool saved = false;  // read from a folder (--score), not fitted
    };
    auto score = [&](const Scored& scored) {
      const auto& [name, basis, fitSeconds, saved] = scored;
      const std::string preset = opt["--preset"];
      auto d = dx::dissectConceptWorld(world, basis, mixedCache);
      auto q = dx::dissectConceptWorld(world, basis, mixedCache, 0.005);
      auto w = dx::studyWatermark(world, basis, head, d, markedCache, cleanCache);
      if (saved) std::printf("%s (saved concepts)\n", name.c_str());
      else std::printf("%s (fit %.1f s)\n", name.c_str(), fitSeconds);
      if (!basis.choice.preset.empty()) {  // the adaptive preset: which fit it ran, and why
        std::printf("  %s fitted %s: k-means agreement %.3f", preset.c_str(),
                    basis.choice.preset.c_str(), basis.choice.agreement);
        if (std::isfinite(basis.choice.valleyAgreement))
          std::printf(", ica-valley agreement %.3f, unclaimed %.3f", basis.choice.valleyAgreement,
                      basis.choice.unclaimed);
        std::printf("\n");
      }
      std::printf("  at each detector's boundary (w.x - b > 0):\n");
      printDissection(world.conceptNames(), d);
      printChance(world, basis, mixedCache, d);
      if (opt["--verbose"] == "1") printDetectors(world.conceptNames(), d);
      std::printf("  at each detector's top 0.5%% of patches (Network Dissection):\n");
      printDissection(world.conceptNames(), q);
      std::printf("  watermark: concept %d, IoU %.2f, influence on %s %+.4f (p %.2g%s); "
                  "accuracy on watermarked images of other classes %.3f -> %.3f (%lld images, "
                  "%.3f without the mark); "
                  "clean %s %.3f -> %.3f\n",
                  w.detector, w.iou, world.classNames()[size_t(mixed.watermarkClass)].c_str(),
                  w.influence, w.pValue, w.significant ? ", significant" : "", w.accuracyBefore,
                  w.accuracyAfter, static_cast<long long>(w.images), w.cleanAccuracy,
                  world.classNames()[size_t(mixed.watermarkClass)].c_str(),
                  w.cleanClassAccuracyBefore, w.cleanClassAccuracyAfter);
      std::fflush(stdout);
    };
    if (!opt["--score"].empty()) {
      std::vector<Scored> folders;  // every folder read and checked before any is scored
      for (const auto& dir : dx::bench::splitList(opt["--score"]))
        folders.push_back({dir, savedBasis(dir, int64_t(shape[1])), 0, true});
      for (const auto& folder : folders) score(folder);
      return 0;
    }
    auto activations = dx::readNpyTensor(fitDir + "/activations.npy");
    for (const auto& name : dx::bench::splitList(opt["--methods"])) {
      dx::FitOptions o;
      o.concepts = std::stoi(opt["--concepts"]);
      o.seed = std::stoull(opt["--seed"]);
      o.preset = opt["--preset"];
      o.head = head;
      dx::Stopwatch clock;
      auto basis = dx::makeConceptMethod(name)->fit(activations, o);
      double seconds = clock.seconds();
      score({name, std::move(basis), seconds});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conceptworld_eval: %s\n", e.what());
    return 1;
  }
  return 0;
}

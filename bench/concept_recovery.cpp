// How well each concept method recovers the known concepts of the synthetic direction-pair data
// (docs/methods.md 1.7): detector IoU and encoder cosine after matching, and fit time; for EDDP
// also what each detector reads in the generator's coordinates.
// Command line: kUsage, above main().
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <sstream>

#include "bench_args.h"
#include "discovery/concept_method.h"
#include "discovery/synthetic_pairs.h"
#include "base/tensor_io.h"

namespace {

// What each matched detector reads, in the generator's coordinates: w . s_k for every true
// encoding direction and w . d_f for every distractor, divided by w . s_i. Exact filters read
// 1 for their own concept and 0 elsewhere; a filter reading a_i - 0.5 (a_j + a_k) separates the
// concepts almost as well (IoU ~0.96) but its positives-only signal vector mixes the same way.
void printReadings(const dx::SyntheticPairs& data, const dx::ConceptBasis& b,
                   const std::vector<int64_t>& match) {
  auto directions = torch::cat({data.encoders, data.distractors});
  for (size_t i = 0; i < match.size(); ++i) {
    auto reads = directions.matmul(b.decoders[match[i]]);
    reads = reads / reads[int64_t(i)];
    std::printf("    detector for concept %zu reads", i);
    for (int64_t k = 0; k < reads.size(0); ++k)
      std::printf(" %+.2f %s%lld", reads[k].item<double>(), k < data.encoders.size(0) ? "a" : "d",
                  static_cast<long long>(k < data.encoders.size(0) ? k : k - data.encoders.size(0)));
    std::printf("\n");
  }
}

void report(const std::string& label, const dx::SyntheticPairs& data, const dx::ConceptBasis& b,
            double seconds, bool readings) {
  std::vector<int64_t> match;
  auto iou = dx::matchedDetectorIou(dx::conceptScores(b, dx::patchesOf(data.activations)),
                                    data.present, &match);
  std::printf("%-22s %7.2f s  IoU", label.c_str(), seconds);
  for (int64_t i = 0; i < iou.size(0); ++i) std::printf(" %.3f", iou[i].item<double>());
  std::printf("   encoder cos");
  double mean = 0;
  for (int64_t i = 0; i < iou.size(0); ++i) {
    double c = torch::cosine_similarity(data.encoders[i], b.encoders[match[size_t(i)]], 0)
                   .item<double>();
    mean += c / double(iou.size(0));
    std::printf(" %.3f", c);
  }
  std::printf("  (mean %.3f)\n", mean);
  if (readings) printReadings(data, b, match);
}

}  // namespace

constexpr char kUsage[] =
    "usage: concept_recovery [--seed S] [--methods eddp,pca,...] [--presets quick,paper]\n"
    "       [--absent-max 2.5] [--present-min 2.5] (latent factor ranges, see SyntheticPairsSpec)\n"
    "       [--dump DIR] (writes the data and every fitted basis as .npy)\n"
    "       [--verbose 1] (fit progress)\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  dx::bench::requirePairs(argc, argv);
  uint64_t seed = 0;
  std::string methods = "eddp,pca,nmf,kmeans,spherical-kmeans,sae", presets = "quick,paper";
  bool verbose = false;
  dx::SyntheticPairsSpec spec;
  std::string dump;  // folder: writes the data and every fitted basis as .npy for inspection
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seed") seed = std::stoull(argv[i + 1]);
    else if (a == "--methods") methods = argv[i + 1];
    else if (a == "--presets") presets = argv[i + 1];
    else if (a == "--verbose") verbose = std::string(argv[i + 1]) == "1";
    else if (a == "--dump") dump = argv[i + 1];
    else if (a == "--absent-max") spec.absentMax = std::stod(argv[i + 1]);
    else if (a == "--present-min") spec.presentMin = std::stod(argv[i + 1]);
  }
  spec.seed = seed;
  auto data = dx::makeSyntheticPairs(spec);
  std::printf("synthetic pairs: D=%d I=%d F=%d, a ~ U(0, %g) absent / U(%g, 5) present, %lld "
              "images, linear head accuracy %.3f\n",
              spec.dims, spec.concepts, spec.distractors, spec.absentMax, spec.presentMin,
              static_cast<long long>(data.activations.size(0)), data.headAccuracy);
  dx::ConceptBasis truth{"truth", data.decoders, data.biases, data.encoders};
  report("true directions", data, truth, 0, false);
  if (!dump.empty()) {
    std::filesystem::create_directories(dump);
    dx::writeNpyTensor(dump + "/patches.npy", dx::patchesOf(data.activations));
    dx::writeNpyTensor(dump + "/encoders_true.npy", data.encoders);
    dx::writeNpyTensor(dump + "/distractors_true.npy", data.distractors);
    dx::writeNpyTensor(dump + "/present.npy", data.present.to(torch::kFloat));
    dx::writeNpyTensor(dump + "/head_w.npy", data.headWeight);
  }
  for (const auto& m : dx::bench::splitList(methods)) {
    auto presetList = m == "eddp" ? dx::bench::splitList(presets) : std::vector<std::string>{"-"};
    for (const auto& preset : presetList) {
      dx::FitOptions o;
      o.concepts = spec.concepts;
      o.seed = seed;
      o.preset = preset == "-" ? "balanced" : preset;
      o.head = data.head();
      if (verbose)
        o.progress = [](const dx::Progress& p) { std::printf("  %s\n", p.stage.c_str()); };
      auto start = std::chrono::steady_clock::now();
      auto basis = dx::makeConceptMethod(m)->fit(data.activations, o);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      report(m + (preset == "-" ? "" : " " + preset), data, basis, s, m == "eddp");
      if (!dump.empty()) {
        std::string stem = dump + "/" + m + (preset == "-" ? "" : "_" + preset);
        dx::writeNpyTensor(stem + "_decoders.npy", basis.decoders);
        dx::writeNpyTensor(stem + "_biases.npy", basis.biases);
        dx::writeNpyTensor(stem + "_encoders.npy", basis.encoders);
      }
    }
  }
  return 0;
}

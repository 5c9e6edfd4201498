// How well each concept method recovers the known concepts of the synthetic direction-pair data
// (METHODS.md 1.7): detector IoU and encoder cosine after matching, and fit time.
// usage: concept_recovery [--seed S] [--methods eddp,pca,...] [--presets quick,paper]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "bench_args.h"
#include "concepts/concept_method.h"
#include "concepts/signal_vectors.h"
#include "concepts/synthetic_pairs.h"

namespace {

void report(const std::string& label, const cs::SyntheticPairs& data, const cs::ConceptBasis& b,
            double seconds) {
  std::vector<int64_t> match;
  auto iou = cs::matchedDetectorIou(cs::conceptScores(b, cs::patchesOf(data.activations)),
                                    data.present, &match);
  std::printf("%-22s %7.2f s  IoU", label.c_str(), seconds);
  for (int64_t i = 0; i < iou.size(0); ++i) std::printf(" %.3f", iou[i].item<double>());
  std::printf("   encoder cos");
  for (int64_t i = 0; i < iou.size(0); ++i)
    std::printf(" %.3f", torch::cosine_similarity(data.encoders[i], b.encoders[match[size_t(i)]], 0)
                             .item<double>());
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 0;
  std::string methods = "eddp,pca,nmf,kmeans,spherical-kmeans,sae", presets = "quick,paper";
  bool verbose = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seed") seed = std::stoull(argv[i + 1]);
    else if (a == "--methods") methods = argv[i + 1];
    else if (a == "--presets") presets = argv[i + 1];
    else if (a == "--verbose") verbose = std::string(argv[i + 1]) == "1";
  }
  cs::SyntheticPairsSpec spec;
  spec.seed = seed;
  auto data = cs::makeSyntheticPairs(spec);
  std::printf("synthetic pairs: D=%d I=%d F=%d, %lld images, linear head accuracy %.3f\n",
              spec.dims, spec.concepts, spec.distractors,
              static_cast<long long>(data.activations.size(0)), data.headAccuracy);
  cs::ConceptBasis truth{"truth", data.decoders, data.biases, data.encoders};
  report("true directions", data, truth, 0);
  for (const auto& m : cs::bench::splitList(methods)) {
    auto presetList = m == "eddp" ? cs::bench::splitList(presets) : std::vector<std::string>{"-"};
    for (const auto& preset : presetList) {
      cs::FitOptions o;
      o.concepts = spec.concepts;
      o.seed = seed;
      o.preset = preset == "-" ? "quick" : preset;
      o.head = data.head();
      if (verbose)
        o.progress = [](const cs::Progress& p) { std::printf("  %s\n", p.stage.c_str()); };
      auto start = std::chrono::steady_clock::now();
      auto basis = cs::makeConceptMethod(m)->fit(data.activations, o);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      report(m + (preset == "-" ? "" : " " + preset), data, basis, s);
      if (m == "eddp") {  // the encoders stage (c) alone would give, for comparison
        auto signals = cs::eddp::positiveSignalVectors(cs::patchesOf(data.activations),
                                                       basis.decoders, basis.biases);
        report("  its stage-c signals", data, {"c", basis.decoders, basis.biases, signals}, 0);
      }
    }
  }
  return 0;
}

// conceptscope-cli discover: concept directions from cached activations (METHODS.md 1).
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "activation_cache.h"
#include "arguments.h"
#include "commands.h"
#include "concepts/concept_method.h"
#include "concepts/head_module.h"
#include "stopwatch.h"
#include "tensor_io.h"
#include "terminal_progress.h"

namespace cs::cli {
namespace {

struct Input {
  at::Tensor activations;
  std::string layer, source;
};

Input readInput(const Arguments& a) {
  if (a.has("activations") == a.has("cache"))
    throw UserError("give either --activations A.npy (N x C x h x w float32) or --cache DIR "
                    "(made by conceptscope-cli extract).");
  Input in;
  in.layer = a.value("layer");
  if (a.has("cache")) {
    ActivationCache cache(a.value("cache"));
    if (in.layer.empty()) in.layer = cache.layer();
    in.source = a.value("cache") + "/activations.npy";
  } else {
    in.source = a.value("activations");
  }
  in.activations = readNpyTensor(in.source);
  return in;
}

nlohmann::json conceptTable(const ConceptBasis& basis, const at::Tensor& activations) {
  auto scores = conceptScores(basis, patchesOf(activations));
  auto present = scores.gt(0);
  auto fraction = present.to(at::kDouble).mean(0);
  nlohmann::json list = nlohmann::json::array();
  for (int i = 0; i < basis.concepts(); ++i) {
    auto mine = scores.select(1, i).masked_select(present.select(1, i));
    list.push_back({{"index", i},
                    {"fraction_present", fraction[i].item<double>()},
                    {"mean_score_when_present",
                     mine.numel() ? mine.mean().item<double>() : 0.0},
                    {"decoder_norm", basis.decoders[i].norm().item<double>()}});
  }
  return list;
}

}  // namespace

int runDiscover(const std::vector<std::string>& args) {
  Arguments a(args, {"activations", "cache", "head", "layer", "concepts", "method", "preset",
                     "seed", "out"},
              {"quiet"});
  if (!a.has("out")) throw UserError("give --out DIR, the folder that receives the concepts.");
  if (!a.has("concepts")) throw UserError("give --concepts I, the number of concepts to find.");
  Input in = readInput(a);
  auto method = makeConceptMethod(a.value("method", "eddp"));
  FitOptions options;
  options.concepts = static_cast<int>(a.count("concepts", 8));
  options.seed = a.count("seed", 0);
  options.preset = a.value("preset", "quick");
  if (a.has("head")) options.head = loadHeadModule(a.value("head"), in.layer);
  TerminalProgress bar(!a.has("quiet"));
  options.progress = std::ref(bar);
  installInterruptHandler(options.cancel);
  Stopwatch clock;
  ConceptBasis basis = method->fit(in.activations, options);
  std::string out = a.value("out");
  std::filesystem::create_directories(out);
  writeNpyTensor(out + "/decoders.npy", basis.decoders);
  writeNpyTensor(out + "/biases.npy", basis.biases);
  writeNpyTensor(out + "/encoders.npy", basis.encoders);
  nlohmann::json doc = {{"format", "conceptscope-concepts"}, {"version", 1},
                        {"method", method->name()}, {"preset", options.preset},
                        {"seed", options.seed}, {"activations", in.source}, {"layer", in.layer},
                        {"decoder", method->decoderMeaning()}, {"encoder", method->encoderMeaning()},
                        {"rule", "concept i is present at patch x when decoders[i].x - biases[i] > 0"},
                        {"seconds", clock.seconds()},
                        {"concepts", conceptTable(basis, in.activations)}};
  std::ofstream(out + "/concepts.json") << doc.dump(2) << "\n";
  std::cout << "wrote " << basis.concepts() << " " << method->name() << " concepts to " << out
            << " in " << clock.seconds() << " s\n";
  return 0;
}

}  // namespace cs::cli

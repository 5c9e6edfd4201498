// directrix-cli visualize: renders one concept of a concept folder as the image that drives it
// (core/visualization/feature_visualization.h, docs/methods.md 1.8).
#include <filesystem>
#include <fstream>
#include <iostream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "arguments.h"
#include "base/tensor_io.h"
#include "commands.h"
#include "model/concept_model.h"
#include "terminal_progress.h"
#include "visualization/feature_visualization.h"

namespace dx::cli {
namespace {
namespace fs = std::filesystem;

struct ConceptDirection {
  std::string layer;
  at::Tensor decoder, encoder;
  double bias = 0;
  double strongestRealPatch = std::nan("");  // the top patch's detector value, when recorded
};

ConceptDirection readConcept(const std::string& dir, size_t index) {
  std::ifstream in(dir + "/concepts.json");
  if (!in)
    throw UserError(dir + " has no concepts.json: give --concepts the folder written by "
                    "`directrix-cli discover` (or saved by the app).");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw UserError(dir + "/concepts.json is not valid JSON (" + e.what() + "); run discover again.");
  }
  ConceptDirection c;
  c.layer = doc.value("layer", "");
  auto decoders = readNpyTensor(dir + "/decoders.npy");
  auto encoders = readNpyTensor(dir + "/encoders.npy");
  auto biases = readNpyTensor(dir + "/biases.npy");
  if (index >= size_t(decoders.size(0)))
    throw UserError(dir + " holds " + std::to_string(decoders.size(0)) + " concepts; choose "
                    "--concept between 0 and " + std::to_string(decoders.size(0) - 1) + ".");
  c.decoder = decoders[int64_t(index)].to(at::kFloat);
  c.encoder = encoders[int64_t(index)].to(at::kFloat);
  c.bias = biases[int64_t(index)].item<double>();
  const auto& concepts = doc.value("concepts", nlohmann::json::array());
  if (index < concepts.size()) {
    const auto& top = concepts[index].value("top_patches", nlohmann::json::array());
    if (!top.empty()) c.strongestRealPatch = top[0].value("score", std::nan(""));
  }
  return c;
}

}  // namespace

int runVisualize(const std::vector<std::string>& args) {
  Arguments a(args, {"model", "device", "concepts", "concept", "out", "direction", "steps", "size",
                     "seed", "images", "colour-images"},
              {"demo", "quiet"});
  if (!a.has("concepts")) throw UserError("give --concepts DIR, a folder written by discover.");
  if (!a.has("concept")) throw UserError("give --concept I, the concept's index in that folder.");
  if (!a.has("out")) throw UserError("give --out FILE.png, where the rendering is written.");
  std::string direction = a.value("direction", "decoder");
  if (direction != "decoder" && direction != "encoder")
    throw UserError("--direction is decoder (the detector w.x - b) or encoder (movement along "
                    "the signal vector s), not \"" + direction + "\".");
  auto model = openModel(a);
  auto concept = readConcept(a.value("concepts"), a.count("concept", 0));
  RenderOptions options;
  options.steps = int(a.count("steps", size_t(options.steps)));
  options.size = int(a.count("size", 0));
  options.seed = a.count("seed", 0);
  if (a.has("images") || a.has("demo")) {
    auto source = openImages(a);
    options.colourCovariance = colourCovariance(*model, sampleImages(*source, a.count("colour-images", 256)));
  }
  installInterruptHandler(options.cancel);
  TerminalProgress bar(!a.has("quiet"));
  options.progress = std::ref(bar);
  bool alongDecoder = direction == "decoder";
  auto dir = alongDecoder ? concept.decoder : concept.encoder / concept.encoder.norm().clamp_min(1e-12);
  auto r = renderDirection(*model, concept.layer, dir, alongDecoder ? concept.bias : 0.0, options);
  fs::path out = a.value("out");
  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  bool written = false;
  try {
    written = cv::imwrite(out.string(), r.image);
  } catch (const cv::Exception&) {
  }
  if (!written)
    throw UserError(out.string() + ": cannot be written (use a .png or .jpg name in a writable "
                    "folder with free space).");
  double detector = detectorAtCentre(*model, concept.layer, r.input, concept.decoder, concept.bias);
  std::cout << "wrote: " << out.string() << " (" << r.image.cols << " x " << r.image.rows
            << ", " << options.steps << " steps, " << r.seconds << " s)\n"
            << "  concept " << a.value("concept") << " at layer " << concept.layer << ", along the "
            << (alongDecoder ? "decoder (detector)" : "encoder (signal vector)") << "\n"
            << "  detector w.x - b at the centre patch: " << detector;
  if (!std::isnan(concept.strongestRealPatch))
    std::cout << " (strongest real patch " << concept.strongestRealPatch << ", ratio "
              << detector / concept.strongestRealPatch << ")";
  std::cout << "\n";
  if (!options.colourCovariance.defined() && model->meta().input.channels() == 3)
    std::cout << "  colour: channels uncorrelated (give --images for the data's colour "
                 "statistics)\n";
  return 0;
}

}  // namespace dx::cli

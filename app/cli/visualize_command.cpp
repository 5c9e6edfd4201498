// directrix-cli visualize: renders one concept of a concept folder as the image that drives it
// (core/visualization/feature_visualization.h, docs/methods.md 1.8).
#include <filesystem>
#include <fstream>
#include <iostream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "analysis/concept_set_files.h"
#include "arguments.h"
#include "base/atomic_file.h"
#include "base/tensor_io.h"
#include "commands.h"
#include "model/concept_model.h"
#include "terminal_progress.h"
#include "visualization/concept_rendering.h"

namespace dx::cli {
namespace {
namespace fs = std::filesystem;

struct ConceptDirection {
  std::string layer;
  ConceptDirections directions;
  double strongestRealPatch = std::nan("");  // the top patch's detector value, when recorded
};

ConceptDirection readConcept(const std::string& dir, size_t index) {
  if (!fs::exists(dir + "/concepts.json"))
    throw UserError(dir + " has no concepts.json: give --concepts the folder written by "
                    "`directrix-cli discover` (or saved by the app).");
  // Types, ranges and the arrays' shapes checked (the cache's sizes are not known here).
  nlohmann::json doc = readConceptFolder(dir, {});
  ConceptDirection c;
  c.layer = doc.value("layer", "");
  auto decoders = readNpyTensor(dir + "/decoders.npy");
  auto encoders = readNpyTensor(dir + "/encoders.npy");
  auto biases = readNpyTensor(dir + "/biases.npy");
  if (index >= size_t(decoders.size(0)))
    throw UserError(dir + " holds " + std::to_string(decoders.size(0)) + " concepts; choose "
                    "--concept between 0 and " + std::to_string(decoders.size(0) - 1) + ".");
  c.directions = {decoders[int64_t(index)].to(at::kFloat), encoders[int64_t(index)].to(at::kFloat),
                  biases[int64_t(index)].item<double>()};
  const auto& top = doc["concepts"][index].value("top_patches", nlohmann::json::array());
  if (!top.empty()) c.strongestRealPatch = top[0].value("score", std::nan(""));
  return c;
}

void writePng(const fs::path& out, const cv::Mat& image) {
  std::vector<uchar> bytes;
  bool encoded = false;
  try {
    encoded = cv::imencode(out.extension().string(), image, bytes);
  } catch (const cv::Exception&) {
  }
  if (!encoded) throw UserError(out.string() + ": cannot be encoded; use a .png or .jpg name.");
  writeFileAtomically(out.string(),
                      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace

int runVisualize(const std::vector<std::string>& args) {
  Arguments a(args, {"model", "device", "concepts", "concept", "out", "direction", "steps", "size",
                     "seed", "images", "colour-images"},
              {"demo", "quiet", "keep"});
  if (!a.has("concepts")) throw UserError("give --concepts DIR, a folder written by discover.");
  if (!a.has("concept")) throw UserError("give --concept I, the concept's index in that folder.");
  if (!a.has("out") && !a.has("keep"))
    throw UserError("give --out FILE.png (where the rendering is written) or --keep (kept in the "
                    "concept folder, where the app shows it).");
  std::string direction = a.value("direction", "decoder");
  if (direction != "decoder" && direction != "encoder")
    throw UserError("--direction is decoder (the detector w.x - b) or encoder (movement along "
                    "the signal vector s), not \"" + direction + "\".");
  auto model = openModel(a);
  size_t index = a.count("concept", 0);
  auto concept = readConcept(a.value("concepts"), index);
  RenderOptions options;
  options.steps = int(a.count("steps", size_t(options.steps)));
  options.size = int(a.count("size", 0));
  options.seed = a.count("seed", 0);
  // The app takes the colour statistics of RGB models from 256 of the project's images; the same
  // images here give the same rendering (and --keep the file the app looks for).
  if ((a.has("images") || a.has("demo")) && model->meta().input.channels() == 3) {
    auto source = openImages(a);
    options.colourCovariance =
        colourCovariance(*model, sampleImages(*source, a.count("colour-images", 256)));
  }
  auto target = direction == "decoder" ? RenderTarget::Decoder : RenderTarget::Encoder;
  std::string kept = renderingPath(a.value("concepts"), int(index), concept.directions, target,
                                   options);
  installInterruptHandler(options.cancel);
  TerminalProgress bar(!a.has("quiet"));
  options.progress = std::ref(bar);
  auto r = renderConcept(*model, concept.layer, concept.directions, target, options);
  if (a.has("out")) writePng(a.value("out"), r.image);
  if (a.has("keep")) saveRendering(kept, r);
  std::cout << "wrote: " << (a.has("out") ? a.value("out") : kept) << " (" << r.image.cols
            << " x " << r.image.rows << ", " << options.steps << " steps, " << r.seconds << " s)\n";
  if (a.has("out") && a.has("keep")) std::cout << "kept: " << kept << "\n";
  std::cout << "  concept " << index << " at layer " << concept.layer << ", along the "
            << (target == RenderTarget::Decoder ? "decoder (detector)" : "encoder (signal vector)")
            << "\n  detector w.x - b at the centre patch: " << r.detector;
  if (!std::isnan(concept.strongestRealPatch))
    std::cout << " (strongest real patch " << concept.strongestRealPatch << ", ratio "
              << r.detector / concept.strongestRealPatch << ")";
  std::cout << "\n";
  if (!options.colourCovariance.defined() && model->meta().input.channels() == 3)
    std::cout << "  colour: channels uncorrelated (give --images for the data's colour "
                 "statistics)\n";
  return 0;
}

}  // namespace dx::cli

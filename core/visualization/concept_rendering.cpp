#include "visualization/concept_rendering.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "base/atomic_file.h"
#include "base/hash.h"
#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

const char* renderTargetName(RenderTarget target) {
  return target == RenderTarget::Decoder ? "decoder" : "encoder";
}

ConceptRendering renderConcept(const ConceptModel& model, const std::string& layer,
                               const ConceptDirections& concept, RenderTarget target,
                               const RenderOptions& options) {
  auto w = concept.decoder.flatten().to(torch::kCPU, torch::kFloat);
  auto s = concept.encoder.flatten().to(torch::kCPU, torch::kFloat);
  bool decoder = target == RenderTarget::Decoder;
  auto direction = decoder ? w : s / s.norm().clamp_min(1e-12);
  auto r = renderDirection(model, layer, direction, decoder ? concept.bias : 0.0, options);
  ConceptRendering out;
  out.image = r.image;
  out.detector = detectorAt(model, layer, r.input, w, concept.bias, options);
  out.steps = options.steps;
  out.seed = options.seed;
  out.seconds = r.seconds;
  return out;
}

std::string renderingPath(const std::string& folder, int concept,
                          const ConceptDirections& directions, RenderTarget target,
                          const RenderOptions& options) {
  Hasher h;
  for (const auto& t : {directions.decoder, directions.encoder}) {
    auto c = t.flatten().to(torch::kCPU, torch::kFloat).contiguous();
    h.update(c.data_ptr(), size_t(c.numel()) * sizeof(float));
  }
  h.update(&directions.bias, sizeof(double));
  for (double v : {double(options.steps), double(options.size), double(options.seed),
                   options.learningRate, options.frequencyDecay, options.jitter, options.scale,
                   options.rotationDegrees, double(options.row), double(options.col)})
    h.update(&v, sizeof(double));
  // Other images give other colour statistics, hence another rendering (rounded: the same images
  // must give the same name across runs and machines).
  if (options.colourCovariance.defined()) {
    auto c = (options.colourCovariance.to(torch::kCPU, torch::kDouble) * 1e4).round()
                 .to(torch::kLong).contiguous();
    h.update(c.data_ptr(), size_t(c.numel()) * sizeof(int64_t));
  }
  return (fs::path(folder) / "renderings" /
          ("concept" + std::to_string(concept) + "-" + renderTargetName(target) + "-" +
           h.hex().substr(0, 12) + ".png"))
      .string();
}

ConceptRendering loadRendering(const std::string& path) {
  ConceptRendering r;
  std::ifstream sidecar(path + ".json");
  if (!sidecar || !fs::exists(path)) return r;
  try {
    auto j = nlohmann::json::parse(sidecar);
    r.image = cv::imread(path, cv::IMREAD_UNCHANGED);
    r.detector = j.value("detector", 0.0);
    r.steps = j.value("steps", 0);
    r.seed = j.value("seed", uint64_t(0));
    r.seconds = j.value("seconds", 0.0);
  } catch (const std::exception&) {
    r.image = cv::Mat();  // an unreadable rendering is rendered again
  }
  return r;
}

void saveRendering(const std::string& path, const ConceptRendering& r) {
  std::vector<uchar> png;
  bool encoded = false;
  try {
    encoded = cv::imencode(".png", r.image, png);
  } catch (const cv::Exception&) {
  }
  if (!encoded)
    throw UserError(path + ": the rendering could not be encoded as PNG; render it again.");
  // Each file atomically, the PNG first: loadRendering needs both, so a crash in between shows
  // no rendering rather than half of one.
  writeFileAtomically(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
  writeFileAtomically(path + ".json", nlohmann::json{{"detector", r.detector},
                                                     {"steps", r.steps},
                                                     {"seed", r.seed},
                                                     {"seconds", r.seconds}}
                                              .dump(2) +
                                          "\n");
}

}  // namespace dx

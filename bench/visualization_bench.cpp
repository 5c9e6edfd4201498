// The paper's validation of encoding directions by activation maximisation (docs/methods.md 1.8),
// measured: for each concept, an image is rendered along its encoding direction (signal vector
// s_i), its decoding direction (filter w_i) and a random direction, and each rendering is scored
// by how strongly it drives the concept's detector w_i . x - b_i at the centre patch (as a
// ratio to
// the strongest real patch of the data, the baseline measured in this run) and how far it moves
// the class logits away from a mid-grey image's. Also prints the time per rendering.
//
// Command line: kUsage, above main().
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "bench_args.h"
#include "conceptworld/conceptworld.h"
#include "data/demo.h"
#include "discovery/concept_method.h"
#include "model/concept_model.h"
#include "model/preprocess.h"
#include "visualization/feature_visualization.h"

namespace {

dx::RenderOptions gOptions;  // settings from the command line (--lr, --decay, --jitter, ...)

struct Case {
  std::string title, modelPath, layer;
  dx::ImageSourcePtr images;
};

at::Tensor preprocessed(const dx::ConceptModel& m, const dx::ImageSource& source, size_t n) {
  const auto& spec = m.meta().input;
  auto x = torch::empty({int64_t(n), spec.channels(), spec.height, spec.width});
  for (size_t i = 0; i < n; ++i)
    dx::preprocessImage(source.load(i * source.size() / n), spec, x[int64_t(i)].data_ptr<float>());
  return x;
}

at::Tensor featuresOf(const dx::ConceptModel& m, const std::string& layer, const at::Tensor& x) {
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += 256)
    parts.push_back(m.features(layer, x.slice(0, i, std::min(x.size(0), i + 256))).cpu());
  return torch::cat(parts);
}

// The logits of a mid-grey image (pixels 0.5), the reference a rendering's logits are compared to.
at::Tensor greyLogits(const dx::ConceptModel& m) {
  const auto& spec = m.meta().input;
  auto pixels = torch::full({1, spec.channels(), spec.height, spec.width}, 0.5f);
  auto mean = torch::tensor(spec.mean).view({1, -1, 1, 1});
  auto sd = torch::tensor(spec.std).view({1, -1, 1, 1});
  return m.forward((pixels - mean) / sd).cpu()[0];
}

struct Score {
  double detector = 0, logitMove = 0;  // detector at the patch; largest class-logit increase
};

Score score(const dx::ConceptModel& m, const std::string& layer, const dx::Rendering& r,
            const at::Tensor& w, double b, const at::Tensor& grey, const dx::RenderOptions& o) {
  Score s;
  s.detector = dx::detectorAt(m, layer, r.input, w, b, o);
  s.logitMove = (m.forward(r.input).cpu()[0] - grey).max().item<double>();
  return s;
}

void runCase(const Case& c, size_t n, int concepts, const std::string& method, int steps) {
  auto model = dx::ConceptModel::load(c.modelPath);
  const auto& layer = model->layer(c.layer);
  auto x = preprocessed(*model, *c.images, std::min(n, c.images->size()));
  auto z = featuresOf(*model, layer.name, x);
  dx::FitOptions fit;
  fit.concepts = concepts;
  fit.head = model->headFunction(layer.name);
  fit.headStartsWithGlobalAvgPool = layer.headStartsWithGlobalAvgPool;
  auto basis = dx::makeConceptMethod(method)->fit(z, fit);
  auto detectors = torch::einsum("ic,nchw->inhw", {basis.decoders.cpu(), z}).flatten(1) -
                   basis.biases.cpu().view({-1, 1});
  auto strongest = std::get<0>(detectors.max(1));
  auto grey = greyLogits(*model);
  dx::RenderOptions o = gOptions;
  o.steps = steps;
  o.colourCovariance = dx::colourCovariance(*model, dx::sampleImages(*c.images, 256));
  std::printf("\n%s, layer %s, %s with %d concepts fitted on %lld images, %d steps\n"
              "  detector at the centre patch / strongest real patch; largest class-logit increase "
              "over a grey image\n"
              "  concept  real max | encoder s: ratio  logit | decoder w: ratio  logit | random: "
              "ratio  logit\n",
              c.title.c_str(), layer.name.c_str(), method.c_str(), concepts, (long long)x.size(0),
              steps);
  double sums[6] = {0, 0, 0, 0, 0, 0}, lows[3] = {1e300, 1e300, 1e300}, seconds = 0;
  int renders = 0;
  auto gen = at::detail::createCPUGenerator(7);
  for (int i = 0; i < basis.concepts(); ++i) {
    auto w = basis.decoders[i].cpu(), s = basis.encoders[i].cpu();
    double b = basis.biases[i].item<double>(), real = strongest[i].item<double>();
    auto random = torch::randn({w.numel()}, gen);
    at::Tensor directions[3] = {s / s.norm().clamp_min(1e-12), w, random / random.norm()};
    double offsets[3] = {0, b, 0};
    std::printf("  %7d  %8.3f", i, real);
    for (int k = 0; k < 3; ++k) {
      o.seed = uint64_t(i);
      auto r = dx::renderDirection(*model, layer.name, directions[k], offsets[k], o);
      auto sc = score(*model, layer.name, r, w, b, grey, o);
      seconds += r.seconds;
      ++renders;
      double ratio = real > 0 ? sc.detector / real : std::nan("");
      sums[2 * k] += ratio;
      lows[k] = std::min(lows[k], ratio);
      sums[2 * k + 1] += sc.logitMove;
      std::printf(" | %15.2f %6.2f", ratio, sc.logitMove);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  double I = basis.concepts();
  std::printf("  mean              | %15.2f %6.2f | %15.2f %6.2f | %12.2f %6.2f\n", sums[0] / I,
              sums[1] / I, sums[2] / I, sums[3] / I, sums[4] / I, sums[5] / I);
  std::printf("  lowest ratio      | %15.2f        | %15.2f        | %12.2f\n", lows[0], lows[1],
              lows[2]);
  std::printf("  %.1f s per rendering (%d renderings)\n", seconds / renders, renders);
}

void timeOne(const std::string& path, const std::string& layerName, int steps) {
  auto model = dx::ConceptModel::load(path);
  const auto& layer = model->layer(layerName);
  auto gen = at::detail::createCPUGenerator(3);
  dx::RenderOptions o;
  o.steps = steps;
  auto r = dx::renderDirection(*model, layer.name, torch::randn({layer.channels}, gen), 0, o);
  std::printf("%s, layer %s, %d x %d input, %d steps: %.1f s per rendering "
              "(objective %.3f)\n", path.c_str(), layer.name.c_str(), model->meta().input.width,
              model->meta().input.height, steps, r.seconds, r.objective);
}

}  // namespace

constexpr char kUsage[] =
    "usage: visualization_bench [--case demo|conceptworld|both] [--images N] [--concepts I]\n"
    "                           [--method M] [--steps S] [--model FILE.pt --layer L]\n"
    "  --model: time one rendering of a random direction on that model\n"
    "           (e.g. a 224-pixel ResNet18)\n"
    "  --lr, --decay, --jitter, --scale, --rotation: RenderOptions, to measure other settings\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  auto opt = [&](const char* name, const char* fallback) {
    return dx::bench::option(argc, argv, std::string("--") + name, fallback);
  };
  std::string which = opt("case", "both"), method = opt("method", "eddp");
  size_t n = std::stoul(opt("images", "1000"));
  int concepts = std::stoi(opt("concepts", "8")), steps = std::stoi(opt("steps", "512"));
  std::string modelPath = opt("model", "");
  gOptions.learningRate = std::stod(opt("lr", "0.05"));
  gOptions.frequencyDecay = std::stod(opt("decay", "1.0"));
  gOptions.jitter = std::stod(opt("jitter", "0.035"));
  gOptions.scale = std::stod(opt("scale", "0.1"));
  gOptions.rotationDegrees = std::stod(opt("rotation", "10"));
  try {
    torch::manual_seed(0);
    if (!modelPath.empty()) {
      timeOne(modelPath, opt("layer", ""), steps);
      return 0;
    }
    if (which == "demo" || which == "both")
      runCase({"demo CNN, Fashion-MNIST", dx::demoModelPath(), "", dx::demoImages()}, n, concepts,
              method, steps);
    if (which == "conceptworld" || which == "both")
      runCase({"ConceptWorld CNN, ConceptWorld test split", dx::conceptWorldModelPath(), "",
               std::make_shared<dx::ConceptWorld>(
                   dx::conceptWorldDefaults(dx::ConceptWorldSpec::Test))},
              n, concepts, method, steps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "visualization_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

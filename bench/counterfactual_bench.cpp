// Latency of one live counterfactual update, what the UI pays when the user toggles concepts off
// on one image: dx::counterfactual (toggle-off edit of 1-3 concepts, then the model's head on the
// original and on the edited activations, softmax) against a plain head forward of the same
// image, measured interleaved in the same run. Goal: p95 <= 20 ms. The ratio's floor is about 2,
// since an update runs the head twice.
//
// Basis: a quick fit (default k-means, 16 concepts) on the layer's real activations of the first
// --fit-images images: 256 Fashion-MNIST test images for the demo model; 128 seeded N(0, 1)
// inputs (normalised noise images) for other models, which come without images (and the
// resnet18 of run_benchmarks.sh has random weights anyway). Updates cycle through these images.
// The edit's cost depends only on the basis' shape, so any method gives the same latency; a
// fitted basis keeps the toggled concepts' detectors firing where they would in the app.
//
// Command line: kUsage, above main().
// No --model = the demo model at block3.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_args.h"
#include "model/concept_model.h"
#include "discovery/concept_method.h"
#include "analysis/interventions.h"
#include "data/demo.h"
#include "model/preprocess.h"
#include "base/stopwatch.h"

namespace {

constexpr int kWarmup = 30;  // the JIT profiles and specialises the first calls

// Normalised network inputs for the first n images: the demo's own test images, else noise.
at::Tensor inputs(const dx::ConceptModel& model, bool demo, int64_t n) {
  const auto& spec = model.meta().input;
  if (!demo) {
    torch::manual_seed(0);
    return torch::randn({n, spec.channels(), spec.height, spec.width});
  }
  auto source = dx::demoImages();
  n = std::min<int64_t>(n, int64_t(source->size()));
  auto x = torch::empty({n, spec.channels(), spec.height, spec.width});
  for (int64_t i = 0; i < n; ++i)
    dx::preprocessImage(source->load(size_t(i)), spec, x[i].data_ptr<float>());
  return x;
}

struct Stats {
  double p50, p95, max;
};

Stats stats(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, size_t(q * double(ms.size())))]; };
  return {at(0.5), at(0.95), ms.back()};
}

}  // namespace

constexpr char kUsage[] =
    "usage: counterfactual_bench [--model FILE.pt --layer L] [--updates N] [--concepts I]\n"
    "                            [--method kmeans] [--fit-images N]\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  dx::bench::requirePairs(argc, argv);
  std::string modelPath, layerName, methodName = "kmeans";
  int updates = 500, concepts = 16;
  int64_t fitImages = 0;  // 0: 256 for the demo, 128 for other (larger) models
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") modelPath = v;
    else if (a == "--layer") layerName = v;
    else if (a == "--updates") updates = std::max(1, std::stoi(v));
    else if (a == "--concepts") concepts = std::stoi(v);
    else if (a == "--method") methodName = v;
    else if (a == "--fit-images") fitImages = std::stoll(v);
  }
  try {
    bool demo = modelPath.empty();
    if (demo) {
      modelPath = dx::demoModelPath();
      if (layerName.empty()) layerName = "block3";
    }
    auto model = dx::ConceptModel::load(modelPath);  // also sets the torch threads as the app does
    const dx::LayerSpec& layer = model->layer(layerName);
    const std::string name = layer.name;

    if (fitImages <= 0) fitImages = demo ? 256 : 128;
    at::Tensor x = inputs(*model, demo, fitImages);
    std::vector<at::Tensor> batches;
    for (int64_t i = 0; i < x.size(0); i += 32)
      batches.push_back(model->features(name, x.slice(0, i, std::min(x.size(0), i + 32))));
    at::Tensor z = torch::cat(batches);
    dx::FitOptions options;
    options.concepts = concepts;
    dx::Stopwatch fitWatch;
    dx::ConceptBasis basis = dx::makeConceptMethod(methodName)->fit(z, options);
    double fitSeconds = fitWatch.seconds();

    dx::HeadFunction head = [&](const at::Tensor& a) { return model->head(name, a); };
    std::mt19937 rng(1);
    std::vector<int> ids(size_t(basis.concepts()));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int(i);
    std::vector<double> headMs, updateMs;
    for (int u = 0; u < kWarmup + updates; ++u) {
      at::Tensor one = z.slice(0, u % z.size(0), u % z.size(0) + 1);  // one image, 1 x C x h x w
      std::shuffle(ids.begin(), ids.end(), rng);
      std::vector<dx::ConceptEdit> edits;
      int count = std::min(1 + int(rng() % 3), basis.concepts());
      for (int k = 0; k < count; ++k) edits.push_back({ids[size_t(k)], -1});
      // item() waits for the result, so the times are complete on any device. The order
      // alternates so that neither side always finds the image's activations in a warm cache.
      double h = 0, c = 0;
      auto timeHead = [&] {
        dx::Stopwatch watch;
        torch::NoGradGuard noGrad;
        head(one)[0][0].item<float>();
        h = watch.seconds() * 1e3;
      };
      auto timeUpdate = [&] {
        dx::Stopwatch watch;
        dx::counterfactual(head, basis, one, edits).edited[0][0].item<float>();
        c = watch.seconds() * 1e3;
      };
      if (u % 2) {
        timeHead();
        timeUpdate();
      } else {
        timeUpdate();
        timeHead();
      }
      if (u >= kWarmup) {
        headMs.push_back(h);
        updateMs.push_back(c);
      }
    }
    Stats h = stats(headMs), c = stats(updateMs);
    std::printf(
        "%s, layer %s (%d x %d x %d) on %s; %s basis, %d concepts, fitted on %lld images' "
        "activations in %.2f s; %d updates after %d warm-up\n",
        model->meta().name.c_str(), name.c_str(), layer.channels, layer.height, layer.width,
        model->deviceName().c_str(), methodName.c_str(), basis.concepts(), (long long)z.size(0),
        fitSeconds, updates, kWarmup);
    std::printf("  %-34s p50 %7.2f ms  p95 %7.2f ms  max %7.2f ms  (baseline)\n",
                "head forward, 1 image", h.p50, h.p95, h.max);
    std::printf("  %-34s p50 %7.2f ms  p95 %7.2f ms  max %7.2f ms  ratio p50 %.2f p95 %.2f\n",
                "counterfactual, 1-3 concepts off", c.p50, c.p95, c.max, c.p50 / h.p50,
                c.p95 / h.p95);
    std::printf("  goal: p95 <= 20 ms (ratio floor ~2: an update runs the head twice)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "counterfactual_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

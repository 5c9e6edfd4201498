// Extraction throughput against plain forward passes of the same model, measured in the same run.
// Baseline: model.forward on batches already decoded and normalised in memory (the least a
// framework can do). Measured: the full extraction pipeline (decode, preprocess, features + head,
// streaming to the .npy cache). Goal: ratio >= 0.95.
//
// Command line: kUsage, above main().
#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "bench_args.h"
#include "data/demo.h"
#include "activations/extractor.h"
#include "data/image_folder.h"
#include "model/preprocess.h"

namespace fs = std::filesystem;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Synthetic JPEG folder (256 x 320 random shapes) for models that take RGB photographs.
std::shared_ptr<dx::ImageFolder> syntheticFolder(const fs::path& dir, size_t n) {
  fs::create_directories(dir / "photos");
  cv::RNG rng(1);
  for (size_t i = 0; i < n; ++i) {
    cv::Mat img(256, 320, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite((dir / "photos" / ("img" + std::to_string(i) + ".jpg")).string(), img);
  }
  return std::make_shared<dx::ImageFolder>(dir);
}

// Throughput of `pass` over all images, preprocessed into memory beforehand.
template <typename Pass>
double inMemoryImagesPerSecond(const dx::ConceptModel& model, const dx::ImageSource& source,
                               size_t n, int batch, Pass pass) {
  const auto& spec = model.meta().input;
  size_t stride = size_t(spec.channels() * spec.height * spec.width);
  std::vector<float> pixels(n * stride);
  for (size_t i = 0; i < n; ++i) dx::preprocessImage(source.load(i), spec, &pixels[i * stride]);
  auto all = torch::from_blob(pixels.data(), {long(n), spec.channels(), spec.height, spec.width});
  for (int w = 0; w < 3; ++w) pass(all.slice(0, 0, batch));  // the JIT profiles the first runs
  double start = now();
  for (size_t i = 0; i < n; i += size_t(batch))
    pass(all.slice(0, long(i), long(std::min(n, i + size_t(batch)))));
  return double(n) / (now() - start);
}

double extractionImagesPerSecond(dx::ExtractionRequest r) {
  r.reuse = false;
  double start = now();
  auto result = dx::extractActivations(r);
  return double(result.images) / (now() - start);
}

void runCase(const std::string& title, const dx::ExtractionRequest& r, size_t n) {
  const auto& m = *r.model;
  std::string layer = m.layer(r.layer).name;
  double forward = 0, split = 0, extract = 0;
  for (int rep = 0; rep < 3; ++rep) {  // best of three, each measured in this run
    forward = std::max(forward, inMemoryImagesPerSecond(m, *r.source, n, r.batchSize,
                                                        [&](const at::Tensor& x) { m.forward(x); }));
    split = std::max(split, inMemoryImagesPerSecond(m, *r.source, n, r.batchSize,
                                                    [&](const at::Tensor& x) {
                                                      torch::NoGradGuard g;
                                                      m.head(layer, m.features(layer, x));
                                                    }));
    extract = std::max(extract, extractionImagesPerSecond(r));
  }
  std::printf("%s, layer %s, %zu images, batch %d\n"
              "  forward in memory      %8.1f img/s  (baseline)\n"
              "  features+head in memory %7.1f img/s  ratio %.3f\n"
              "  extraction to cache    %8.1f img/s  ratio %.3f (goal >= 0.95)\n",
              title.c_str(), layer.c_str(), n, r.batchSize, forward, split, split / forward,
              extract, extract / forward);
}

}  // namespace

constexpr char kUsage[] =
    "usage: extract_bench [--images N] [--model FILE.pt --layer L]\n"
    "       (no --model = the demo model)\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  dx::bench::requirePairs(argc, argv);
  size_t n = 5000;
  std::string modelPath, layer;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--images") n = std::stoul(argv[i + 1]);
    else if (a == "--model") modelPath = argv[i + 1];
    else if (a == "--layer") layer = argv[i + 1];
  }
  try {
    fs::path tmp = fs::temp_directory_path() / ("directrix-bench-" + std::to_string(::getpid()));
    dx::ExtractionRequest r;
    r.outDir = (tmp / "cache").string();
    r.layer = layer;
    if (modelPath.empty()) {
      r.model = dx::ConceptModel::load(dx::demoModelPath());
      r.source = dx::demoImages();
      n = std::min(n, r.source->size());
      r.limit = n;
      r.batchSize = 256;
      runCase("demo CNN, Fashion-MNIST", r, n);
    } else {
      r.model = dx::ConceptModel::load(modelPath);
      r.source = syntheticFolder(tmp / "images", n);
      r.batchSize = 32;
      runCase(fs::path(modelPath).filename().string() + ", synthetic JPEGs", r, n);
    }
    fs::remove_all(tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "extract_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

#include "commands.h"

#include <csignal>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "arguments.h"
#include "model/concept_model.h"
#include "data/demo.h"
#include "activations/extractor.h"
#include "activations/sharded_extraction.h"
#include "job.h"
#include "model/predictor.h"
#include "data/source_factory.h"
#include "terminal_progress.h"

namespace dx::cli {
namespace {

CancelToken gCancel;

void printSkipped(const std::vector<SkippedFile>& skipped) {
  if (skipped.empty()) return;
  std::fprintf(stderr, "skipped %zu file(s):\n", skipped.size());
  for (size_t i = 0; i < skipped.size() && i < 20; ++i)
    std::fprintf(stderr, "  %s: %s\n", skipped[i].path.c_str(), skipped[i].reason.c_str());
  if (skipped.size() > 20) std::fprintf(stderr, "  ... and %zu more\n", skipped.size() - 20);
}

nlohmann::json infoJson(const ConceptModel& m) {
  const auto& meta = m.meta();
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : meta.layers)
    layers.push_back({{"name", l.name}, {"node", l.node}, {"channels", l.channels},
                      {"height", l.height}, {"width", l.width},
                      {"head_starts_with_global_avg_pool", l.headStartsWithGlobalAvgPool}});
  const auto& in = meta.input;
  return {{"model", m.path()}, {"name", meta.name}, {"device", m.deviceName()},
          {"classes", meta.classes}, {"layers", layers},
          {"input", {{"colour_mode", in.colourMode == ColourMode::Gray ? "gray" : "rgb"},
                     {"channels", in.channels()}, {"height", in.height}, {"width", in.width},
                     {"resize", in.resize}, {"mean", in.mean}, {"std", in.std}}}};
}

}  // namespace

std::shared_ptr<ConceptModel> openModel(const Arguments& a, int cudaIndex) {
  if (!a.has("model") && !a.has("demo"))
    throw UserError("give --model FILE.pt (a model exported with packaging/export_model.py) or "
                    "--demo.");
  std::string path = a.has("model") ? a.value("model") : demoModelPath();
  LoadOptions options;
  options.device = a.value("device", "auto");
  options.cudaIndex = cudaIndex;
  return ConceptModel::load(path, options);
}

ImageSourcePtr openImages(const Arguments& a) {
  if (a.has("images")) return openImageSource(a.value("images"));
  if (a.has("demo")) return demoImages();
  throw UserError("give --images DIR (a folder of images) or --demo.");
}


// Ctrl-C stops at the next batch boundary, so no half-written result is left behind.
void installInterruptHandler(const CancelToken& token) {
  gCancel = token;
  std::signal(SIGINT, [](int) { gCancel.cancel(); });
}

int runInfo(const std::vector<std::string>& args) {
  Arguments a(args, {"model", "device"}, {"demo", "json"});
  auto model = openModel(a);
  auto j = infoJson(*model);
  if (a.has("json")) {
    std::cout << j.dump(2) << '\n';
    return 0;
  }
  const auto& meta = model->meta();
  std::cout << model->path() << "\n  name: " << meta.name << "\n  input: "
            << meta.input.channels() << "x" << meta.input.height << "x" << meta.input.width << " ("
            << j["input"]["colour_mode"].get<std::string>() << ", resize " << meta.input.resize
            << ")\n  classes (" << meta.classes.size() << "):";
  for (const auto& c : meta.classes) std::cout << " " << c << ";";
  std::cout << "\n  layers (shallow to deep):\n";
  for (const auto& l : meta.layers)
    std::cout << "    " << l.name << "  [node " << l.node << "]  " << l.channels << "x" << l.height
              << "x" << l.width << (l.headStartsWithGlobalAvgPool ? "  head: global avg pool" : "")
              << "\n";
  if (meta.testAccuracy >= 0) std::cout << "  test accuracy: " << meta.testAccuracy << "\n";
  std::cout << "  contract: valid (head_L(features_L(x)) == forward(x) within 1e-4)\n";
  return 0;
}

int runExtract(const std::vector<std::string>& args) {
  Arguments a(args, {"model", "images", "layer", "out", "limit", "device", "batch-size",
                     "decode-workers", "rank-timeout"},
              {"demo", "float16", "force", "quiet"});
  if (!a.has("out")) throw UserError("give --out DIR, the folder that receives the cache.");
  installInterruptHandler(gCancel);
  Job job = joinJob(a);
  ExtractionRequest r;
  r.model = openModel(a, job.group ? job.launch.localRank : -1);
  r.source = openImages(a);
  r.layer = a.value("layer");
  r.outDir = a.value("out");
  r.limit = a.count("limit", 0);
  r.float16 = a.has("float16");
  r.batchSize = static_cast<int>(a.count("batch-size", 64));
  r.decodeWorkers = a.count("decode-workers", 0);
  r.reuse = !a.has("force");
  TerminalProgress bar(!a.has("quiet") && job.leader());
  ExtractionResult result;
  int keptShards = 0;
  if (job.group) {
    auto sharded = extractSharded(r, *job.group, job.silence, std::ref(bar), gCancel);
    keptShards = sharded.keptShards;
    result = sharded;
  } else {
    result = extractActivations(r, std::ref(bar), gCancel);
  }
  if (!job.leader()) return 0;  // rank 0 reports the merged cache
  const auto& layer = r.model->layer(r.layer);
  if (!a.has("quiet")) printSkipped(ActivationCache(result.dir).skipped());
  std::cout << (result.reused ? "up to date: " : "wrote: ") << result.dir << "\n  layer "
            << layer.name << ", " << result.images << " x " << layer.channels << " x "
            << layer.height << " x " << layer.width << (r.float16 ? " float16" : " float32")
            << ", key " << result.key;
  if (!result.reused)
    std::cout << ", " << result.skipped << " skipped, " << result.seconds << " s";
  if (job.group) std::cout << ", " << job.launch.worldSize << " ranks";
  std::cout << "\n";
  if (keptShards > 0)
    std::cout << "  kept " << keptShards << " shard(s) that an earlier run had finished\n";
  return 0;
}

int runPredict(const std::vector<std::string>& args) {
  Arguments a(args, {"model", "images", "limit", "device", "top", "batch-size"},
              {"demo", "quiet"});
  installInterruptHandler(gCancel);
  auto model = openModel(a);
  auto source = openImages(a);
  TerminalProgress bar(!a.has("quiet"));
  auto run = predictImages(*model, source, a.count("limit", 0),
                           static_cast<int>(a.count("batch-size", 64)), std::ref(bar), gCancel);
  const auto& classes = model->meta().classes;
  size_t top = std::max<size_t>(1, a.count("top", 1)), labelled = 0, correct = 0;
  std::cout << "file\tlabel\tprediction\tprobability\n";
  for (const auto& p : run.predictions) {
    std::string label = p.label >= 0 ? source->classNames()[size_t(p.label)] : "";
    std::vector<size_t> order(p.probabilities.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + long(std::min(top, order.size())), order.end(),
                      [&](size_t x, size_t y) { return p.probabilities[x] > p.probabilities[y]; });
    std::cout << source->itemName(p.index) << "\t" << label;
    for (size_t i = 0; i < std::min(top, order.size()); ++i)
      std::cout << "\t" << classes[order[i]] << "\t" << p.probabilities[order[i]];
    std::cout << "\n";
    if (!label.empty()) {
      ++labelled;
      correct += label == classes[size_t(p.predicted)];
    }
  }
  printSkipped(run.skipped);
  if (labelled > 0)
    std::fprintf(stderr, "accuracy: %.4f (%zu of %zu labelled images; labels matched to classes "
                 "by name)\n", double(correct) / double(labelled), correct, labelled);
  return 0;
}

}  // namespace dx::cli

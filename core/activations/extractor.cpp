#include "activations/extractor.h"

#include <torch/script.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "data/batch_loader.h"
#include "data/image_folder.h"
#include "model/preprocess.h"
#include "base/stopwatch.h"
#include "base/write_behind.h"

namespace dx {
namespace fs = std::filesystem;

namespace {

// Images in the whole (limited) list.
size_t listedImages(const ExtractionRequest& r) {
  size_t n = r.source->size();
  return r.limit > 0 ? std::min(n, r.limit) : n;
}

// One past the last image this request extracts.
size_t endImage(const ExtractionRequest& r) {
  size_t n = listedImages(r);
  return r.count > 0 ? std::min(n, r.first + r.count) : n;
}

bool isShard(const ExtractionRequest& r) { return r.first > 0 || r.count > 0; }

void refuseOutputInsideImages(const ExtractionRequest& r) {
  auto folder = std::dynamic_pointer_cast<const ImageFolder>(r.source);
  if (!folder) return;
  auto root = fs::weakly_canonical(folder->root()).string() + "/";
  auto out = fs::weakly_canonical(fs::absolute(r.outDir)).string() + "/";
  if (out.rfind(root, 0) == 0)
    throw UserError(r.outDir + ": the cache must live outside the image folder " +
                    folder->root().string() + " (it would be scanned as images); choose "
                    "another --out.");
}

// Streams each batch's outputs into the staged .npy files.
class CacheWriter {
 public:
  CacheWriter(const std::string& dir, size_t capacity, const LayerSpec& layer, size_t classes,
              bool float16)
      : mFloat16(float16),
        mActivations(dir + "/activations.npy", float16 ? npy::float16 : npy::float32,
                     {capacity, size_t(layer.channels), size_t(layer.height), size_t(layer.width)}),
        mLogits(dir + "/logits.npy", npy::float32, {capacity, classes}) {
    if (layer.classTokens > 0)
      mClassTokens = std::make_unique<NpyWriter>(
          dir + "/class_tokens.npy", npy::float32,
          std::vector<size_t>{capacity, size_t(layer.classTokens), size_t(layer.channels)});
  }

  // z: B x C x h x w, logits: B x K, class tokens B x p x C or undefined (any device). The
  // copies to the CPU happen here (they wait for the device); the file writes are queued behind
  // the next forward pass.
  void append(const at::Tensor& z, const at::Tensor& logits, const at::Tensor& classTokens) {
    auto zc = z.to(torch::kCPU, mFloat16 ? torch::kHalf : torch::kFloat).contiguous();
    auto lc = logits.to(torch::kCPU, torch::kFloat).contiguous();
    at::Tensor tc;
    if (mClassTokens) tc = classTokens.to(torch::kCPU, torch::kFloat).contiguous();
    auto b = static_cast<size_t>(zc.size(0));
    size_t first = mRows;
    mWrites.push([this, zc, lc, tc, first, b] {
      mActivations.writeRows(first, b, zc.data_ptr());
      mLogits.writeRows(first, b, lc.data_ptr());
      if (mClassTokens) mClassTokens->writeRows(first, b, tc.data_ptr());
    });
    auto pred = lc.argmax(1).contiguous();
    const int64_t* p = pred.data_ptr<int64_t>();
    mPredictions.insert(mPredictions.end(), p, p + b);
    mRows += b;
  }

  void finish(const std::string& dir, const std::vector<int64_t>& labels) {
    mWrites.drain();
    mActivations.finish(mRows);
    mLogits.finish(mRows);
    if (mClassTokens) mClassTokens->finish(mRows);
    writeNpy(dir + "/predictions.npy", npy::int64, {mRows}, mPredictions.data());
    writeNpy(dir + "/labels.npy", npy::int64, {mRows}, labels.data());
  }
  size_t rows() const { return mRows; }

 private:
  bool mFloat16;
  NpyWriter mActivations, mLogits;
  std::unique_ptr<NpyWriter> mClassTokens;  // transformer layers with class tokens only
  std::vector<int64_t> mPredictions;
  size_t mRows = 0;
  WriteBehind mWrites;  // last member: destroyed (joined) before the files it writes to
};

// On a CUDA model, each batch is copied into page-locked memory first, so its transfer to the
// device is a DMA that does not wait on pageable copies (PyTorch's pin_memory in DataLoader). One
// buffer serves every batch: the next batch is staged only after this one's outputs came back to
// the CPU, which waits for the transfer. On the CPU the batch is used as it is.
class PinnedStaging {
 public:
  explicit PinnedStaging(const std::string& device)
      : mDevice(device), mPin(mDevice.is_cuda()) {}
  at::Tensor stage(const at::Tensor& x) {
    if (!mPin) return x;
    if (!mBuffer.defined() || mBuffer.numel() < x.numel())
      mBuffer = torch::empty({x.numel()}, torch::TensorOptions().pinned_memory(true));
    auto view = mBuffer.slice(0, 0, x.numel()).view(x.sizes());
    view.copy_(x);
    return view.to(mDevice, /*non_blocking=*/true);
  }

 private:
  torch::Device mDevice;
  bool mPin;
  at::Tensor mBuffer;
};

void writeLines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + '\n';
  writeFileAtomically(path, text);
}

void writeSkipped(const std::string& path, const std::vector<SkippedFile>& skipped) {
  std::string text;
  for (const auto& s : skipped) text += s.path + '\t' + s.reason + '\n';
  writeFileAtomically(path, text);
}

void writeCacheJson(const std::string& dir, const ExtractionRequest& r, const std::string& key,
                    size_t rows, double seconds) {
  const auto& layer = r.model->layer(r.layer);
  nlohmann::json j = {
      {"format", "directrix-activations"}, {"version", 1}, {"key", key},
      {"complete", true}, {"model", fs::absolute(r.model->path()).string()},
      {"model_hash", r.model->fileHash()}, {"layer", layer.name}, {"node", layer.node},
      {"shape", {rows, layer.channels, layer.height, layer.width}},
      {"layout", layer.layout}, {"class_tokens", layer.classTokens},
      {"dtype", r.float16 ? "float16" : "float32"}, {"source", r.source->description()},
      {"preprocessing", describePreprocessing(r.model->meta().input)},
      {"input_size", {r.model->meta().input.height, r.model->meta().input.width}},
      {"images", rows}, {"seconds", seconds}};
  writeFileAtomically(dir + "/cache.json", j.dump(2) + "\n");
}

}  // namespace

size_t listedImageCount(const ExtractionRequest& r) { return listedImages(r); }

std::string extractionKey(const ExtractionRequest& r) {
  return cacheKey({r.model->fileHash(), r.model->layer(r.layer).name, r.source->fingerprint(),
                   describePreprocessing(r.model->meta().input),
                   r.float16 ? "float16" : "float32", listedImages(r),
                   isShard(r) ? std::to_string(r.first) + "+" + std::to_string(r.count) : ""});
}

ExtractionResult extractActivations(const ExtractionRequest& r, const ProgressSink& progress,
                                    const CancelToken& cancel) {
  if (!r.model || !r.source) throw UserError("extraction needs a model and an image source.");
  if (r.outDir.empty()) throw UserError("extraction needs an output folder (--out).");
  const LayerSpec& layer = r.model->layer(r.layer);
  std::string key = extractionKey(r);
  Stopwatch clock;
  ExtractionResult result{fs::absolute(r.outDir).string(), key, 0, 0, false, 0};
  recoverInterruptedCacheWrite(r.outDir);
  if (r.reuse && cacheIsComplete(r.outDir, key)) {
    result.reused = true;
    result.images = ActivationCache(r.outDir).size();
    return result;
  }
  refuseOutputInsideImages(r);
  const size_t end = endImage(r);
  if (r.first >= end)
    throw UserError(r.source->description() + ": no images from index " + std::to_string(r.first) +
                    " on (the list has " + std::to_string(listedImages(r)) + ").");
  const size_t n = end - r.first;
  const auto& spec = r.model->meta().input;
  CacheStaging staging(r.outDir);
  CacheWriter writer(staging.dir(), n, layer, r.model->meta().classes.size(), r.float16);
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  // Files the source refused while listing belong to the first shard only.
  std::vector<SkippedFile> skipped = r.first == 0 ? r.source->skipped() : std::vector<SkippedFile>{};
  BatchLoader loader(r.source, spec, end, static_cast<size_t>(r.batchSize), 2, r.decodeWorkers,
                     r.first);
  PinnedStaging pinned(r.model->deviceName());
  torch::NoGradGuard noGrad;
  size_t done = 0;
  std::string stage = "extract " + layer.name;
  while (auto batch = loader.next()) {
    if (cancel.cancelled()) throw Cancelled();
    if (!batch->indices.empty()) {
      auto b = static_cast<int64_t>(batch->indices.size());
      auto x = pinned.stage(torch::from_blob(batch->pixels.data(),
                                             {b, spec.channels(), spec.height, spec.width}));
      auto [z, classTokens] = r.model->featuresWithClassTokens(layer.name, x);
      writer.append(z, r.model->head(layer.name, z, classTokens), classTokens);
      for (size_t i : batch->indices) {
        files.push_back(r.source->itemName(i));
        labels.push_back(r.source->label(i));
      }
    }
    skipped.insert(skipped.end(), batch->skipped.begin(), batch->skipped.end());
    done += batch->attempted;
    if (progress) progress(clock.progress(stage, static_cast<long long>(done), static_cast<long long>(n)));
  }
  if (cancel.cancelled()) throw Cancelled();
  // A shard may hold no usable image (every file in its range corrupt): it is written empty and
  // the merge decides, as one process would over the whole list (cache_merge.h).
  if (writer.rows() == 0 && !isShard(r))
    throw UserError(r.source->description() + ": none of the " + std::to_string(n) +
                    " images could be used (see the skipped list); check the files.");
  writer.finish(staging.dir(), labels);
  writeLines(staging.dir() + "/files.txt", files);
  writeLines(staging.dir() + "/classes.txt", r.model->meta().classes);
  writeLines(staging.dir() + "/label_classes.txt", r.source->classNames());
  writeSkipped(staging.dir() + "/skipped.tsv", skipped);
  writeCacheJson(staging.dir(), r, key, writer.rows(), clock.seconds());
  staging.commit();
  result.images = writer.rows();
  result.skipped = skipped.size();
  result.seconds = clock.seconds();
  return result;
}

}  // namespace dx

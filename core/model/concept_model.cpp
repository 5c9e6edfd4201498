#include "model/concept_model.h"

#include <torch/script.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "base/hash.h"
#include "base/progress.h"

namespace dx {

struct ConceptModel::Impl {
  std::string path, hash;
  ModelMeta meta;
  torch::Device device = torch::kCPU;
  mutable torch::jit::Module module;
};

namespace {

const char kMetaFile[] = "directrix.json";
const char kFix[] = " Export the model with packaging/export_model.py.";

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string shapeText(const at::IntArrayRef& sizes) {
  std::ostringstream o;
  for (size_t i = 0; i < sizes.size(); ++i) o << (i ? "x" : "") << sizes[i];
  return o.str();
}

torch::Device namedDevice(const std::string& name, const std::string& path) {
  if (name == "auto") return torch::Device(bestAvailableDevice());
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available())
      throw UserError(path + ": --device cuda was asked for, but this build of LibTorch has no "
                      "CUDA device available; use --device cpu.");
    return torch::kCUDA;
  }
  throw UserError("unknown device \"" + name + "\"; use auto, cpu or cuda.");
}

torch::Device parseDevice(const LoadOptions& options, const std::string& path) {
  torch::Device device = namedDevice(options.device, path);
  if (!device.is_cuda() || options.cudaIndex < 0) return device;
  if (options.cudaIndex >= int(torch::cuda::device_count()))
    throw UserError(path + ": GPU " + std::to_string(options.cudaIndex) + " (LOCAL_RANK) was "
                    "asked for, but this node has " + std::to_string(torch::cuda::device_count()) +
                    "; start one rank per GPU.");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options.cudaIndex));
}

torch::jit::Module loadArchive(const std::string& path, std::string& metaText) {
  if (!std::filesystem::is_regular_file(path))
    throw UserError(path + ": no such model file.");
  torch::jit::ExtraFilesMap extra{{kMetaFile, ""}};  // only pre-filled keys are returned
  try {
    torch::jit::Module m = torch::jit::load(path, torch::kCPU, extra);
    metaText = extra[kMetaFile];
    return m;
  } catch (const c10::Error& e) {
    throw UserError(path + ": not a TorchScript model archive (" + firstLine(e.what_without_backtrace()) +
                    ")." + kFix);
  }
}

// Runs one named method on probe inputs; records a violation instead of throwing. Returns the
// output's tensors (one, or the elements of a returned tuple).
std::vector<at::Tensor> probe(torch::jit::Module& m, const std::string& method,
                              const std::vector<at::Tensor>& inputs,
                              std::vector<std::string>& problems) {
  auto fn = m.find_method(method);
  if (!fn) {
    problems.push_back("method '" + method + "' is missing.");
    return {};
  }
  try {
    auto out = (*fn)(std::vector<c10::IValue>(inputs.begin(), inputs.end()));
    if (out.isTensor()) return {out.toTensor()};
    std::vector<at::Tensor> parts;
    if (out.isTuple()) {
      for (const auto& e : out.toTupleRef().elements()) {
        if (!e.isTensor()) break;
        parts.push_back(e.toTensor());
      }
      if (!parts.empty() && parts.size() == out.toTupleRef().elements().size()) return parts;
    }
    problems.push_back("method '" + method + "' does not return tensors.");
    return {};
  } catch (const std::exception& e) {
    problems.push_back("method '" + method + "' fails on a " + shapeText(inputs[0].sizes()) +
                       " probe: " + firstLine(e.what()));
    return {};
  }
}

// The layer's activations (and class tokens) on x, checked against the metadata.
std::vector<at::Tensor> probeFeatures(torch::jit::Module& m, const LayerSpec& layer,
                                      const at::Tensor& x, std::vector<std::string>& problems) {
  auto z = probe(m, "features_" + layer.name, {x}, problems);
  if (z.size() != 1) return {};
  std::vector<int64_t> expected{x.size(0), layer.channels, layer.height, layer.width};
  if (z[0].sizes() != at::IntArrayRef(expected)) {
    problems.push_back("features_" + layer.name + " returns " + shapeText(z[0].sizes()) +
                       " but directrix.json promises " + shapeText(expected) + ".");
    return {};
  }
  if (layer.classTokens == 0) return z;
  std::string method = "features_with_class_tokens_" + layer.name;
  auto both = probe(m, method, {x}, problems);
  if (both.size() != 2) {
    if (!both.empty()) problems.push_back(method + " must return (activations, class tokens).");
    return {};
  }
  std::vector<int64_t> tokens{x.size(0), layer.classTokens, layer.channels};
  if (both[1].sizes() != at::IntArrayRef(tokens) || both[0].sizes() != z[0].sizes() ||
      !((both[0] - z[0]).abs().max().item<double>() <= 1e-4)) {
    problems.push_back(method + " returns " + shapeText(both[0].sizes()) + " and " +
                       shapeText(both[1].sizes()) + "; expected features_" + layer.name +
                       "'s activations and " + shapeText(tokens) + " class tokens.");
    return {};
  }
  return both;
}

void checkLayer(torch::jit::Module& m, const LayerSpec& layer, const at::Tensor& x,
                const at::Tensor& logits, std::vector<std::string>& problems) {
  auto inputs = probeFeatures(m, layer, x, problems);
  if (inputs.empty()) return;
  auto out = probe(m, "head_" + layer.name, inputs, problems);
  auto y = out.size() == 1 ? c10::optional<at::Tensor>(out[0]) : c10::nullopt;
  if (!y || !logits.defined()) return;
  if (y->sizes() != logits.sizes()) {
    problems.push_back("head_" + layer.name + " returns " + shapeText(y->sizes()) +
                       " but forward returns " + shapeText(logits.sizes()) + ".");
    return;
  }
  double diff = (*y - logits).abs().max().item<double>();
  if (!(diff <= 1e-4))
    problems.push_back("head_" + layer.name + "(features_" + layer.name +
                       "(x)) differs from forward(x) by " + std::to_string(diff) +
                       " (allowed 1e-4): the split does not reproduce the network.");
}

std::vector<std::string> validate(torch::jit::Module& m, const ModelMeta& meta,
                                  torch::Device device) {
  std::vector<std::string> problems;
  torch::NoGradGuard noGrad;
  auto gen = at::detail::createCPUGenerator(1234);
  at::Tensor x = at::randn({2, meta.input.channels(), meta.input.height, meta.input.width}, gen)
                     .to(device);
  at::Tensor logits;
  auto out = probe(m, "forward", {x}, problems);
  if (auto y = out.size() == 1 ? c10::optional<at::Tensor>(out[0]) : c10::nullopt) {
    auto k = static_cast<int64_t>(meta.classes.size());
    if (y->dim() != 2 || y->size(0) != 2 || y->size(1) != k)
      problems.push_back("forward returns " + shapeText(y->sizes()) + " but " +
                         std::to_string(k) + " class names imply 2x" + std::to_string(k) + ".");
    else if (!y->isfinite().all().item<bool>())
      problems.push_back("forward returns NaN or infinite logits on a normal probe batch.");
    else
      logits = *y;
  }
  for (const auto& layer : meta.layers) checkLayer(m, layer, x, logits, problems);
  return problems;
}

void throwProblems(const std::string& path, const std::vector<std::string>& problems) {
  std::string msg = path + " breaks the Directrix model contract:";
  for (const auto& p : problems) msg += "\n  - " + p;
  throw UserError(msg + "\n" + std::string(kFix + 1));
}

// Freezing folds parameters into the graph and lets the JIT fuse ops (about 1.5x faster on CPU);
// every method we call must be preserved explicitly. Falls back to the plain module on failure.
torch::jit::Module optimized(const torch::jit::Module& m, const ModelMeta& meta) {
  std::vector<std::string> methods;
  for (const auto& l : meta.layers) {
    methods.push_back("features_" + l.name);
    methods.push_back("head_" + l.name);
    if (l.classTokens) methods.push_back("features_with_class_tokens_" + l.name);
  }
  try {
    torch::jit::Module frozen = torch::jit::freeze(m, methods);
    // freeze() runs the frozen-graph optimisations (conv-BN folding, ...) on forward only;
    // the split methods are what extraction runs, so they get the same treatment.
    for (const auto& name : methods) {
      auto graph = frozen.get_method(name).graph();
      torch::jit::OptimizeFrozenGraph(graph, /*optimize_numerics=*/true);
    }
    return frozen;
  } catch (const std::exception&) {
    return m;
  }
}

}  // namespace

void configureTorchThreads() {
  static const bool done = [] {
    unsigned n = std::max(1u, std::thread::hardware_concurrency());
    // OMP_NUM_THREADS wins, as in PyTorch: torchrun sets it when several ranks share a node.
    if (const char* omp = std::getenv("OMP_NUM_THREADS"); omp && std::atoi(omp) > 0)
      n = static_cast<unsigned>(std::atoi(omp));
    at::set_num_threads(static_cast<int>(n));
    return true;
  }();
  (void)done;
}

std::string bestAvailableDevice() { return torch::cuda::is_available() ? "cuda" : "cpu"; }

std::shared_ptr<ConceptModel> ConceptModel::load(const std::string& path,
                                                 const LoadOptions& options) {
  configureTorchThreads();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->device = parseDevice(options, path);
  std::string metaText;
  impl->module = loadArchive(path, metaText);
  if (metaText.empty())
    throw UserError(path + ": the archive has no directrix.json (class names, input size, "
                    "layers)." + kFix);
  impl->meta = parseModelMeta(metaText, path);
  impl->module.eval();
  impl->module.to(impl->device);
  auto problems = validate(impl->module, impl->meta, impl->device);
  if (!problems.empty()) throwProblems(path, problems);
  if (options.optimize) {
    auto fast = optimized(impl->module, impl->meta);
    if (validate(fast, impl->meta, impl->device).empty()) impl->module = fast;
  }
  impl->hash = hashFile(path);
  return std::shared_ptr<ConceptModel>(new ConceptModel(std::move(impl)));
}

ConceptModel::ConceptModel(std::unique_ptr<Impl> impl) : d(std::move(impl)) {}
ConceptModel::~ConceptModel() = default;

const ModelMeta& ConceptModel::meta() const { return d->meta; }
const std::string& ConceptModel::path() const { return d->path; }
const std::string& ConceptModel::fileHash() const { return d->hash; }
std::string ConceptModel::deviceName() const { return d->device.str(); }

const LayerSpec& ConceptModel::layer(const std::string& nameOrNode) const {
  if (nameOrNode.empty()) return d->meta.deepestLayer();
  if (const LayerSpec* l = d->meta.findLayer(nameOrNode)) return *l;
  throw UserError(d->path + " offers no layer \"" + nameOrNode + "\"; choose one of: " +
                  d->meta.layerNames() + " (or re-export with more --layers).");
}

at::Tensor ConceptModel::features(const std::string& layerName, const at::Tensor& x) const {
  torch::NoGradGuard noGrad;
  return d->module.get_method("features_" + layer(layerName).name)({x.to(d->device)}).toTensor();
}

at::Tensor ConceptModel::featuresWithGrad(const std::string& layerName, const at::Tensor& x) const {
  return d->module.get_method("features_" + layer(layerName).name)({x.to(d->device)}).toTensor();
}

std::pair<at::Tensor, at::Tensor> ConceptModel::featuresWithClassTokens(
    const std::string& layerName, const at::Tensor& x) const {
  const LayerSpec& l = layer(layerName);
  if (l.classTokens == 0) return {features(layerName, x), at::Tensor()};
  torch::NoGradGuard noGrad;
  auto out = d->module.get_method("features_with_class_tokens_" + l.name)({x.to(d->device)});
  const auto& parts = out.toTupleRef().elements();
  return {parts[0].toTensor(), parts[1].toTensor()};
}

at::Tensor ConceptModel::head(const std::string& layerName, const at::Tensor& z,
                              const at::Tensor& classTokens) const {
  const LayerSpec& l = layer(layerName);
  auto method = d->module.get_method("head_" + l.name);
  auto zf = z.to(d->device, torch::kFloat);  // a float16 cache's rows run in float32
  if (l.classTokens == 0) return method({zf}).toTensor();
  if (!classTokens.defined())
    throw UserError("layer " + l.name + " of " + d->path + " is a transformer layer whose head "
                    "reads each image's class tokens as well as its patches, and none were given "
                    "here: use a cache extracted by this version of Directrix (it keeps them).");
  return method({zf, classTokens.to(d->device, torch::kFloat)}).toTensor();
}

HeadFunction ConceptModel::headFunction(const std::string& layerName,
                                        const at::Tensor& classTokens) const {
  auto self = shared_from_this();
  std::string name = layer(layerName).name;
  if (layer(name).classTokens > 0 && !classTokens.defined())
    throw UserError("layer " + name + " of " + d->path + " reads each image's class tokens, and "
                    "none were given; extract the activations again with this version (the cache "
                    "then keeps them).");
  if (layer(name).classTokens == 0)
    return [self, name](const at::Tensor& z) { return self->head(name, z); };
  return HeadFunction([self, name](const at::Tensor& z, const at::Tensor& context) {
    return self->head(name, z, context);
  }, classTokens.defined() ? classTokens.to(d->device) : classTokens);
}

HeadFunction ConceptModel::classTokenHead(const std::string& layerName,
                                          const at::Tensor& grid) const {
  const LayerSpec& spec = layer(layerName);
  if (spec.classTokens == 0)
    throw UserError("layer " + spec.name + " of " + d->path + " has no class token; choose a "
                    "transformer block whose output keeps one (directrix-cli info lists them).");
  auto self = shared_from_this();
  std::string name = spec.name;
  const int64_t tokens = spec.classTokens;
  return HeadFunction([self, name, tokens](const at::Tensor& vector, const at::Tensor& context) {
    return self->head(name, context, vector.reshape({vector.size(0), tokens, -1}));
  }, grid);  // head() moves each batch of the grid to the model's device
}

at::Tensor ConceptModel::forward(const at::Tensor& x) const {
  torch::NoGradGuard noGrad;
  return d->module.forward({x.to(d->device)}).toTensor();
}

}  // namespace dx

#pragma once
// A Directrix model: a TorchScript archive exporting, for every offered layer L,
// features_L (input -> activations) and head_L (activations -> logits), plus forward and the
// metadata file directrix.json. LibTorch has no forward hooks, so this explicit latent split
// is how we read and edit activations (packaging/export_model.py writes such files).
//
// Torch types are only forward-declared here so that most of the project compiles without
// LibTorch's heavy headers.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "discovery/concept_method.h"
#include "model/model_meta.h"

namespace at {
class Tensor;
}

namespace dx {

struct LoadOptions {
  std::string device = "auto";  // "auto" (CUDA when available), "cpu" or "cuda"
  int cudaIndex = -1;           // which GPU on a CUDA device (LOCAL_RANK of a job); -1: default
  bool optimize = true;         // freeze + optimise for inference (validated like the original)
};

class ConceptModel : public std::enable_shared_from_this<ConceptModel> {
 public:
  // Loads `path` and checks every promise of the contract on a probe batch: methods exist,
  // shapes agree with the metadata, head_L(features_L(x)) equals forward(x) within 1e-4.
  // Throws UserError listing every violation, each with how to fix it.
  static std::shared_ptr<ConceptModel> load(const std::string& path, const LoadOptions& = {});
  ~ConceptModel();

  const ModelMeta& meta() const;
  const std::string& path() const;
  const std::string& fileHash() const;  // content hash, part of activation-cache keys
  std::string deviceName() const;       // "cpu" or "cuda:0"
  // Chooses a layer by name or node; empty = the deepest. Throws UserError listing valid names.
  const LayerSpec& layer(const std::string& nameOrNode) const;

  // x: N x Cin x H x W float32 (normalised input, any device) -> N x C x h x w float32 on the
  // model's device. Runs without autograd.
  at::Tensor features(const std::string& layer, const at::Tensor& x) const;
  // The same with autograd following the caller's mode, for optimising an input (feature
  // visualisation). At a layer with class tokens, the patch grid only.
  at::Tensor featuresWithGrad(const std::string& layer, const at::Tensor& x) const;
  // The activations and, at a layer with class tokens (LayerSpec::classTokens > 0), the class
  // tokens N x p x C from the same pass; the second tensor is undefined at other layers.
  std::pair<at::Tensor, at::Tensor> featuresWithClassTokens(const std::string& layer,
                                                            const at::Tensor& x) const;
  // z: N x C x h x w float32 -> N x K logits, on the model's device. Autograd follows the caller's
  // mode, so gradients with respect to z are available when z requires grad. A layer with class
  // tokens needs them (N x p x C, the images of z); throws UserError when they are missing.
  at::Tensor head(const std::string& layer, const at::Tensor& z,
                  const at::Tensor& classTokens = {}) const;
  // The head as a HeadFunction; at a layer with class tokens they are its context (one row per
  // image the function will be given, see HeadFunction::rows). Keeps the model alive.
  HeadFunction headFunction(const std::string& layer, const at::Tensor& classTokens = {}) const;
  // At a layer with class tokens: the head as a function of the class tokens, given as an
  // image-level vector N x (p*C) x 1 x 1 (TCAV on the class token, `directrix-cli tcav
  // --class-token`), with each image's patch grid (N x C x h x w) as its context. Throws
  // UserError at a layer without class tokens.
  HeadFunction classTokenHead(const std::string& layer, const at::Tensor& grid) const;
  // x: N x Cin x H x W -> N x K logits, the original network (no autograd).
  at::Tensor forward(const at::Tensor& x) const;

 private:
  struct Impl;
  explicit ConceptModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> d;
};

// Uses every core for LibTorch's intra-op parallelism (it starts with one thread).
void configureTorchThreads();
// "cuda" when LibTorch was built with CUDA and a device is present, else "cpu".
std::string bestAvailableDevice();

}  // namespace dx

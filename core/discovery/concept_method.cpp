#include "discovery/concept_method.h"

#include <torch/torch.h>

#include <cmath>

#include "discovery/baselines.h"
#include "discovery/eddp.h"

namespace dx {

std::unique_ptr<ConceptMethod> makeConceptMethod(const std::string& name) {
  if (name == "eddp") return makeEddpMethod();
  if (name == "pca") return makePcaMethod();
  if (name == "nmf") return makeNmfMethod();
  if (name == "kmeans") return makeKMeansMethod();
  if (name == "spherical-kmeans") return makeSphericalKMeansMethod();
  if (name == "sae") return makeSparseAutoencoderMethod();
  throw UserError("unknown concept method \"" + name + "\"; choose one of: " +
                  joinedNames(conceptMethodNames(), ", ") + ".");
}

HeadFunction::HeadFunction(WithContext f, at::Tensor context)
    : mWithContext(std::move(f)), mContext(std::move(context)) {}

at::Tensor HeadFunction::operator()(const at::Tensor& z) const {
  if (mPlain) return mPlain(z);
  if (!mWithContext) throw UserError("no head (the network after the layer) was given.");
  int64_t n = z.size(0), rows = mContext.size(0);
  if (n == rows) return mWithContext(z, mContext);
  if (rows == 1) {  // one context row serves every image
    std::vector<int64_t> sizes(size_t(mContext.dim()), -1);
    sizes[0] = n;
    return mWithContext(z, mContext.expand(sizes));
  }
  throw UserError("the head of this layer reads a context per image (its class tokens, or its "
                  "patch grid on the class token), but it was given " + std::to_string(n) +
                  " images for " + std::to_string(rows) + " context rows; this analysis does "
                  "not support such layers yet.");
}

HeadFunction HeadFunction::rows(const at::Tensor& index) const {
  if (!mWithContext) return *this;
  return HeadFunction(mWithContext,
                      mContext.index_select(0, index.to(mContext.device(), torch::kLong)));
}

HeadFunction HeadFunction::rows(int64_t start, int64_t count) const {
  if (!mWithContext) return *this;
  return HeadFunction(mWithContext, mContext.slice(0, start, start + count));
}

at::Tensor patchesOf(const at::Tensor& activations) {
  return activations.permute({0, 2, 3, 1}).reshape({-1, activations.size(1)});
}

at::Tensor conceptScores(const ConceptBasis& basis, const at::Tensor& patches) {
  return patches.matmul(basis.decoders.t()) - basis.biases;
}

void checkActivations(const at::Tensor& activations, int concepts, const std::string& method) {
  if (!activations.defined() || activations.dim() != 4)
    throw UserError(method + ": activations must be N x C x h x w (got " +
                    std::to_string(activations.defined() ? activations.dim() : 0) +
                    " dimensions); extract them with directrix-cli extract.");
  if (!activations.is_floating_point())
    throw UserError(method + ": activations must be floating point (float32 .npy).");
  if (concepts < 1) throw UserError(method + ": ask for at least one concept (--concepts).");
  int64_t patches = activations.size(0) * activations.size(2) * activations.size(3);
  if (patches < concepts)
    throw UserError(method + ": " + std::to_string(patches) + " patches cannot give " +
                    std::to_string(concepts) + " concepts; use more images or fewer concepts.");
  // Block by block: a mapped cache may be larger than memory.
  bool finite = true;
  int64_t step = std::max<int64_t>(1, (int64_t(64) << 20) / std::max<int64_t>(1, activations[0].numel()));
  for (int64_t first = 0; finite && first < activations.size(0); first += step) {
    auto block = activations.slice(0, first, first + step);
    finite = std::isfinite(block.min().item<double>()) && std::isfinite(block.max().item<double>());
  }
  if (!finite)
    throw UserError(method + " found NaN or Inf in the activations. Re-extract the layer (the "
                    "cache may be damaged) or check the model for overflow.");
}

}  // namespace dx

#include "discovery/concept_method.h"

#include <torch/torch.h>

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
  if (!torch::isfinite(activations).all().item<bool>())
    throw UserError(method + " found NaN or Inf in the activations. Re-extract the layer (the "
                    "cache may be damaged) or check the model for overflow.");
}

}  // namespace dx

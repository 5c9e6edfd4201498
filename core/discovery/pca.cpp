#include "discovery/pca.h"

#include <torch/torch.h>

#include <algorithm>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"

namespace dx {

namespace {

// C x C covariance of the patches around `mean`, accumulated in float64 over row blocks: centring
// each block keeps float32 products free of the cancellation that X^T X / P - mean mean^T suffers
// when activations have a large offset, without a second P x C copy.
at::Tensor covariance(const Patches& patches, const at::Tensor& mean,
                      const baselines::StageProgress& progress) {
  const int64_t channels = patches.channels();
  at::Tensor cov = torch::zeros({channels, channels}, mean.options().dtype(torch::kFloat64));
  int64_t block = 0;
  patches.forEachBlock([&](int64_t, const at::Tensor& x) {
    at::Tensor centred = x - mean;
    cov += centred.t().matmul(centred).to(torch::kFloat64);
    progress.step(++block);
  });
  patches.reduceSum(cov);  // data-parallel: every process's share
  return cov / double(std::max<int64_t>(patches.globalRows() - 1, 1));
}

// Component signs are arbitrary; fix them so the largest-magnitude loading is positive, which
// makes fits comparable across runs and layers.
at::Tensor withCanonicalSigns(const at::Tensor& components) {
  at::Tensor largest = components.abs().argmax(1, true);
  at::Tensor sign = components.gather(1, largest).sign();
  return components * torch::where(sign == 0, torch::ones_like(sign), sign);
}

}  // namespace

std::string PcaMethod::decoderMeaning() const {
  return "Principal direction (unit); fires where the patch's projection on it is more than one "
         "standard deviation above the dataset average.";
}

std::string PcaMethod::encoderMeaning() const {
  return "The same principal direction: moving a patch along it changes only this component.";
}

ConceptBasis PcaMethod::fit(const at::Tensor& activations, const FitOptions& options) const {
  Patches patches = baselines::checkedPatches(activations, options, name());
  const int64_t channels = patches.channels();
  if (options.concepts > channels)
    throw UserError("pca finds at most one direction per channel; this layer has " +
                    std::to_string(channels) + " channels but " + std::to_string(options.concepts) +
                    " concepts were asked for. Ask for at most " + std::to_string(channels) + ".");
  baselines::StageProgress progress(options, "pca covariance", patches.blocks());
  at::Tensor mean = patches.mean();
  auto [eigenvalues, eigenvectors] = torch::linalg::eigh(covariance(patches, mean, progress), "L");
  // eigh sorts ascending: the last I columns, reversed, are the top I directions.
  at::Tensor top =
      torch::arange(channels - 1, channels - 1 - options.concepts, -1,
                    torch::TensorOptions().dtype(torch::kLong).device(mean.device()));
  at::Tensor components =
      withCanonicalSigns(eigenvectors.index_select(1, top).t()).to(torch::kFloat32);
  at::Tensor stddev = eigenvalues.index_select(0, top).clamp_min(0).sqrt().to(torch::kFloat32);
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = components;
  basis.biases = components.mv(mean) + stddev;
  basis.encoders = components.clone();
  return basis;
}

bool PcaMethod::dataParallel() const { return true; }

std::unique_ptr<ConceptMethod> makePcaMethod() { return std::make_unique<PcaMethod>(); }

}  // namespace dx

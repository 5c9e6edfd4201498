#include "discovery/nmf.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"

namespace dx {

namespace {

constexpr int kMaxIterations = 200;
// Stop when a sweep improves the relative reconstruction error by less than this fraction.
constexpr double kTolerance = 1e-5;
// HALS keeps entries at a tiny positive floor instead of 0 so no factor gets stuck at zero
// (Gillis & Glineur 2012, section 2).
constexpr float kFloor = 1e-12f;
// Ridge of the decoder's least-squares map, relative to the unit diagonal of V V^T: keeps W
// bounded when two parts are nearly collinear.
constexpr double kRidge = 1e-3;
// The parts V have only I x C unknowns: a seeded sample of this many patches pins them down as
// well as all of them, and keeps the fit at a few seconds on 500k patches (each HALS sweep costs
// two P x C x I products).
constexpr int64_t kMaxFitPatches = 131072;

void checkNonNegative(const Patches& patches) {
  auto [lowest, highest] = patches.range();
  if (lowest < 0) {
    std::ostringstream msg;
    msg << "NMF needs non-negative activations (post-ReLU layer); this layer has values down to "
        << lowest << ". Choose a layer that follows a ReLU, or use pca, kmeans or sae.";
    throw UserError(msg.str());
  }
  if (highest == 0)
    throw UserError(
        "NMF found only zero activations in this layer; there is nothing to factorise. "
        "Choose another layer or check the images.");
}

struct Factors {
  at::Tensor coefficients;  // U^T, I x P: stored transposed so HALS updates contiguous rows
  at::Tensor parts;         // V, I x C
};

// scikit-learn's "random" start: |N(0, 1)| scaled so U V has the mean of X.
Factors randomStart(const at::Tensor& patches, int concepts, at::Generator& gen) {
  double scale = std::sqrt(patches.mean().item<double>() / concepts);
  auto draw = [&](int64_t cols) {
    return (torch::randn({concepts, cols}, gen, torch::kFloat32).abs() * scale)
        .to(patches.device());
  };
  return {draw(patches.size(0)), draw(patches.size(1))};
}

// One HALS sweep for min ||T - factor^T other||^2 over factor >= 0, given
// cross = other T^T (I x n) and gram = other other^T (I x I): each row in turn gets its exact
// non-negative least-squares update with the other rows fixed.
void halsSweep(at::Tensor& factor, const at::Tensor& cross, const at::Tensor& gram) {
  for (int64_t j = 0; j < factor.size(0); ++j) {
    at::Tensor row = factor[j];
    at::Tensor step = (cross[j] - gram[j].matmul(factor)) / gram[j][j].clamp_min(1e-12f);
    row.copy_((row + step).clamp_min(kFloor));
  }
}

// ||X - U V||_F / ||X||_F from I x I and I x C products only:
// ||X||^2 - 2 <V, U^T X> + <U^T U, V V^T>.
double relativeError(double normSq, const Factors& f, const at::Tensor& coefficientsTimesX,
                     const at::Tensor& coefficientsGram) {
  double crossTerm = (f.parts * coefficientsTimesX).sum().item<double>();
  double gramTerm =
      (coefficientsGram.to(torch::kFloat64) * f.parts.matmul(f.parts.t()).to(torch::kFloat64))
          .sum()
          .item<double>();
  return std::sqrt(std::max(normSq - 2 * crossTerm + gramTerm, 0.0) / normSq);
}

at::Tensor fitSample(const Patches& patches, at::Generator& gen) {
  if (patches.rows() <= kMaxFitPatches) return patches.block(0, patches.rows());
  return patches.at(torch::randperm(patches.rows(), gen, torch::kLong).narrow(0, 0, kMaxFitPatches));
}

Factors factorise(const at::Tensor& patches, const FitOptions& options, at::Generator& gen) {
  baselines::SerialTorch serial;  // HALS is many small row updates (see baseline_common.h)
  Factors f = randomStart(patches, options.concepts, gen);
  baselines::StageProgress progress(options, "nmf (HALS)", kMaxIterations);
  double normSq = patches.pow(2).sum(at::kDouble).item<double>();
  double previous = INFINITY;
  for (int iteration = 1; iteration <= kMaxIterations; ++iteration) {
    halsSweep(f.coefficients, f.parts.matmul(patches.t()), f.parts.matmul(f.parts.t()));
    at::Tensor coefficientsTimesX = f.coefficients.matmul(patches);
    at::Tensor coefficientsGram = f.coefficients.matmul(f.coefficients.t());
    halsSweep(f.parts, coefficientsTimesX, coefficientsGram);
    double error = relativeError(normSq, f, coefficientsTimesX, coefficientsGram);
    progress.step(iteration);
    if (previous - error < kTolerance * previous) break;
    previous = error;
  }
  // Unit parts: the scale of a concept lives in its coefficients.
  at::Tensor norms = f.parts.norm(2, {1}, true).clamp_min(1e-12f);
  return {f.coefficients * norms, f.parts / norms};
}

// b_i: half the mean coefficient of concept i over the patches it dominates. NMF is parts-based,
// so several concepts coexist in a patch and "largest coefficient" would be too strict; half the
// typical dominant strength is the midpoint between absent (u = 0) and typically present. A
// concept that dominates no patch falls back to half its strongest occurrence.
at::Tensor dominanceThresholds(const at::Tensor& coefficients) {
  const int64_t concepts = coefficients.size(0);
  at::Tensor dominant = coefficients.argmax(0);
  at::Tensor strength = coefficients.gather(0, dominant.unsqueeze(0)).squeeze(0);
  at::Tensor sums =
      torch::zeros({concepts}, coefficients.options()).index_add_(0, dominant, strength);
  at::Tensor counts = torch::bincount(dominant, {}, concepts).to(torch::kFloat32);
  at::Tensor typical =
      torch::where(counts > 0, sums / counts.clamp_min(1), std::get<0>(coefficients.max(1)));
  return 0.5f * typical;
}

}  // namespace

std::string NmfMethod::decoderMeaning() const {
  return "Least-squares estimate of the part's non-negative coefficient; fires where it exceeds "
         "half the part's typical strength in the patches it dominates.";
}

std::string NmfMethod::encoderMeaning() const {
  return "The non-negative part (unit norm) that the factorisation adds to a patch in proportion "
         "to "
         "its coefficient.";
}

ConceptBasis NmfMethod::fit(const at::Tensor& activations, const FitOptions& options) const {
  Patches patches = baselines::checkedPatches(activations, options, name());
  checkNonNegative(patches);
  at::Generator gen = baselines::seededGenerator(options.seed);
  Factors f = factorise(fitSample(patches, gen), options, gen);
  at::Tensor gram = f.parts.matmul(f.parts.t());
  at::Tensor ridge = kRidge * torch::eye(options.concepts, gram.options());
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = torch::linalg::solve(gram + ridge, f.parts, true);
  basis.biases = dominanceThresholds(f.coefficients);
  basis.encoders = f.parts;
  return basis;
}

std::unique_ptr<ConceptMethod> makeNmfMethod() { return std::make_unique<NmfMethod>(); }

}  // namespace dx

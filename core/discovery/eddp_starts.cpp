#include "discovery/eddp_starts.h"

#include <torch/torch.h>

#include <algorithm>

#include "discovery/baselines.h"
#include <limits>

#include "discovery/lloyd.h"

namespace dx::eddp {

at::Tensor sampleRows(const at::Tensor& x, int64_t most, at::Generator& gen) {
  if (x.size(0) <= most) return x;
  return x.index_select(0, torch::randperm(x.size(0), gen).slice(0, 0, most).to(x.device()));
}

at::Tensor sampleRows(const Patches& x, int64_t most, at::Generator& gen) {
  if (x.globalRows() <= most) return x.leading(x.globalRows());
  return x.gather(torch::randperm(x.globalRows(), gen).slice(0, 0, most));
}

at::Tensor fastIca(const at::Tensor& z, at::Generator& gen, const CancelToken& cancel) {
  int64_t r = z.size(1);
  double n = double(z.size(0));
  auto w = std::get<0>(torch::linalg_qr(torch::randn({r, r}, gen, z.options())));
  for (int iteration = 0; iteration < 200; ++iteration) {
    if (cancel.cancelled()) throw Cancelled();
    auto g = torch::tanh(z.matmul(w.t()));  // P x r
    auto next = g.t().matmul(z) / n - (1 - g.pow(2)).mean(0).unsqueeze(1) * w;
    auto [u, s, vh] = torch::linalg_svd(next, false);  // symmetric decorrelation
    next = u.matmul(vh);
    double change = ((next * w).sum(1).abs() - 1).abs().max().item<double>();
    w = next;
    if (change < 1e-6) break;
  }
  return w;
}

namespace {

at::Tensor unitRows(const at::Tensor& v) { return v / v.norm(2, {1}, true).clamp_min(1e-12); }

// whitenedInput: `standardised` is pcaWhitening's output, whose columns all have unit variance
// and come in descending order of the raw variance they whiten. Its own principal components are
// then an arbitrary rotation (all variances equal), so the leading ones by a second whitening
// would be an arbitrary subspace; its leading columns are the raw data's leading components.
at::Tensor icaDirections(const at::Tensor& standardised, int concepts, at::Generator& gen,
                         const CancelToken& cancel, bool whitenedInput) {
  // ICA in at most max(2 I, 64) leading components keeps it cheap on wide layers.
  const int64_t most = std::max<int64_t>(2 * concepts, 64);
  const int64_t width = standardised.size(1);
  // Whitened input: only its leading columns are read, so only they are copied.
  auto read = whitenedInput ? standardised.slice(1, 0, std::min(most, width)) : standardised;
  // One float64 copy, centred in place (the same values as x - mean): at 100,000 x 2048 a second
  // copy was another 1.6 GB.
  auto centred = read.to(torch::kDouble, /*non_blocking=*/false, /*copy=*/true);
  centred -= centred.mean(0);
  auto whitening = pcaWhitening(centred);
  int64_t r = std::min<int64_t>(whitening.size(1), most);
  whitening = whitening.slice(1, 0, r);
  auto z = centred.matmul(whitening);
  auto unmixing = fastIca(z, gen, cancel);  // rows in whitened coordinates
  auto readings = z.matmul(unmixing.t());
  auto skew = readings.pow(3).mean(0) / readings.pow(2).mean(0).pow(1.5).clamp_min(1e-300);
  auto order = skew.abs().argsort(0, /*descending=*/true).slice(0, 0, concepts);
  // A reading r = u . z = u . (x - m) T; as a direction in the standardised space: T u.
  auto directions = unmixing.index_select(0, order).matmul(whitening.t());
  if (centred.size(1) < width)  // the leading columns only: the others are 0
    directions = torch::cat(
        {directions, torch::zeros({directions.size(0), width - centred.size(1)},
                                  directions.options())},
        1);
  directions = directions * skew.index_select(0, order).sign().unsqueeze(1);
  if (directions.size(0) < concepts) {  // fewer components than concepts: fill with random ones
    auto extra = torch::randn({concepts - directions.size(0), width}, gen, centred.options());
    directions = torch::cat({directions, extra});
  }
  return unitRows(directions).to(standardised.scalar_type());
}

}  // namespace

at::Tensor covarianceWhitening(at::Tensor covariance) {
  auto [values, vectors] = torch::linalg::eigh(covariance, "L");  // ascending
  values = values.flip(0).clamp_min(0), vectors = vectors.flip(1);
  auto keep = std::max<int64_t>(1, (values > 1e-9 * values[0]).sum().item<int64_t>());
  return vectors.slice(1, 0, keep) / values.slice(0, 0, keep).clamp_min(1e-300).sqrt();
}

at::Tensor pcaWhitening(const at::Tensor& patches) {
  // Covariance in double, a chunk of patches at a time: no double copy of the whole matrix.
  auto mean = patches.mean(0).to(torch::kDouble);
  auto covariance = torch::zeros({patches.size(1), patches.size(1)}, mean.options());
  for (int64_t start = 0; start < patches.size(0); start += 1 << 16) {
    auto chunk = patches.slice(0, start, std::min(patches.size(0), start + (1 << 16)));
    auto centred = chunk.to(torch::kDouble) - mean;
    covariance += centred.t().matmul(centred);
  }
  covariance /= double(std::max<int64_t>(1, patches.size(0) - 1));
  return covarianceWhitening(covariance).to(patches.scalar_type());
}

at::Tensor pcaWhitening(const Patches& patches) {
  // Exact sums (Patches::exactSums): kept or streamed, one process or several, the same bits.
  auto mean = patches.mean().to(torch::kDouble);
  auto product = [&mean](const at::Tensor& chunk) {
    auto centred = chunk.to(torch::kDouble) - mean;
    return std::vector<at::Tensor>{centred.t().matmul(centred)};
  };
  const int64_t width = mean.numel();
  at::Tensor covariance;
  if (width * width * 8 * patches.foldBlocks() <= (int64_t(256) << 20)) {
    covariance = patches.exactSums(product).front();
  } else {
    // The blocks' C x C products are not kept: their exact maxima would compute each twice
    // (2,048 channels, 100,000 images: most of the fit's first 38 minutes; README "Large
    // caches"). Cauchy-Schwarz bounds every entry from one elementwise pass instead:
    // |sum_r c_ri c_rj| <= sqrt(A_i A_j), A a block's per-channel sums of squares (twice that,
    // for the product's own rounding). The decision depends on global sizes only, so every
    // process takes the same grid.
    auto squares = patches
                       .blockMaxima([&mean](const at::Tensor& chunk) {
                         auto centred = chunk.to(torch::kDouble) - mean;
                         return std::vector<at::Tensor>{centred.pow(2).sum(0)};
                       })
                       .front();
    auto bound = 2 * squares.outer(squares).sqrt();
    covariance = patches.boundedExactSums(product, {bound}).front();
  }
  covariance /= double(std::max<int64_t>(1, patches.globalRows() - 1));
  return covarianceWhitening(covariance).to(patches.activations().device(), torch::kFloat);
}

at::Tensor startDirections(const std::string& kind, const at::Tensor& standardised, int concepts,
                           uint64_t seed, const CancelToken& cancel) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto sample = sampleRows(standardised, 100000, gen);
  FitOptions o;
  o.concepts = concepts;
  o.seed = seed;
  o.cancel = cancel;
  if (kind == "spherical-kmeans")
    return makeSphericalKMeansMethod()->fit(sample.unsqueeze(2).unsqueeze(3), o).decoders;
  if (kind == "kmeans") {
    auto centred = (sample - sample.mean(0)).contiguous();
    auto clusters = baselines::lloydKMeans(centred, concepts, baselines::Geometry::Euclidean, o,
                                           "eddp start: k-means");
    return unitRows(clusters.centroids);
  }
  if (kind == "ica") return icaDirections(sample, concepts, gen, cancel, false);
  if (kind == "ica-whitened") return icaDirections(sample, concepts, gen, cancel, true);
  throw UserError("unknown EDDP start \"" + kind +
                  "\"; use spherical-kmeans, kmeans, ica or ica-whitened.");
}

std::pair<at::Tensor, at::Tensor> splitDirections(const at::Tensor& positives, uint64_t seed,
                                                  const CancelToken& cancel) {
  if (positives.size(0) < 2) throw UserError("too few positives to split a detector");
  auto gen = at::detail::createCPUGenerator(seed);
  FitOptions o;
  o.concepts = 2;
  o.seed = seed;
  o.cancel = cancel;
  auto sample = sampleRows(positives, 100000, gen).contiguous();
  auto clusters = baselines::lloydKMeans(sample, 2, baselines::Geometry::Euclidean, o,
                                         "eddp: splitting a detector");
  auto units = unitRows(clusters.centroids);
  return {units[0], units[1]};
}

}  // namespace dx::eddp

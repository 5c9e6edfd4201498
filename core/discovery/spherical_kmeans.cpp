#include "discovery/spherical_kmeans.h"

#include <torch/torch.h>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"
#include "discovery/lloyd.h"

namespace dx {

namespace {

// Mean of each cluster's rows of `centred` (I x C); 0 for an empty cluster.
at::Tensor clusterMeans(const Patches& centred, const baselines::Clustering& clusters) {
  at::Tensor sums = torch::zeros_like(clusters.centroids);
  centred.forEachBlock([&](int64_t begin, const at::Tensor& x) {
    sums.index_add_(0, clusters.labels.narrow(0, begin, x.size(0)), x);
  });
  centred.reduceSum(sums);  // counts are already over every process
  return sums / clusters.counts.clamp_min(1).unsqueeze(1).to(sums.dtype());
}

}  // namespace

std::string SphericalKMeansMethod::decoderMeaning() const {
  return "Unit centroid of the cluster by angle around the mean patch; fires where the projection "
         "on it best separates the cluster's patches from the rest.";
}

std::string SphericalKMeansMethod::encoderMeaning() const {
  return "Mean of the cluster's patches minus the mean patch: what belonging to the cluster adds.";
}

ConceptBasis SphericalKMeansMethod::fit(const at::Tensor& activations,
                                        const FitOptions& options) const {
  Patches patches = baselines::checkedPatches(activations, options, name());
  at::Tensor mean = patches.mean();
  Patches centred = patches.mapped([mean](const at::Tensor& x) { return x - mean; });
  baselines::Clustering clusters = baselines::lloydKMeans(
      centred.mapped([](const at::Tensor& x) { return baselines::unitRows(x); }),
      options.concepts, baselines::Geometry::Spherical, options, "spherical k-means");
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = clusters.centroids;
  basis.biases = baselines::balancedThresholds(patches, basis.decoders, clusters.labels);
  basis.encoders = clusterMeans(centred, clusters);
  return basis;
}

bool SphericalKMeansMethod::dataParallel() const { return true; }

std::unique_ptr<ConceptMethod> makeSphericalKMeansMethod() {
  return std::make_unique<SphericalKMeansMethod>();
}

}  // namespace dx

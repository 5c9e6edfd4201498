#include "discovery/kmeans.h"

#include <torch/torch.h>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"
#include "discovery/lloyd.h"

namespace dx {

namespace {

// unit(c_i - mean_{j != i} c_j) for every i; 0 when there is no other centroid.
at::Tensor oneVersusRestDirections(const at::Tensor& centroids) {
  const int64_t k = centroids.size(0);
  if (k == 1) return torch::zeros_like(centroids);
  at::Tensor others = (centroids.sum(0, true) - centroids) / double(k - 1);
  return baselines::unitRows(centroids - others);
}

}  // namespace

std::string KMeansMethod::decoderMeaning() const {
  return "Unit direction from the mean of the other centroids to this cluster's centroid; fires on "
         "the side of the hyperplane that best separates the cluster's patches from the rest.";
}

std::string KMeansMethod::encoderMeaning() const {
  return "Cluster centroid minus the mean patch: what belonging to the cluster adds.";
}

ConceptBasis KMeansMethod::fit(const at::Tensor& activations, const FitOptions& options) const {
  Patches patches = baselines::checkedPatches(activations, options, name());
  baselines::Clustering clusters = baselines::lloydKMeans(
      patches, options.concepts, baselines::Geometry::Euclidean, options, "k-means (Lloyd)");
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = oneVersusRestDirections(clusters.centroids);
  basis.biases = baselines::balancedThresholds(patches, basis.decoders, clusters.labels);
  basis.encoders = clusters.centroids - patches.mean();
  return basis;
}

bool KMeansMethod::dataParallel() const { return true; }

std::unique_ptr<ConceptMethod> makeKMeansMethod() { return std::make_unique<KMeansMethod>(); }

}  // namespace dx

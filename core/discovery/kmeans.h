#pragma once
// k-means (Lloyd 1982, k-means++ seeding of Arthur & Vassilvitskii 2007) of the patches as a
// concept method: concept i is cluster i with centroid c_i; mu is the mean of all patches.
//   encoder: s_i = c_i - mu, what membership of cluster i adds to the average patch.
//   decoder: w_i = unit(c_i - mean of the other centroids), the linear one-vs-rest boundary
//            closest to "the nearest centroid is c_i": under k-means' own model (isotropic
//            clusters of equal spread) the optimal linear boundary between two clusters is normal
//            to their centroid difference, and like the nearest-centroid rule it ignores cluster
//            sizes. b_i is the threshold on w_i . x that best reproduces membership of cluster i
//            (balanced accuracy, middle of the best range; baseline_common.h), so w_i . x - b_i is
//            the signed distance to the detector's hyperplane.
// With I = 1 every patch is a member; the decoder is then 0 and the detector always fires.
#include "discovery/concept_method.h"

namespace dx {

class KMeansMethod : public ConceptMethod {
 public:
  std::string name() const override { return "kmeans"; }
  std::string decoderMeaning() const override;
  std::string encoderMeaning() const override;
  ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const override;
  bool dataParallel() const override;
};

}  // namespace dx

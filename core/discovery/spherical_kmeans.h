#pragma once
// Spherical k-means (Dhillon & Modha 2001) of the patches as a concept method: patches are
// centred on their mean mu and scaled to unit length, then clustered by cosine similarity
// (k-means++ seeding on the unit sphere, where squared distance is 2 - 2 cos) into unit
// centroids c_i. This is the fast method docs/methods.md 1.2 also uses to start EDDP.
//   decoder: w_i = c_i (unit). A detector must be linear in the raw patch, so it cannot divide by
//            |x - mu| as the clustering does: it thresholds c_i . x = |x - mu| cos + c_i . mu.
//            b_i is the threshold that best reproduces membership of cluster i (balanced
//            accuracy, baseline_common.h), which folds the centring into the bias. Caveat of
//            that normalisation: members close to the mean (small |x - mu|) score low and can be
//            missed, and far-away patches at a wider angle can pass.
//   encoder: s_i = mean of the cluster's raw patches - mu, what membership adds to the average
//            patch (c_i itself has lost the scale).
#include "discovery/concept_method.h"

namespace dx {

class SphericalKMeansMethod : public ConceptMethod {
 public:
  std::string name() const override { return "spherical-kmeans"; }
  std::string decoderMeaning() const override;
  std::string encoderMeaning() const override;
  ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const override;
  bool dataParallel() const override;
};

}  // namespace dx

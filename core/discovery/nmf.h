#pragma once
// Non-negative matrix factorisation of the patches, as CRAFT uses it for concept extraction
// (Fel et al., CVPR 2023): X (P x C) ~= U V with U (P x I) >= 0 and V (I x C) >= 0, fitted by
// HALS (hierarchical alternating least squares; Cichocki & Phan 2009, Gillis & Glineur 2012),
// the exact block-coordinate update behind scikit-learn's "cd" solver that CRAFT calls. Rows of V
// are scaled to unit norm (the scale moves into U). Fitted on at most 131,072 patches drawn with
// the seed, whose products are summed exactly per fold block, so that several processes give
// the one-process bits (nmf.cpp, FitSample). Needs non-negative (post-ReLU) activations.
//   encoder: s_i = V_i, the non-negative part written into a patch with coefficient u_i.
//   decoder: w_i = row i of W = (V V^T + 1e-3 I)^{-1} V, the least-squares coefficient map
//            (W x ~= u for x in the span of V; W s_j ~= delta_ij as docs/methods.md 1.1 asks), and
//            b_i = half the mean of u_i over the patches where concept i has the largest
//            coefficient: present where the concept reaches half its typical dominant strength.
#include "discovery/concept_method.h"

namespace dx {

class NmfMethod : public ConceptMethod {
 public:
  std::string name() const override { return "nmf"; }
  std::string decoderMeaning() const override;
  std::string encoderMeaning() const override;
  ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const override;
  bool dataParallel() const override;
};

}  // namespace dx

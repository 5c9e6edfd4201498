#pragma once
// Principal component analysis (Pearson 1901; Hotelling 1933) of the patches as a concept method.
// Concept i is the i-th principal direction v_i (unit, sign fixed so that its largest-magnitude
// channel is positive) of the centred patches, i = 1..I by decreasing variance lambda_i.
//   decoder: w_i = v_i, b_i = v_i . mean + sqrt(lambda_i): present where the projection is more
//            than one standard deviation above its dataset average.
//   encoder: s_i = v_i: x = mean + sum_i (v_i . (x - mean)) v_i + residual, and w_i . s_i = 1 as
//            docs/methods.md 1.1 asks of every pair.
// Requires I <= C (a C-channel layer has C principal directions).
#include "discovery/concept_method.h"

namespace dx {

class PcaMethod : public ConceptMethod {
 public:
  std::string name() const override { return "pca"; }
  std::string decoderMeaning() const override;
  std::string encoderMeaning() const override;
  ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const override;
  bool dataParallel() const override;
};

}  // namespace dx

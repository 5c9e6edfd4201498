#pragma once
// Top-k sparse autoencoder (Gao et al. 2024, "Scaling and evaluating sparse autoencoders") on the
// patches as a concept method, with k = max(1, I / 8) latents active per patch:
//   z = TopK(ReLU(W_enc (x - b_dec) + b_enc)),   x_hat = W_dec z + b_dec,
// unit-norm decoder columns, the AuxK loss for dead latents (weight 1/32), Adam on minibatches of
// patches for a fixed budget of epochs. The dictionary starts at greedy k-means++ seeds among the
// directions of the centred patches (see initialised() in the .cpp for why).
//   decoder: w_i = row i of W_enc (in raw units), so w_i . x = pre-activation of latent i plus a
//            constant. b_i is the threshold that best reproduces "latent i is active" (among the
//            top k and positive; balanced accuracy, baseline_common.h). Thresholding the
//            pre-activation at 0 would be the ReLU's rule, but in a top-k SAE the TopK decides
//            activity (Gao et al. 2024, section 2.3) and pre-activations are positive on almost
//            every patch (97% on a synthetic 500k-patch benchmark), so that detector would fire
//            everywhere.
//   encoder: s_i = column i of W_dec (in raw units): x_hat = b_dec + sum_i z_i s_i, z_i the
//            (top-k, ReLU) activation of latent i.
#include "discovery/concept_method.h"

namespace dx {

class SparseAutoencoderMethod : public ConceptMethod {
 public:
  std::string name() const override { return "sae"; }
  std::string decoderMeaning() const override;
  std::string encoderMeaning() const override;
  ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const override;
  bool dataParallel() const override;
};

}  // namespace dx

#include "interventions.h"

#include <torch/torch.h>

namespace cs {
namespace {

// Detector excess (w_i . x - b_i) / (w_i . s_i) per position: n x h x w.
at::Tensor excess(const ConceptBasis& basis, const at::Tensor& z, int i, double margin) {
  auto w = basis.decoders[i], s = basis.encoders[i];
  auto gain = (w * s).sum().item<double>();
  if (std::abs(gain) < 1e-12) gain = 1;
  return (torch::einsum("c,nchw->nhw", {w, z}) - basis.biases[i] + margin) / gain;
}

at::Tensor along(const ConceptBasis& basis, int i, const at::Tensor& amount) {
  return amount.unsqueeze(1) * basis.encoders[i].view({1, -1, 1, 1});
}

}  // namespace

at::Tensor editConcepts(const ConceptBasis& basis, const at::Tensor& z,
                        const std::vector<ConceptEdit>& edits, double margin, bool rectify) {
  torch::NoGradGuard noGrad;
  auto out = z.clone();
  for (const auto& e : edits) {
    if (e.concept < 0 || e.concept >= basis.concepts())
      throw UserError("concept " + std::to_string(e.concept) + " does not exist (there are " +
                      std::to_string(basis.concepts()) + ").");
    if (e.strength == 0) continue;
    if (e.strength < 0) {
      auto amount = excess(basis, out, e.concept, margin).clamp_min(0) * std::min(1.0, -e.strength);
      out -= along(basis, e.concept, amount);
    } else {
      auto amount = excess(basis, out, e.concept, 0).clamp_min(0) * e.strength;
      out += along(basis, e.concept, amount);
    }
  }
  return rectify ? out.clamp_min(0) : out;
}

at::Tensor correctConcept(const ConceptBasis& basis, const at::Tensor& z, int concept, double k) {
  torch::NoGradGuard noGrad;
  auto m = torch::sigmoid(excess(basis, z, concept, 0) *
                          (basis.decoders[concept] * basis.encoders[concept]).sum());
  return (z - along(basis, concept, m * k)).clamp_min(0);
}

Counterfactual counterfactual(const HeadFunction& head, const ConceptBasis& basis,
                              const at::Tensor& z, const std::vector<ConceptEdit>& edits) {
  torch::NoGradGuard noGrad;
  auto original = torch::softmax(head(z), 1);
  auto edited = edits.empty() ? original : torch::softmax(head(editConcepts(basis, z, edits)), 1);
  return {original, edited};
}

}  // namespace cs

#include "analysis/interventions.h"

#include <torch/torch.h>

namespace dx {
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

// Lowers concept i's detector score w_i . x - b_i at every position to `target` by moving along
// s_i. With `rectify` the ReLU clips coordinates that would go negative; that lifts the score
// back (a concept switched "off" could still fire), so the move is repeated on the coordinates
// that can still move (positive, or where s_i < 0) until every position reaches its target.
at::Tensor lowerScores(const ConceptBasis& basis, at::Tensor out, int i, const at::Tensor& target,
                       bool rectify) {
  auto w = basis.decoders[i], s = basis.encoders[i].view({1, -1, 1, 1});
  auto ws = (w.view({1, -1, 1, 1}) * s);
  const int rounds = rectify ? 12 : 1;
  for (int round = 0; round < rounds; ++round) {
    auto need = (torch::einsum("c,nchw->nhw", {w, out}) - basis.biases[i] - target).clamp_min(0);
    if (need.max().item<double>() < 1e-5) break;
    auto movable = rectify ? ((out > 0) | (s < 0)).to(out.scalar_type()) : torch::ones_like(out);
    auto gain = (ws * movable).sum(1);  // n x h x w: how far the score moves per unit along s_i
    auto step = torch::where(gain > 1e-12, need / gain.clamp_min(1e-12), torch::zeros_like(need));
    out = out - step.unsqueeze(1) * s * movable;
    if (rectify) out = out.clamp_min(0);
  }
  return out;
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
      // Target: the score minus |strength| of its excess over "just below the threshold".
      auto score = torch::einsum("c,nchw->nhw", {basis.decoders[e.concept], out}) -
                   basis.biases[e.concept];
      auto target = score - (score + margin).clamp_min(0) * std::min(1.0, -e.strength);
      out = lowerScores(basis, out, e.concept, target, rectify);
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

}  // namespace dx

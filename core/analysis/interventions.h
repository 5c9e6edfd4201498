#pragma once
// Editing concepts in activations and reading the network's answer (docs/methods.md 1.6).
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx {

// strength -1 switches concept i off, 0 leaves it, > 0 amplifies it (the UI's slider).
struct ConceptEdit {
  int concept = 0;
  double strength = -1;
};

// Toggle-off rule (docs/methods.md 1.6, our choice): move each patch along s_i just below detector
// i's threshold, x' = ReLU(x - max(0, (w_i . x - b_i + margin) / (w_i . s_i)) s_i), scaled by
// |strength| in (-1, 0). Because w_j . s_i ~ 0 for j != i, the other detectors keep their readings.
// With `rectify` the ReLU can lift a moved patch back over the threshold (coordinates clipped at
// 0 no longer carry the move); the move is then repeated on the coordinates that can still go
// down, so "off" leaves the concept absent (ConceptSession::edit shows what else moved).
// Amplifying (strength > 0) adds strength times the concept's excess over its threshold:
// x' = x + strength * max(0, w_i . x - b_i) / (w_i . s_i) s_i.
// z: n x C x h x w -> edited copy. `rectify` applies the ReLU (post-ReLU layers).
at::Tensor editConcepts(const ConceptBasis& basis, const at::Tensor& z,
                        const std::vector<ConceptEdit>& edits, double margin = 0.5,
                        bool rectify = true);

// The paper's correction rule: x' = ReLU(x - m_p k s_i), m_p = sigmoid(w_i . x_p - b_i).
at::Tensor correctConcept(const ConceptBasis& basis, const at::Tensor& z, int concept,
                          double k = 450);

// Class probabilities before and after edits for n images: n x K each.
struct Counterfactual {
  at::Tensor original, edited;
};
Counterfactual counterfactual(const HeadFunction& head, const ConceptBasis& basis,
                              const at::Tensor& z, const std::vector<ConceptEdit>& edits);

}  // namespace dx

#pragma once
// Uncertainty Region Alignment (docs/methods.md 1.4): move every patch towards the intersection of
// the detectors' hyperplanes W x = b, where no detector is confident, and ask the frozen rest
// of the network to be maximally uncertain there. Gradients flow through the head into W, b, S.
#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx::eddp {

// Shift dx (same shape as x: ... x D) that moves x onto the intersection, via an I x I ridge
// solve instead of a pseudo-inverse. decoders W: I x D, biases b: I.
//  unconstrained (encoders undefined): dx = W^T (W W^T + lambda I)^-1 (W x - b)
//  constrained (encoders S: I x D):    dx = S^T (W S^T + lambda I)^-1 (W x - b)   (dx in span S)
at::Tensor uraShift(const at::Tensor& x, const at::Tensor& decoders, const at::Tensor& biases,
                    const at::Tensor& encoders, double ridge = 1e-4);

// -E[H(softmax(head(X')))], X' = X - kappa dx with kappa ~ U[0.5, 0.9] per image.
// activations: n x C x h x w (raw space). With `pooled` the head starts with global average
// pooling, so only the n x C pooled features are shifted and passed on as n x C x 1 x 1.
at::Tensor uraLoss(const HeadFunction& head, const at::Tensor& activations, bool pooled,
                   const at::Tensor& decoders, const at::Tensor& biases,
                   const at::Tensor& encoders, const at::Tensor& kappa);
// The n entropies H(softmax(head(X'))) whose mean uraLoss negates.
at::Tensor uraEntropies(const HeadFunction& head, const at::Tensor& activations, bool pooled,
                        const at::Tensor& decoders, const at::Tensor& biases,
                        const at::Tensor& encoders, const at::Tensor& kappa);

// True when head(A) equals head(mean over positions of A, as n x C x 1 x 1) on a probe:
// then URA may use the pooled shortcut.
bool headPoolsGlobally(const HeadFunction& head, const at::Tensor& probeActivations);

}  // namespace dx::eddp

#pragma once
// The frozen rest of the network after a layer (f+), from a file: a Directrix model (its
// head_<layer> method) or any TorchScript module whose forward maps N x C x h x w activations
// to N x K logits.
#include <string>

#include "discovery/concept_method.h"

namespace dx {

// Throws UserError naming the file when it cannot be loaded or has no suitable method. A head that
// also reads class tokens (a transformer layer) gets `classTokens` (N x p x C, one row per image
// of the activations it will be given) as its context; without them it throws.
HeadFunction loadHeadModule(const std::string& path, const std::string& layer,
                            const at::Tensor& classTokens = {});

}  // namespace dx

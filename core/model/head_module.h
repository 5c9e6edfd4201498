#pragma once
// The frozen rest of the network after a layer (f+), from a file: a Directrix model (its
// head_<layer> method) or any TorchScript module whose forward maps N x C x h x w activations
// to N x K logits.
#include <string>

#include "discovery/concept_method.h"

namespace dx {

// Throws UserError naming the file when it cannot be loaded or has no suitable method.
HeadFunction loadHeadModule(const std::string& path, const std::string& layer);

}  // namespace dx

#pragma once
// The one writer of a concept set's folder, used by `directrix-cli discover` and by the GUI's
// save (ConceptSession::save): decoders.npy, biases.npy, encoders.npy, image_strength.npy,
// optionally label_positives.npy, and concepts.json. Every file is first written as
// <name>.tmp and moved into place only once all are written, so a full disk or a read-only
// folder leaves the previous set whole.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "analysis/influence_test_info.h"

namespace dx {

struct ConceptSetFiles {
  at::Tensor decoders, biases, encoders;  // I x C, I, I x C
  at::Tensor imageStrength;               // N x I
  at::Tensor labelPositives;              // N x I uint8, or undefined (no INVERT labels)
  nlohmann::json document;                // concepts.json, from conceptSetDocument()
};

// The fields every concepts.json has; callers add their own (the CLI its timing, the GUI the
// users' labels inside "concepts").
nlohmann::json conceptSetDocument(const std::string& method, const std::string& preset,
                                  uint64_t seed, int conceptsRequested, const std::string& layer,
                                  const std::vector<std::string>& classes,
                                  const InfluenceTestInfo& influenceTest,
                                  nlohmann::json concepts);

// Throws UserError naming the folder and the fix; the previous files stay on failure.
void writeConceptSet(const std::string& dir, const ConceptSetFiles& files);

}  // namespace dx

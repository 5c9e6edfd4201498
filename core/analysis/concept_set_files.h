#pragma once
// The one writer of a concept set's folder, used by `directrix-cli discover` and by the GUI's
// save (ConceptSession::save): decoders.npy, biases.npy, encoders.npy, image_strength.npy,
// optionally label_positives.npy, and concepts.json.
//
// A save is a small transaction, so a full disk, a read-only folder or a SIGKILL never leaves
// a mix of two sets: every file is first written (and fsynced) as <name>.tmp; then a journal
// (.save-journal.json, written atomically) lists the moves; then the moves run and the journal
// is deleted. Before the journal exists, the previous set is untouched; once it exists, the
// save is decided, and whoever opens the folder next finishes the moves (recoverConceptSet).
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "analysis/concept_folder.h"
#include "analysis/influence_test_info.h"
#include "discovery/concept_method.h"

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

// concepts.json's "adaptive_choice" block: {"fitted": preset, "kmeans_agreement", "threshold"},
// and where partition was not chosen "ica_valley": {"agreement", "agreement_threshold",
// "unclaimed", "unclaimed_threshold"} (eddp_valley.h valleyRepeatability); where balanced left
// a degenerate detector "degenerate_balanced": {"detector", "share", "partition_taken"}; where
// the preset asks for encoders by ICA within firing groups "ica_encoders": {"single_firing",
// "single_firing_threshold", "concepts" (the detectors whose encoders came from ICA), "skipped"
// (why none could, where the step did not run)} (group_ica_encoders.h).
nlohmann::json fitChoiceJson(const FitChoice& choice);

// Throws UserError naming the folder and the fix; the previous files stay on failure.
void writeConceptSet(const std::string& dir, const ConceptSetFiles& files);

// Copies the concept set in `from` into `to` (an export), as one transaction like a save.
void copyConceptSet(const std::string& from, const std::string& to);

}  // namespace dx

#pragma once
// A seed-stability check of a concept set (discovery/concept_stability.h): each concept's value
// and how it was measured, for concepts.json's "stability_check" block, written alike by the CLI
// (discover --stability) and the GUI (Concept › Check Seed Stability). No torch here; the
// functions are defined in concept_report.cpp.
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace dx {

struct StabilityCheck {
  std::vector<double> stability;  // per concept: lower median matched firing IoU over the refits
  std::vector<uint64_t> refitSeeds{};  // {} so that {stability} alone initialises it quietly
  int64_t samplePatches = 0;
  double refitSeconds = 0;
};

// Concepts below kUnstableBelow (discovery/degenerate.h).
int unstableConcepts(const StabilityCheck& check);
nlohmann::json stabilityCheckJson(const StabilityCheck& check);

}  // namespace dx

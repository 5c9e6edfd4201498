#pragma once
// The names of the concept methods and of EDDP's presets: one list for the CLI, the GUI and the
// tests (no torch here, so the GUI can include it cheaply). makeConceptMethod(name)
// (concept_method.h) builds each method; eddpPreset(name) (eddp.h) each preset.
#include <string>
#include <vector>

namespace dx {

// "eddp" first (the default), then the unsupervised baselines.
std::vector<std::string> conceptMethodNames();
// "adaptive" first (the default), then the others (docs/methods.md 1.5).
const std::vector<std::string>& eddpPresetNames();
// Names joined by `separator`, e.g. "eddp|pca|nmf" for usage texts.
std::string joinedNames(const std::vector<std::string>& names, const std::string& separator);

}  // namespace dx

#include "discovery/method_registry.h"

namespace dx {

std::vector<std::string> conceptMethodNames() {
  return {"eddp", "pca", "nmf", "kmeans", "spherical-kmeans", "sae"};
}

const std::vector<std::string>& eddpPresetNames() {
  static const std::vector<std::string> names{"adaptive",   "balanced", "partition",
                                              "ica-valley", "quick",    "paper",
                                              "paper-kurtosis", "paper-constrained"};
  return names;
}

std::string joinedNames(const std::vector<std::string>& names, const std::string& separator) {
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : separator) + n;
  return all;
}

}  // namespace dx

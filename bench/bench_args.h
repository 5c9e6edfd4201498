#pragma once
// Small helpers shared by the benchmark programs' option parsing.
#include <sstream>
#include <string>
#include <vector>

namespace cs::bench {

// "eddp,pca,nmf" -> {"eddp", "pca", "nmf"}.
inline std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

}  // namespace cs::bench

#pragma once
// Small helpers shared by the benchmark programs' option parsing.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace dx::bench {

// "eddp,pca,nmf" -> {"eddp", "pca", "nmf"}.
inline std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// "eddp:ica-valley" -> {"eddp", "ica-valley"}; a method without a preset -> {method, ""}.
inline std::pair<std::string, std::string> methodAndPreset(const std::string& item) {
  auto colon = item.find(':');
  if (colon == std::string::npos) return {item, ""};
  return {item.substr(0, colon), item.substr(colon + 1)};
}

// The value after `name` on the command line, else `fallback`.
inline std::string option(int argc, char** argv, const std::string& name,
                          const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

}  // namespace dx::bench

#pragma once
// Small helpers shared by the benchmark programs' option parsing.
#include <sstream>
#include <string>
#include <vector>

namespace dx::bench {

// "eddp,pca,nmf" -> {"eddp", "pca", "nmf"}.
inline std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// The value after `name` on the command line, else `fallback`.
inline std::string option(int argc, char** argv, const std::string& name,
                          const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

}  // namespace dx::bench

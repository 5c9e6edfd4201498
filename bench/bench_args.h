#pragma once
// Small helpers shared by the benchmark programs' option parsing.
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <set>
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

// The value after `name` on the command line, else `fallback`. `name` as the last word has no
// value: that stops the program rather than running it with the default.
inline std::string option(int argc, char** argv, const std::string& name,
                          const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  if (argc > 1 && argv[argc - 1] == name) {
    std::fprintf(stderr, "option %s needs a value\n", name.c_str());
    std::exit(2);
  }
  return fallback;
}

// For programs whose options all take a value, read as "--name value" pairs: an odd count means
// the last option has none, which stops the program rather than dropping that option.
inline void requirePairs(int argc, char** argv) {
  if (argc > 1 && (argc - 1) % 2 != 0) {
    std::fprintf(stderr, "option %s needs a value\n", argv[argc - 1]);
    std::exit(2);
  }
}

// The "--name" words of a usage text: the options a program accepts.
inline std::set<std::string> optionsNamedIn(const std::string& usage) {
  std::set<std::string> names;
  for (size_t at = usage.find("--"); at != std::string::npos; at = usage.find("--", at + 2)) {
    size_t end = at + 2;
    while (end < usage.size() && (std::isalnum(static_cast<unsigned char>(usage[end])) ||
                                  usage[end] == '-'))
      ++end;
    if (end > at + 2) names.insert(usage.substr(at, end - at));
  }
  return names;
}

// Each program keeps its command line in a kUsage string and calls this first.
// --help or -h prints `usage` and exits. An option that `usage` does not name (nor `internal`)
// stops the program with a message: a mistyped option would otherwise run a benchmark of many
// minutes with the default instead. Every word that starts with "--" is checked as an option
// name, values included: no documented value starts so.
inline void checkOptions(int argc, char** argv, const std::string& usage,
                         const std::set<std::string>& internal = {}) {
  auto known = optionsNamedIn(usage);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage.c_str(), stdout);
      std::exit(0);
    }
    if (arg.rfind("--", 0) == 0 && !known.count(arg) && !internal.count(arg)) {
      std::fprintf(stderr, "unknown option %s\n%s", arg.c_str(), usage.c_str());
      std::exit(2);
    }
  }
}

}  // namespace dx::bench

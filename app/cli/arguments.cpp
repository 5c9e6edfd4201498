#include "arguments.h"

#include <cmath>
#include <cstdio>

#include "base/progress.h"

namespace dx::cli {

Arguments::Arguments(const std::vector<std::string>& args, const std::set<std::string>& valued,
                     const std::set<std::string>& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a.rfind("--", 0) == 0 ? a.substr(2) : "";
    std::string inlineValue;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inlineValue = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (flags.count(name)) {
      mValues.emplace(name, "");
    } else if (valued.count(name)) {
      if (!inlineValue.empty()) mValues.emplace(name, inlineValue);
      else if (i + 1 < args.size()) mValues.emplace(name, args[++i]);
      else throw UserError("option " + a + " needs a value.");
    } else {
      throw UserError("unknown option \"" + a + "\"; see --help.");
    }
  }
}

std::string Arguments::value(const std::string& name, const std::string& fallback) const {
  auto it = mValues.find(name);
  return it == mValues.end() ? fallback : it->second;
}

std::vector<std::string> Arguments::values(const std::string& name) const {
  std::vector<std::string> out;
  auto range = mValues.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

size_t Arguments::count(const std::string& name, size_t fallback) const {
  if (!has(name)) return fallback;
  std::string v = value(name);
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
    throw UserError("--" + name + " expects a non-negative integer, got \"" + v + "\".");
  return std::stoull(v);
}

double Arguments::number(const std::string& name, double fallback, double low,
                         double high) const {
  if (!has(name)) return fallback;
  std::string v = value(name);
  size_t used = 0;
  double x = NAN;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
  }
  if (used != v.size() || !(x >= low && x <= high)) {
    char range[64];
    std::snprintf(range, sizeof range, "from %g to %g", low, high);
    throw UserError("--" + name + " expects a number " + range + ", got \"" + v + "\".");
  }
  return x;
}

}  // namespace dx::cli

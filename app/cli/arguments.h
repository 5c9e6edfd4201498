#pragma once
// Minimal "--name value" / "--flag" parser for the CLI; unknown options are errors so typos are
// caught instead of silently ignored.
#include <map>
#include <set>
#include <string>
#include <vector>

namespace dx::cli {

class Arguments {
 public:
  // `valued` options take a value, `flags` do not. Throws UserError on unknown or incomplete ones.
  Arguments(const std::vector<std::string>& args, const std::set<std::string>& valued,
            const std::set<std::string>& flags);
  bool has(const std::string& name) const { return mValues.count(name) > 0; }
  std::string value(const std::string& name, const std::string& fallback = {}) const;
  std::vector<std::string> values(const std::string& name) const;
  size_t count(const std::string& name, size_t fallback) const;  // non-negative integer
  // A real number in [low, high]; throws UserError naming the option and the range otherwise.
  double number(const std::string& name, double fallback, double low, double high) const;

 private:
  std::multimap<std::string, std::string> mValues;
};

}  // namespace dx::cli

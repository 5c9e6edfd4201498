#pragma once
#include <string>
#include <vector>

namespace cs::cli {

// Each command returns the process exit code; errors are thrown as UserError.
int runInfo(const std::vector<std::string>& args);
int runExtract(const std::vector<std::string>& args);
int runPredict(const std::vector<std::string>& args);

}  // namespace cs::cli

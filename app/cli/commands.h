#pragma once
#include <string>
#include <vector>

#include "base/progress.h"

namespace dx::cli {

// Each command returns the process exit code; errors are thrown as UserError.
int runInfo(const std::vector<std::string>& args);
int runExtract(const std::vector<std::string>& args);
int runPredict(const std::vector<std::string>& args);
int runDiscover(const std::vector<std::string>& args);
int runConceptWorld(const std::vector<std::string>& args);
int runLabel(const std::vector<std::string>& args);
int runTcav(const std::vector<std::string>& args);
// Ctrl-C cancels `token` (the job stops at its next batch or epoch boundary).
void installInterruptHandler(const CancelToken& token);

}  // namespace dx::cli

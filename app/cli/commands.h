#pragma once
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "data/image_source.h"

namespace dx {
class ConceptModel;
}

namespace dx::cli {

// Each command returns the process exit code; errors are thrown as UserError.
int runInfo(const std::vector<std::string>& args);
int runExtract(const std::vector<std::string>& args);
int runPredict(const std::vector<std::string>& args);
int runDiscover(const std::vector<std::string>& args);
int runConceptWorld(const std::vector<std::string>& args);
int runLabel(const std::vector<std::string>& args);
int runTcav(const std::vector<std::string>& args);
int runVisualize(const std::vector<std::string>& args);
int runAudit(const std::vector<std::string>& args);
int runReport(const std::vector<std::string>& args);

class Arguments;
// --model FILE (or --demo) on --device (GPU `cudaIndex` when >= 0: a rank's LOCAL_RANK);
// throws UserError naming the fix.
std::shared_ptr<ConceptModel> openModel(const Arguments& a, int cudaIndex = -1);
// --images (a folder or fashion-mnist[:split]), or the demo's images with --demo.
ImageSourcePtr openImages(const Arguments& a);
// Ctrl-C cancels `token` (the job stops at its next batch or epoch boundary).
void installInterruptHandler(const CancelToken& token);

}  // namespace dx::cli

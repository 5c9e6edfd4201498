// Project files (app/project_file.h): parseProjectFile on any bytes; an accepted file writes
// back to bytes that parse to the same project.
#include <cstdlib>

#include "project_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dx::app::ProjectFile project, again;
  QString why;
  if (!dx::app::parseProjectFile(QByteArray(reinterpret_cast<const char*>(data), int(size)),
                                 &project, &why)) {
    if (why.isEmpty()) std::abort();  // a refusal always says why
    return 0;
  }
  if (!dx::app::parseProjectFile(dx::app::projectFileBytes(project), &again, &why) ||
      again.model != project.model || again.seed != project.seed ||
      again.concepts != project.concepts)
    std::abort();
  return 0;
}

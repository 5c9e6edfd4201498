// A model's metadata JSON (core/model/model_meta.h, the directrix.json inside a model file):
// parseModelMeta on any text; what it accepts is consistent.
#include <cstdlib>

#include "base/progress.h"
#include "model/model_meta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto meta = dx::parseModelMeta(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pt");
    if (meta.classes.empty() || meta.layers.empty()) std::abort();
  } catch (const dx::UserError&) {
  }
  return 0;
}

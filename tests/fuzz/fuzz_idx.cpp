// IDX files (core/base/idx_file.h), as Fashion-MNIST ships them: parseIdx on any bytes; what it
// returns must hold exactly the elements its shape promises.
#include <cstdlib>

#include "base/idx_file.h"
#include "base/progress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto idx = dx::parseIdx(std::vector<uint8_t>(data, data + size), "fuzz.idx");
    size_t total = 1;
    for (auto d : idx.shape) total *= d;
    if (total != idx.data.size()) std::abort();
  } catch (const dx::UserError&) {
  }
  return 0;
}

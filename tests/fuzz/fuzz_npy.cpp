// .npy header and data (core/base/npy.h): NpyMap on any bytes, then every byte it promises.
#include "base/npy.h"
#include "base/progress.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = dx::fuzz::scratchFolder("npy") / "a.npy";
  dx::fuzz::writeFile(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    dx::NpyMap map(path.string());
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < map.rows(); ++i)
      for (size_t b = 0; b < map.rowBytes(); ++b) sum += map.row(i)[b];
    if (map.descr() == dx::npy::float32) (void)dx::readNpyFloat32(path.string());
  } catch (const dx::UserError&) {
  }
  return 0;
}

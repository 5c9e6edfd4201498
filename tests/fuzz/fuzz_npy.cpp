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
    const size_t bytes = map.rows() * map.rowBytes();  // every byte the header promises
    for (size_t b = 0; b < bytes; ++b) sum += map.data()[b];
    if (map.descr() == dx::npy::float32) (void)dx::readNpyFloat32(path.string());
  } catch (const dx::UserError&) {
  }
  return 0;
}

// The image decoding entry point (core/data/image_folder.h, decodeImageFile): any bytes, in a
// file as a user's folder would hold them; a decoded image has pixels.
#include <cstdlib>

#include "base/progress.h"
#include "data/image_folder.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = dx::fuzz::scratchFolder("image") / "image";
  dx::fuzz::writeFile(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    cv::Mat image = dx::decodeImageFile(path.string());
    if (!image.empty() && (image.rows <= 0 || image.cols <= 0 || !image.data)) std::abort();
  } catch (const dx::UserError&) {
  }
  return 0;
}

// An image tags file (core/labeling/image_tags.h): the first record lists the folder's images
// (one per line), the second is the tags file.
#include <cstdlib>
#include <sstream>

#include "base/progress.h"
#include "fuzz_input.h"
#include "labeling/image_tags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = dx::fuzz::records(data, size, 2);
  std::vector<std::string> images;
  std::istringstream lines(parts[0]);
  for (std::string line; std::getline(lines, line);) images.push_back(line);
  auto path = dx::fuzz::scratchFolder("tags") / "tags.csv";
  dx::fuzz::writeFile(path, parts[1]);
  try {
    auto tags = dx::readImageTags(path.string(), images);
    if (tags.labels.images() != images.size()) std::abort();
    volatile size_t present = 0;
    for (size_t i = 0; i < tags.labels.images(); ++i)
      for (size_t c = 0; c < tags.labels.concepts(); ++c) present += tags.labels.test(i, c);
  } catch (const dx::UserError&) {
  }
  return 0;
}

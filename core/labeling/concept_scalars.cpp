#include "labeling/concept_scalars.h"

#include <algorithm>

#include "base/progress.h"

namespace dx {

std::vector<float> reduceConceptMaps(const float* maps, size_t images, size_t concepts,
                                     size_t height, size_t width, SpatialReduction reduction) {
  size_t area = height * width;
  if (area == 0) throw UserError("concept maps have an empty h x w; nothing to reduce.");
  std::vector<float> out(images * concepts);
  for (size_t k = 0; k < out.size(); ++k) {
    const float* map = maps + k * area;
    if (reduction == SpatialReduction::Max) {
      out[k] = *std::max_element(map, map + area);
    } else {
      double sum = 0;  // double: h * w terms of similar size, no float drift
      for (size_t p = 0; p < area; ++p) sum += map[p];
      out[k] = static_cast<float>(sum / static_cast<double>(area));
    }
  }
  return out;
}

}  // namespace dx

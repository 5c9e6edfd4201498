#pragma once
// Per-image scalars of spatial concept maps, the representations INVERT labels (docs/methods.md 2:
// "a channel reduced over space, or a concept detector's per-image maximum").
#include <cstddef>
#include <vector>

namespace dx {

enum class SpatialReduction {
  Max,  // the strongest response anywhere in the image: "is the concept somewhere?"
  Mean  // the average response: also grows with the concept's area
};

// maps: N x I x h x w float32, row-major (image n, concept i, row y, column x at
// maps[((n * I + i) * h + y) * w + x]). Returns N x I, row-major, ready for
// labelRepresentations. h * w must be > 0.
std::vector<float> reduceConceptMaps(const float* maps, size_t images, size_t concepts,
                                     size_t height, size_t width, SpatialReduction reduction);

}  // namespace dx

#pragma once
// Rasterises a ConceptWorld scene with OpenCV's drawing functions: the image and the pixel mask
// of every concept. Each object is drawn as a mask first and the image is painted through it,
// so masks and pixels agree exactly (no anti-aliasing at object edges).
#include "conceptworld/conceptworld.h"

namespace dx {

// Deterministic for a given scene (detail comes from scene.detailSeed). Thread-safe.
ConceptWorldSample renderConceptWorld(const ConceptWorldScene& scene);

}  // namespace dx

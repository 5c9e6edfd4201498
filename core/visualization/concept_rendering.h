#pragma once
// Renderings of one concept (feature_visualization.h) along its decoder (the detector w . x - b)
// or its encoder (movement along the signal vector s), and where a concept set keeps them: PNG
// files with a JSON sidecar in <concept folder>/renderings/. The file name holds a hash of the
// concept's directions and the rendering settings, so a concept set discovered again never shows
// an older set's rendering.
#include <string>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "visualization/feature_visualization.h"

namespace dx {

enum class RenderTarget { Decoder, Encoder };
const char* renderTargetName(RenderTarget target);  // "decoder" or "encoder"

struct ConceptDirections {
  at::Tensor decoder, encoder;  // C each
  double bias = 0;
};

struct ConceptRendering {
  cv::Mat image;         // empty: not rendered
  double detector = 0;   // w . x - b at the driven patch of the rendering
  int steps = 0;
  uint64_t seed = 0;
  double seconds = 0;
};

// Renders along `target`: the decoder's objective is the detector itself, the encoder's the
// movement along s_hat at the patch options.row, options.col.
ConceptRendering renderConcept(const ConceptModel& model, const std::string& layer,
                               const ConceptDirections& concept, RenderTarget target,
                               const RenderOptions& options);

// The file a rendering with these directions and settings is kept in, inside `folder`.
std::string renderingPath(const std::string& folder, int concept,
                          const ConceptDirections& directions, RenderTarget target,
                          const RenderOptions& options);
// The kept rendering, or one with an empty image when there is none (or it is unreadable).
ConceptRendering loadRendering(const std::string& path);
// Writes the PNG and its sidecar through temporary files renamed into place, so an interrupted
// write never leaves a half rendering. Throws UserError naming the file and the fix.
void saveRendering(const std::string& path, const ConceptRendering& rendering);

}  // namespace dx

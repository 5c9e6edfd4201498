#pragma once
// Where concepts are, per image (docs/methods.md 1.1): the detector response w_i . x_p - b_i at
// every position, the latent-factor estimate a_hat = (w_i . x_p - w_i . E[x]) / (w_i . s_i), and
// the box of the input image a position looks at.
#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "discovery/concept_method.h"

namespace dx {

struct ConceptMaps {
  at::Tensor detector;  // n x I x h x w, > 0 where the concept is present
  at::Tensor latent;    // n x I x h x w, the factor relative to its dataset mean
};

// activations: n x C x h x w; datasetMean: C (mean patch of the dataset).
ConceptMaps conceptMaps(const ConceptBasis& basis, const at::Tensor& activations,
                        const at::Tensor& datasetMean);

// Maps positions of an h x w feature map to boxes of the network input (H x W). Each position
// sees a window centred on its cell; without a known receptive field the window is two cells
// wide, a conservative estimate for the last layers of CNNs (Network Dissection upsamples the
// same way, bilinearly, for masks).
struct PatchGeometry {
  int inputHeight = 0, inputWidth = 0, mapHeight = 0, mapWidth = 0;
  int receptiveField = 0;  // pixels; 0 = two cells
  cv::Rect box(int row, int col) const;
};

// Bilinear upsampling of one h x w map (CPU float tensor) to the input size, as a CV_32F image.
cv::Mat upsampleMap(const at::Tensor& map, int inputHeight, int inputWidth);

}  // namespace dx

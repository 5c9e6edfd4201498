#include "discovery/concept_maps.h"

#include <torch/torch.h>

#include <algorithm>

#include <opencv2/imgproc.hpp>

namespace dx {

ConceptMaps conceptMaps(const ConceptBasis& basis, const at::Tensor& activations,
                        const at::Tensor& datasetMean) {
  torch::NoGradGuard noGrad;
  // einsum keeps the n x I x h x w layout without reshaping through patches.
  auto projection = torch::einsum("ic,nchw->nihw", {basis.decoders, activations});
  auto b = basis.biases.view({1, -1, 1, 1});
  auto meanProjection = basis.decoders.matmul(datasetMean).view({1, -1, 1, 1});
  auto gain = (basis.decoders * basis.encoders).sum(1).view({1, -1, 1, 1});
  auto safeGain = torch::where(gain.abs() > 1e-12, gain, torch::ones_like(gain));
  return {projection - b, (projection - meanProjection) / safeGain};
}

cv::Rect PatchGeometry::box(int row, int col) const {
  double cellH = double(inputHeight) / mapHeight, cellW = double(inputWidth) / mapWidth;
  double sizeH = receptiveField > 0 ? receptiveField : 2 * cellH;
  double sizeW = receptiveField > 0 ? receptiveField : 2 * cellW;
  double cy = (row + 0.5) * cellH, cx = (col + 0.5) * cellW;
  int top = std::max(0, int(cy - sizeH / 2)), left = std::max(0, int(cx - sizeW / 2));
  int bottom = std::min(inputHeight, int(cy + sizeH / 2 + 0.5));
  int right = std::min(inputWidth, int(cx + sizeW / 2 + 0.5));
  return {left, top, right - left, bottom - top};
}

cv::Mat upsampleMap(const at::Tensor& map, int inputHeight, int inputWidth) {
  auto m = map.detach().to(torch::kCPU, torch::kFloat).contiguous();
  cv::Mat small(int(m.size(0)), int(m.size(1)), CV_32F, m.data_ptr<float>());
  cv::Mat out;
  cv::resize(small, out, cv::Size(inputWidth, inputHeight), 0, 0, cv::INTER_LINEAR);
  return out;
}

}  // namespace dx

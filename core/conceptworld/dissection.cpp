#include "conceptworld/dissection.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "base/progress.h"

namespace dx {

Dissection::Dissection(int detectors, int concepts)
    : mDetectors(detectors), mConcepts(concepts),
      mIntersection(torch::zeros({detectors, concepts}, torch::kDouble)),
      mUnion(torch::zeros({detectors, concepts}, torch::kDouble)),
      mFired(torch::zeros({detectors}, torch::kDouble)),
      mTruth(torch::zeros({concepts}, torch::kDouble)) {}

void Dissection::add(const at::Tensor& maps, const at::Tensor& masks) {
  if (maps.dim() != 4 || masks.dim() != 4 || maps.size(0) != masks.size(0) ||
      maps.size(1) != mDetectors || masks.size(1) != mConcepts)
    throw UserError("dissection: expected maps n x " + std::to_string(mDetectors) +
                    " x h x w and masks n x " + std::to_string(mConcepts) +
                    " x H x W for the same n images");
  torch::NoGradGuard noGrad;
  const int64_t n = maps.size(0), height = masks.size(2), width = masks.size(3);
  // Network Dissection upsamples the activation map bilinearly to the mask resolution.
  auto up = torch::nn::functional::interpolate(
      maps.to(torch::kCPU, torch::kFloat),
      torch::nn::functional::InterpolateFuncOptions()
          .size(std::vector<int64_t>{height, width})
          .mode(torch::kBilinear)
          .align_corners(false));
  auto present = (up > 0).to(torch::kFloat).reshape({n, mDetectors, height * width});
  auto truth = (masks.to(torch::kCPU) != 0).to(torch::kFloat).reshape({n, mConcepts, height * width});
  // Per image: |M_i & L_c| is a matrix product of the binary pixel vectors.
  auto inter = torch::bmm(present, truth.transpose(1, 2)).sum(0).to(torch::kDouble);  // I x K
  auto areaM = present.sum(std::vector<int64_t>{0, 2}).to(torch::kDouble).unsqueeze(1);
  auto areaL = truth.sum(std::vector<int64_t>{0, 2}).to(torch::kDouble).unsqueeze(0);
  // Summing per-image unions equals the dataset union, because images are disjoint pixel sets.
  mIntersection += inter;
  mUnion += areaM + areaL - inter;
  mFired += areaM.squeeze(1);
  mTruth += areaL.squeeze(0);
  mPixels += double(n * height * width);
}

Dissection::Result Dissection::result() const {
  Result r;
  r.iou = (mIntersection / mUnion.clamp_min(1)).to(torch::kFloat);
  auto [best, arg] = r.iou.max(1);
  std::map<int, double> bestPerLabel;
  for (int i = 0; i < mDetectors; ++i) {
    r.label.push_back(static_cast<int>(arg[i].item<int64_t>()));
    r.bestIou.push_back(best[i].item<float>());
    r.s1 += r.bestIou.back();
    double& slot = bestPerLabel[r.label.back()];
    slot = std::max(slot, r.bestIou.back());
  }
  for (const auto& [label, iou] : bestPerLabel) r.s2 += iou;
  const double pixels = std::max(mPixels, 1.0);
  for (int i = 0; i < mDetectors; ++i) r.firedShare.push_back(mFired[i].item<double>() / pixels);
  for (int c = 0; c < mConcepts; ++c) r.conceptShare.push_back(mTruth[c].item<double>() / pixels);
  return r;
}

int Dissection::Result::bestDetectorFor(int concept) const {
  auto column = iou.select(1, concept);
  if (column.max().item<float>() <= 0) return -1;
  return static_cast<int>(column.argmax().item<int64_t>());
}

}  // namespace dx

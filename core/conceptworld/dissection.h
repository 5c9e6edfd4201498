#pragma once
// Network Dissection (Bau et al. 2017) of concept detectors against pixel masks, and the paper's
// summary scores (docs/methods.md 1.7): each detector's map w_i . x - b_i is upsampled bilinearly
// to the image, thresholded at its own boundary (> 0, where the method says the concept is
// present), and compared with every ground-truth concept mask over the whole dataset:
//   IoU(i, c) = sum_images |M_i & L_c| / sum_images |M_i | L_c|.
// Each detector is labelled by its best-IoU concept; S1 = sum of the detectors' best IoU,
// S2 = sum over distinct labels of their best detector's IoU.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx {

// Streams images in: add() any number of times, then result().
class Dissection {
 public:
  Dissection(int detectors, int concepts);
  // maps: n x I x h x w detector scores (conceptMaps().detector); masks: n x K x H x W, nonzero
  // where concept k is (uint8 or bool or float). Throws UserError when the counts disagree.
  void add(const at::Tensor& maps, const at::Tensor& masks);

  struct Result {
    at::Tensor iou;               // I x K
    std::vector<int> label;       // best concept per detector
    std::vector<double> bestIou;  // its IoU
    double s1 = 0, s2 = 0;
    // Fraction of all pixels where each detector fires (I) and where each concept is (K): a
    // detector far smaller or larger than its label's mask cannot reach a high IoU with it.
    std::vector<double> firedShare, conceptShare;
    // The detector with the highest IoU for concept k, or -1 when no detector overlaps it.
    int bestDetectorFor(int concept) const;
  };
  Result result() const;

 private:
  int mDetectors, mConcepts;
  at::Tensor mIntersection, mUnion;  // I x K double, summed over images
  at::Tensor mFired, mTruth;         // I and K double: pixels where each fires / is
  double mPixels = 0;
};

}  // namespace dx

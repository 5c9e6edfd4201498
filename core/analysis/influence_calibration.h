#pragma once
// Data with a known answer for calibrating the influence test (analysis/influence.h), shared by
// tests/core/test_influence_calibration.cpp and bench/influence_calibration.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "discovery/concept_method.h"
#include "tcav/tcav.h"

namespace dx {

// A post-ReLU layer (|Gaussian| noise, sd 0.6) of `channels` channels with `concepts` planted
// concepts, each on its own eight channels (channels >= 8 concepts), added with a heavy-tailed
// amplitude (3 + 3 Exp(1)) at one of 2 x 2 positions in 30% of the `images`.
struct PlantedLayer {
  at::Tensor z;           // images x channels x 2 x 2
  at::Tensor directions;  // concepts x channels, unit
  at::Tensor present;     // patches x concepts, bool (patches in patchesOf order)
};
PlantedLayer makePlantedLayer(uint64_t seed, int64_t channels = 128, int concepts = 4,
                              int64_t images = 600);

// The detector of `basis` matched to planted concept `concept` (one to one over all concepts,
// synthetic_pairs.h matchedDetectorIou) and its firing IoU with the truth.
struct PlantedMatch {
  int64_t detector = -1;
  double iou = 0;
};
PlantedMatch matchPlanted(const PlantedLayer& layer, const ConceptBasis& basis, int concept = 0);

// The paper's noise concepts (docs/methods.md 1.6): the signal vector of a classifier trained on
// random labels, here the difference of the means of two random halves of the patches, with the
// same direction as its detector, firing on its top 20% of patches.
ConceptBasis noiseConcepts(const at::Tensor& z, int count, at::Generator& gen);

// `count` sets of `size` images drawn at random from `activations` (N x C x h x w), named
// prefix0, prefix1, ...: random sets, or concept folders that are noise (TCAV calibration).
std::vector<ConceptSet> drawImageSets(const at::Tensor& activations, int count, int64_t size,
                                      const std::string& prefix, at::Generator& gen);

}  // namespace dx

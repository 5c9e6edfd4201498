#pragma once
// Scoring discovered concepts against ConceptWorld's ground truth (docs/methods.md 1.7), data
// whose true concepts are known: Network-Dissection IoU of every detector against the concept masks
// with S1/S2 (docs/methods.md 1.7), and the paper's model-correction scenario, where a spurious
// watermark drives one class and switching its concept off should restore accuracy.
#include <string>
#include <vector>

#include "activations/activation_cache.h"
#include "discovery/concept_method.h"
#include "conceptworld/dissection.h"
#include "conceptworld/conceptworld.h"

namespace dx {

// Rows of `cache` must be the images of `world` in order (an extraction of the whole world).
// Renders every image's masks once (64 images at a time). Throws UserError when sizes disagree.
// topQuantile 0: each detector is thresholded at its own boundary (w.x - b > 0); > 0: at the
// score its top `topQuantile` of patches exceed, as Network Dissection thresholds units (0.005),
// which compares methods whose biases are set differently on the same footing.
Dissection::Result dissectConceptWorld(const ConceptWorld& world, const ConceptBasis& basis,
                                       const ActivationCache& cache, double topQuantile = 0,
                                       const ProgressSink& progress = {},
                                       const CancelToken& cancel = {});

// The chance level of a dissection at a method's own firing shares: standard-normal random
// directions (seeded), each thresholded so that it fires on the same share of `patches` (P x C)
// as basis' detector i (ties among the readings aside). On ConceptWorld, where four backgrounds
// cover 86% of the pixels, S1 grows with how much the detectors fire whatever they detect (random
// directions on 32% of the patches each score S1 8.5, above every method), so a method's S1 and
// S2 are read against this (docs/concept-discovery.md "S1 at chance").
ConceptBasis chanceBasis(const ConceptBasis& basis, const at::Tensor& patches, uint64_t seed);

struct WatermarkStudy {
  int detector = -1;          // the concept best matching the watermark mask
  double iou = 0;             // its dissection IoU with the watermark
  double influence = 0;       // its mean change of the watermark class's logit (methods.md 1.6)
  double pValue = 1;          // against the default null (analysis/influence.h)
  bool significant = false;   // marked: a Benjamini-Hochberg discovery with the minimum effect
  // Accuracy on watermarked images whose true class is not the watermark class, before and
  // after switching the detector's concept off (toggle-off rule, strength -1).
  double accuracyBefore = 0, accuracyAfter = 0;
  int64_t images = 0;
  double cleanAccuracy = 0;  // the same images without the watermark: what recovery aims at
  // The same edit on clean images of the watermark class: accuracy must not collapse.
  double cleanClassAccuracyBefore = 0, cleanClassAccuracyAfter = 0;
};

// `watermarked`: extraction of a world whose test images all carry the watermark (testRate 1);
// `clean`: the same images without it (watermark off). `dissection` comes from either.
WatermarkStudy studyWatermark(const ConceptWorld& world, const ConceptBasis& basis,
                              const HeadFunction& head, const Dissection::Result& dissection,
                              const ActivationCache& watermarked, const ActivationCache& clean);

}  // namespace dx

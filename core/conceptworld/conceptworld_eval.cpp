#include "conceptworld/conceptworld_eval.h"

#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "discovery/concept_maps.h"
#include "analysis/correction.h"
#include "analysis/influence.h"
#include "base/quantiles.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"

namespace dx {
namespace {

at::Tensor masksOf(const ConceptWorld& world, size_t first, size_t count) {
  auto masks = torch::empty({int64_t(count), cw::ConceptCount, cw::kImageSize, cw::kImageSize},
                            torch::kUInt8);
  for (size_t j = 0; j < count; ++j) {
    auto sample = world.sample(first + j);
    for (int c = 0; c < cw::ConceptCount; ++c) {
      const cv::Mat& m = sample.masks[size_t(c)];
      std::memcpy(masks[int64_t(j)][c].data_ptr(), m.data, size_t(m.total()));
    }
  }
  return masks;
}

// Accuracy of class `skip` excluded (or only class `only`), from an edit report's counts.
double accuracyOf(const std::vector<int64_t>& correct, const std::vector<int64_t>& images,
                  int watermarkClass, bool onlyWatermarkClass, int64_t* total = nullptr) {
  int64_t hits = 0, count = 0;
  for (size_t k = 0; k < images.size(); ++k) {
    if ((int(k) == watermarkClass) != onlyWatermarkClass) continue;
    hits += correct[k];
    count += images[k];
  }
  if (total) *total = count;
  return count ? double(hits) / double(count) : 0.0;
}

}  // namespace

// Per detector, the score exceeded by its top `quantile` of patches over the cache: I.
at::Tensor quantileThresholds(const ConceptBasis& basis, const ActivationCache& cache,
                              double quantile) {
  auto scores = conceptScores(basis, patchesOf(readNpyTensor(cache.dir() + "/activations.npy")
                                                   .to(basis.decoders.device())));
  return columnQuantile(scores, 1.0 - quantile);
}

Dissection::Result dissectConceptWorld(const ConceptWorld& world, const ConceptBasis& basis,
                                       const ActivationCache& cache, double topQuantile,
                                       const ProgressSink& progress, const CancelToken& cancel) {
  if (cache.size() != world.size())
    throw UserError(cache.dir() + " holds " + std::to_string(cache.size()) +
                    " images but the ConceptWorld split has " + std::to_string(world.size()) +
                    ": extract the whole split (no --limit, nothing skipped).");
  torch::NoGradGuard noGrad;
  Dissection dissection(basis.concepts(), cw::ConceptCount);
  auto mean = torch::zeros({basis.channels()});  // detector maps do not depend on it
  ConceptBasis shifted = basis;  // thresholds moved into the biases
  if (topQuantile > 0)
    shifted.biases = basis.biases + quantileThresholds(basis, cache, topQuantile);
  Stopwatch clock;
  const size_t chunk = 64;
  for (size_t start = 0; start < cache.size(); start += chunk) {
    if (cancel.cancelled()) throw Cancelled();
    size_t count = std::min(chunk, cache.size() - start);
    auto z = npyRows(cache.activations(), start, count).to(basis.decoders.device());
    dissection.add(conceptMaps(shifted, z, mean.to(z.device())).detector,
                   masksOf(world, start, count));
    if (progress) progress(clock.progress("dissection", int64_t(start + count), int64_t(cache.size())));
  }
  return dissection.result();
}

ConceptBasis chanceBasis(const ConceptBasis& basis, const at::Tensor& patches, uint64_t seed) {
  torch::NoGradGuard noGrad;
  const int64_t rows = patches.size(0), detectors = basis.concepts();
  if (rows < 1) throw UserError("chance level: no patches to set the random detectors' shares on");
  auto firing = (conceptScores(basis, patches) > 0).sum(0).to(torch::kCPU);  // I
  auto gen = at::detail::createCPUGenerator(seed);
  ConceptBasis chance;
  chance.method = basis.method + " (chance)";
  chance.decoders = torch::randn({detectors, basis.channels()}, gen).to(patches.device());
  chance.encoders = chance.decoders.clone();
  chance.biases = torch::zeros({detectors}, patches.options());
  // Fires on the k highest readings where the bias is the (k+1)-th highest reading.
  auto sorted = std::get<0>(conceptScores(chance, patches).sort(0, true)).to(torch::kCPU);
  for (int64_t i = 0; i < detectors; ++i) {
    int64_t k = firing[i].item<int64_t>();
    float bias = k < rows ? sorted[k][i].item<float>()
                          : std::nextafter(sorted[rows - 1][i].item<float>(), -INFINITY);
    chance.biases[i] = bias;
  }
  return chance;
}

WatermarkStudy studyWatermark(const ConceptWorld& world, const ConceptBasis& basis,
                              const HeadFunction& head, const Dissection::Result& dissection,
                              const ActivationCache& watermarked, const ActivationCache& clean) {
  WatermarkStudy s;
  s.detector = dissection.bestDetectorFor(cw::Watermark);
  if (s.detector < 0) return s;
  s.iou = dissection.iou[s.detector][cw::Watermark].item<float>();
  const int target = world.spec().watermarkClass;
  // Influence on a sample of watermarked images (the concept must be present to be moved).
  size_t take = std::min<size_t>(256, watermarked.size());
  auto z = npyRows(watermarked.activations(), 0, take);
  auto influence = conceptInfluence(head, basis, z);
  s.influence = influence.logitChange[s.detector][target].item<float>();
  s.pValue = float(influence.pValues[s.detector][target].item<double>());
  s.significant = influence.significant[s.detector][target].item<bool>();
  std::vector<ConceptEdit> off{{s.detector, -1.0}};
  auto onMarked = evaluateEdits(head, basis, watermarked, off);
  s.accuracyBefore = accuracyOf(onMarked.correctBefore, onMarked.images, target, false, &s.images);
  s.accuracyAfter = accuracyOf(onMarked.correctAfter, onMarked.images, target, false);
  auto onClean = evaluateEdits(head, basis, clean, off);
  s.cleanClassAccuracyBefore = accuracyOf(onClean.correctBefore, onClean.images, target, true);
  s.cleanClassAccuracyAfter = accuracyOf(onClean.correctAfter, onClean.images, target, true);
  s.cleanAccuracy = accuracyOf(onClean.correctBefore, onClean.images, target, false);
  return s;
}

}  // namespace dx

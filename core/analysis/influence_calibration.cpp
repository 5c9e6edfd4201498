#include "analysis/influence_calibration.h"

#include <torch/torch.h>

#include <cmath>

#include "discovery/synthetic_pairs.h"

namespace dx {

PlantedLayer makePlantedLayer(uint64_t seed, int64_t channels, int concepts, int64_t images) {
  if (channels < 8 * int64_t(concepts))
    throw UserError("a planted layer needs 8 channels per concept");
  auto gen = at::detail::createCPUGenerator(seed);
  PlantedLayer l;
  l.z = torch::randn({images, channels, 2, 2}, gen).abs() * 0.6;
  l.directions = torch::zeros({concepts, channels});
  auto present = torch::zeros({images, 2, 2, concepts}, torch::kBool);
  for (int i = 0; i < concepts; ++i) {
    l.directions[i].slice(0, 8 * i, 8 * i + 8).fill_(1.0 / std::sqrt(8.0));
    auto chosen = (torch::rand({images}, gen) < 0.3).nonzero().squeeze(1);
    for (int64_t k = 0; k < chosen.size(0); ++k) {
      int64_t img = chosen[k].item<int64_t>(), pos = torch::randint(4, {1}, gen).item<int64_t>();
      double amplitude = 3 - 3 * std::log(torch::rand({1}, gen).item<double>());
      l.z[img].select(1, pos / 2).select(1, pos % 2) += amplitude * l.directions[i];
      present[img][pos / 2][pos % 2][i] = true;
    }
  }
  l.present = present.reshape({-1, concepts});
  return l;
}

PlantedMatch matchPlanted(const PlantedLayer& layer, const ConceptBasis& basis, int concept) {
  std::vector<int64_t> match;
  auto iou = matchedDetectorIou(conceptScores(basis, patchesOf(layer.z)), layer.present, &match);
  return {match[size_t(concept)], iou[concept].item<double>()};
}

ConceptBasis noiseConcepts(const at::Tensor& z, int count, at::Generator& gen) {
  auto patches = patchesOf(z);
  std::vector<at::Tensor> s;
  for (int i = 0; i < count; ++i) {
    auto half = torch::rand({patches.size(0)}, gen) < 0.5;
    s.push_back(patches.index({half}).mean(0) - patches.index({~half}).mean(0));
  }
  auto encoders = torch::stack(s);
  auto scores = patches.matmul(encoders.t());
  auto biases = std::get<0>(scores.kthvalue(int64_t(0.8 * double(scores.size(0))), 0));
  return {"noise", encoders, biases, encoders};
}

std::vector<ConceptSet> drawImageSets(const at::Tensor& activations, int count, int64_t size,
                                      const std::string& prefix, at::Generator& gen) {
  std::vector<ConceptSet> sets;
  for (int i = 0; i < count; ++i) {
    auto rows = torch::randperm(activations.size(0), gen).slice(0, 0, size);
    sets.push_back({prefix + std::to_string(i), activations.index_select(0, rows)});
  }
  return sets;
}

}  // namespace dx

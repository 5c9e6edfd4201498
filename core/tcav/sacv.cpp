#include "tcav/sacv.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "base/progress.h"
#include "tcav/tcav.h"

namespace dx {
namespace {

void checkMaps(const at::Tensor& a, const char* what) {
  if (!a.defined() || a.dim() != 4)
    throw UserError(std::string("SACV: ") + what + " must be N x C x h x w activations.");
}

}  // namespace

at::Tensor positionSamples(const at::Tensor& activations) {
  checkActivations(activations, 1, "SACV");
  // N x C x h x w -> N x h x w x C: each row a position's channel vector (docs/methods.md 3.2).
  return activations.permute({0, 2, 3, 1}).reshape({-1, activations.size(1)});
}

Cav trainSacv(const at::Tensor& concept, const at::Tensor& random, const CavOptions& options) {
  checkMaps(concept, "the concept set");
  checkMaps(random, "the random set");
  if (concept.sizes().slice(1) != random.sizes().slice(1))
    throw UserError("SACV: the concept and random activations come from different layers "
                    "(shapes differ); extract both at the same layer.");
  auto positives = positionSamples(concept), negatives = positionSamples(random);
  // SGD: positions are h*w times more rows than images; batches that keep an epoch at about 64
  // steps keep the cost of a run near TCAV's (noise is averaged over the larger batch).
  CavOptions o = options;
  o.rowsPerGroup = concept.size(2) * concept.size(3);  // held out by image, not by position
  o.batchSize = int(std::max<int64_t>(o.batchSize, (positives.size(0) + negatives.size(0)) / 64));
  Cav cav = trainCav(positives, negatives, o);
  cav.shape = {concept.size(1)};
  return cav;
}

SacvMaps sacvMaps(const Cav& cav, const at::Tensor& activations, const at::Tensor& gradients) {
  torch::NoGradGuard noGrad;
  checkMaps(activations, "activations");
  if (!gradients.defined() || gradients.sizes() != activations.sizes())
    throw UserError("SACV: gradients must have the shape of the activations.");
  if (cav.direction.numel() != activations.size(1))
    throw UserError("SACV: the CAV has " + std::to_string(cav.direction.numel()) +
                    " values but the layer has " + std::to_string(activations.size(1)) +
                    " channels; train it on positions of the same layer.");
  auto v = cav.direction.to(activations.device(), torch::kFloat);
  // einsum keeps n x h x w without going through position rows.
  return {torch::einsum("nchw,c->nhw", {activations.to(torch::kFloat), v}) + cav.bias,
          torch::einsum("nchw,c->nhw", {gradients.to(torch::kFloat), v})};
}

SacvScore sacvScore(const SacvMaps& maps) {
  torch::NoGradGuard noGrad;
  auto present = maps.relevance > 0;
  SacvScore s;
  s.conceptPositions = present.sum().item<int64_t>();
  // No concept position among the class images: the score is undefined, not 0.
  s.score = s.conceptPositions > 0
                ? double((present & (maps.contribution > 0)).sum().item<int64_t>()) /
                      double(s.conceptPositions)
                : std::nan("");
  s.weightedContribution = (maps.relevance.clamp_min(0) * maps.contribution)
                               .flatten(1).sum(1).mean().item<double>();
  return s;
}

std::vector<RankedPosition> rankPositions(const at::Tensor& map, const PatchGeometry& geometry,
                                          int count, bool largest) {
  if (map.dim() != 2) throw UserError("rankPositions: the map must be h x w.");
  auto flat = map.detach().to(torch::kCPU, torch::kDouble).flatten();
  int64_t k = std::min<int64_t>(std::max(0, count), flat.numel());
  std::vector<RankedPosition> out;
  if (k == 0) return out;
  auto best = flat.topk(k, 0, largest, /*sorted=*/true);
  auto values = std::get<0>(best), index = std::get<1>(best);
  int64_t w = map.size(1);
  for (int64_t i = 0; i < k; ++i) {
    RankedPosition p;
    int64_t at = index[i].item<int64_t>();
    p.row = int(at / w);
    p.col = int(at % w);
    p.value = values[i].item<double>();
    p.box = geometry.box(p.row, p.col);
    out.push_back(p);
  }
  return out;
}

SacvExplanation explainWithSacv(const HeadFunction& head, const at::Tensor& activation, int64_t k,
                                const Cav& cav, const PatchGeometry& geometry, int count) {
  auto z = activation.dim() == 3 ? activation.unsqueeze(0) : activation;
  if (z.dim() != 4 || z.size(0) != 1)
    throw UserError("SACV: explain one image at a time (1 x C x h x w activations).");
  auto maps = sacvMaps(cav, z, logitGradients(head, z, k));
  SacvExplanation e;
  e.relevance = maps.relevance[0].to(torch::kCPU);
  e.contribution = maps.contribution[0].to(torch::kCPU);
  e.relevanceImage = upsampleMap(e.relevance, geometry.inputHeight, geometry.inputWidth);
  e.contributionImage = upsampleMap(e.contribution, geometry.inputHeight, geometry.inputWidth);
  e.top = rankPositions(e.contribution, geometry, count, true);
  e.bottom = rankPositions(e.contribution, geometry, count, false);
  e.score = sacvScore(maps);
  return e;
}

}  // namespace dx

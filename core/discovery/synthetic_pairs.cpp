#include "discovery/synthetic_pairs.h"

#include "discovery/concept_stability.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dx {
namespace {

// Unit vectors with every pairwise cosine in [0.1, 0.5], by rejection sampling around a
// shared direction (a common positive component makes moderate correlations likely). Many
// directions in few dimensions rarely all fall in the range; then the last draw is kept (its
// cosines still concentrate near 0.3).
at::Tensor correlatedDirections(int count, int dims, at::Generator& gen) {
  auto common = torch::randn({dims}, gen);
  common /= common.norm();
  // With g ~ N(0, I_d) and a shared part k sqrt(d) c, cosines concentrate near k^2 / (1 + k^2).
  const double k = 0.65 * std::sqrt(double(dims));  // about 0.3
  at::Tensor v;
  for (int attempt = 0; attempt < 2000; ++attempt) {
    v = torch::randn({count, dims}, gen) + k * common;
    v /= v.norm(2, {1}, true);
    auto cos = v.matmul(v.t());
    auto off = cos.masked_select(~torch::eye(count, torch::kBool));
    if (off.min().item<double>() >= 0.1 && off.max().item<double>() <= 0.5) return v;
  }
  return v;
}

// One class per concept: the class's concept at one random position of each image, every other
// patch showing each concept independently (spec.background).
void placeOnBackground(SyntheticPairs& d, const SyntheticPairsSpec& spec, at::Generator& gen) {
  int i = spec.concepts, positions = spec.height * spec.width;
  int64_t n = int64_t(i) * spec.imagesPerClass;
  d.labels = torch::arange(i).repeat_interleave(spec.imagesPerClass);
  double presence = 1 - std::pow(spec.background, 1.0 / i);
  auto present = torch::rand({n, positions, i}, gen) < presence;
  auto slot = torch::randint(positions, {n}, gen);
  auto own = torch::arange(n);
  present.index_put_({own, slot}, torch::zeros({n, i}, torch::kBool));
  present.index_put_({own, slot, d.labels}, torch::ones({n}, torch::kBool));
  d.present = present.reshape({-1, i});
}

// Which concept sits at each patch (patches in the order of patchesOf()) and each image's class.
void placeConcepts(SyntheticPairs& d, const SyntheticPairsSpec& spec, at::Generator& gen) {
  if (spec.background > 0) return placeOnBackground(d, spec, gen);
  int i = spec.concepts, positions = spec.height * spec.width;
  std::vector<std::pair<int, int>> pairs;
  if (positions == 2)
    for (int a = 0; a < i; ++a)
      for (int b = a + 1; b < i; ++b) pairs.push_back({a, b});
  int64_t classes = positions == 2 ? int64_t(pairs.size()) : i;
  int64_t n = classes * spec.imagesPerClass;
  d.labels = torch::arange(classes).repeat_interleave(spec.imagesPerClass);
  at::Tensor concept;
  if (positions == 2) {  // drawn in the same order as the paper's toy always was
    concept = torch::zeros({n, 2}, torch::kLong);
    auto order = torch::rand({n}, gen) < 0.5;  // which concept of the pair sits on top
    for (int64_t img = 0; img < n; ++img) {
      auto [first, second] = pairs[size_t(d.labels[img].item<int64_t>())];
      if (order[img].item<bool>()) std::swap(first, second);
      concept[img][0] = first;
      concept[img][1] = second;
    }
  } else {
    concept = torch::randint(i, {n, positions}, gen);
    auto slot = torch::randint(positions, {n}, gen);
    concept.index_put_({torch::arange(n), slot}, d.labels);
  }
  d.present = torch::nn::functional::one_hot(concept.reshape({-1}), i).to(torch::kBool);
}

// Latent factors a (patches x I) and distractor factors b (patches x F); returns the threshold
// between absent and present values of a.
double drawFactors(SyntheticPairs& d, const SyntheticPairsSpec& spec, at::Generator& gen,
                   at::Tensor& distractorFactors) {
  int64_t p = d.present.size(0);
  int i = spec.concepts, f = spec.distractors;
  auto exponential = [&](int64_t rows, int cols) { return -torch::rand({rows, cols}, gen).log(); };
  switch (spec.distribution) {
    case FactorDistribution::Uniform: {
      auto unit = torch::rand({p, i}, gen);
      d.latents = torch::where(d.present, spec.presentMin + unit * (5.0 - spec.presentMin),
                               unit * spec.absentMax);
      distractorFactors = torch::rand({p, f}, gen) * 5.0;
      return (spec.absentMax + spec.presentMin) / 2;
    }
    case FactorDistribution::HeavyTailed: {
      auto absent = torch::where(torch::rand({p, i}, gen) < 0.8, torch::zeros({p, i}),
                                 0.2 * exponential(p, i));
      auto present = 1.5 + 2.0 * exponential(p, i).pow(1.5);
      d.latents = torch::where(d.present, present, absent);
      distractorFactors = 1.5 * exponential(p, f);
      return 1.25;
    }
    case FactorDistribution::NoisyLevels: {
      auto levels = torch::where(d.present, torch::full({p, i}, 3.0), torch::full({p, i}, 0.5));
      d.latents = levels + 0.4 * torch::randn({p, i}, gen);
      distractorFactors = 2.5 + torch::randn({p, f}, gen);
      return 1.75;
    }
  }
  throw std::logic_error("unknown factor distribution");
}

void trainHead(SyntheticPairs& d, int classes, at::Generator& gen) {
  torch::AutoGradMode enableGrad(true);  // the caller generates data without autograd
  auto pooled = d.activations.mean({2, 3});
  auto mean = pooled.mean(0), sd = pooled.std(0);
  auto x = (pooled - mean) / sd;
  auto w = (torch::randn({classes, x.size(1)}, gen) * 0.01).requires_grad_(true);
  auto b = torch::zeros({classes}).requires_grad_(true);
  torch::optim::Adam adam({w, b}, torch::optim::AdamOptions(0.05));
  for (int step = 0; step < 300; ++step) {
    adam.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(x.matmul(w.t()) + b, d.labels);
    loss.backward();
    adam.step();
  }
  torch::NoGradGuard noGrad;
  // Fold the standardisation into the head so it acts on raw pooled features.
  d.headWeight = (w / sd).detach();
  d.headBias = (b - (w / sd).matmul(mean)).detach();
  auto predicted = (pooled.matmul(d.headWeight.t()) + d.headBias).argmax(1);
  d.headAccuracy = predicted.eq(d.labels).to(torch::kDouble).mean().item<double>();
}

}  // namespace

HeadFunction SyntheticPairs::head() const {
  auto w = headWeight, b = headBias;
  return [w, b](const at::Tensor& z) { return z.mean({2, 3}).matmul(w.t()) + b; };
}

SyntheticPairs makeSyntheticPairs(const SyntheticPairsSpec& spec) {
  if (spec.concepts < 2 || spec.dims < 1 || spec.distractors < 0 || spec.height * spec.width < 1)
    throw UserError("synthetic pairs need at least 2 concepts, 1 dimension and 1 position");
  if (!(spec.background >= 0 && spec.background < 1))
    throw UserError("the background share of synthetic pairs must be in [0, 1)");
  torch::NoGradGuard noGrad;
  auto gen = at::detail::createCPUGenerator(spec.seed);
  int i = spec.concepts, dims = spec.dims;
  auto dirs = correlatedDirections(i + spec.distractors, dims, gen);
  SyntheticPairs d;
  d.encoders = dirs.slice(0, 0, i).clone();
  auto distractors = dirs.slice(0, i);
  d.distractors = distractors.clone();
  placeConcepts(d, spec, gen);
  at::Tensor distractorFactors;
  double threshold = drawFactors(d, spec, gen, distractorFactors);
  auto x = d.latents.matmul(d.encoders) + distractorFactors.matmul(distractors) + spec.offset;
  int64_t n = d.labels.size(0);
  d.activations =
      x.view({n, spec.height, spec.width, dims}).permute({0, 3, 1, 2}).contiguous();
  // True filters: the rows of pinv([S; D]) that belong to S, so w_i . s_j = [i == j] and
  // w_i . distractor = 0 (exactly where I + F <= D); then w_i . (x - offset) = a_i, thresholded
  // between absent and present values.
  d.decoders = torch::linalg::pinv(dirs.t()).slice(0, 0, i).clone();
  d.biases = threshold + d.decoders.sum(1) * spec.offset;
  trainHead(d, int(d.labels.max().item<int64_t>() + 1), gen);
  return d;
}

at::Tensor matchedDetectorIou(const at::Tensor& scores, const at::Tensor& present,
                              std::vector<int64_t>* assignment) {
  auto fires = (scores > 0).to(torch::kFloat);  // P x J
  auto truth = present.to(torch::kFloat);       // P x I
  auto inter = truth.t().matmul(fires);          // I x J
  auto uni = truth.sum(0).unsqueeze(1) + fires.sum(0).unsqueeze(0) - inter;
  auto iou = inter / uni.clamp_min(1);
  int64_t nTrue = iou.size(0), nDet = iou.size(1);
  if (nDet < nTrue) throw UserError("fewer detectors than true concepts to match");
  auto match = maxWeightAssignment(iou);
  auto out = torch::zeros({nTrue});
  for (int64_t t = 0; t < nTrue; ++t) out[t] = iou[t][match[size_t(t)]];
  if (assignment) *assignment = match;
  return out;
}

at::Tensor reflectedEncoders(const SyntheticPairs& data, FactorDistribution distribution) {
  if (distribution != FactorDistribution::NoisyLevels) return {};
  if (!data.present.sum(1).eq(1).all().item<bool>()) return {};
  auto s = data.encoders.to(torch::kDouble);
  int64_t concepts = s.size(0);
  auto reflected = s - (2.0 / double(concepts)) * s.sum(0, true);  // rows of H S
  return (reflected / reflected.norm(2, {1}, true).clamp_min(1e-12)).to(torch::kFloat);
}

double centredLatentRmse(const ConceptBasis& basis, const at::Tensor& patches,
                         const at::Tensor& latents, const std::vector<int64_t>& assignment) {
  auto index = torch::tensor(assignment, torch::kLong);
  auto w = basis.decoders.index_select(0, index), s = basis.encoders.index_select(0, index);
  auto x = patches.to(torch::kDouble), a = latents.to(torch::kDouble);
  // Unit encoders, as the true S: the latent scale is a's only where ||s_hat|| = 1.
  auto unit = s.to(torch::kDouble) / s.to(torch::kDouble).norm(2, {1}, true).clamp_min(1e-12);
  auto scale = (w.to(torch::kDouble) * unit).sum(1);
  auto estimate = (x - x.mean(0)).matmul(w.to(torch::kDouble).t()) / scale;
  return (estimate - (a - a.mean(0))).pow(2).mean().sqrt().item<double>();
}

const char* distributionName(FactorDistribution d) {
  switch (d) {
    case FactorDistribution::Uniform: return "uniform";
    case FactorDistribution::HeavyTailed: return "heavy-tailed";
    case FactorDistribution::NoisyLevels: return "noisy-levels";
  }
  return "?";
}

FactorDistribution distributionFromName(const std::string& name) {
  for (auto d : {FactorDistribution::Uniform, FactorDistribution::HeavyTailed,
                 FactorDistribution::NoisyLevels})
    if (name == distributionName(d)) return d;
  throw UserError("unknown factor distribution \"" + name +
                  "\"; use uniform, heavy-tailed or noisy-levels.");
}

}  // namespace dx

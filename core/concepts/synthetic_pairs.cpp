#include "synthetic_pairs.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cs {
namespace {

// Unit vectors with every pairwise cosine in [0.1, 0.5], by rejection sampling around a
// shared direction (a common positive component makes moderate correlations likely).
at::Tensor correlatedDirections(int count, int dims, at::Generator& gen) {
  auto common = torch::randn({dims}, gen);
  common /= common.norm();
  // With g ~ N(0, I_d) and a shared part k sqrt(d) c, cosines concentrate near k^2 / (1 + k^2).
  const double k = 0.65 * std::sqrt(double(dims));  // about 0.3
  for (int attempt = 0; attempt < 10000; ++attempt) {
    auto v = torch::randn({count, dims}, gen) + k * common;
    v /= v.norm(2, {1}, true);
    auto cos = v.matmul(v.t());
    auto off = cos.masked_select(~torch::eye(count, torch::kBool));
    if (off.min().item<double>() >= 0.1 && off.max().item<double>() <= 0.5) return v;
  }
  throw std::runtime_error("could not draw directions with cosines in [0.1, 0.5]");
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
  torch::NoGradGuard noGrad;
  auto gen = at::detail::createCPUGenerator(spec.seed);
  int i = spec.concepts, f = spec.distractors, dims = spec.dims;
  auto dirs = correlatedDirections(i + f, dims, gen);
  SyntheticPairs d;
  d.encoders = dirs.slice(0, 0, i).clone();
  auto distractors = dirs.slice(0, i);
  d.distractors = distractors.clone();
  std::vector<std::pair<int, int>> pairs;
  for (int a = 0; a < i; ++a)
    for (int b = a + 1; b < i; ++b) pairs.push_back({a, b});
  int64_t n = int64_t(pairs.size()) * spec.imagesPerClass, patches = 2 * n;
  d.labels = torch::arange(int64_t(pairs.size())).repeat_interleave(spec.imagesPerClass);
  d.present = torch::zeros({patches, i}, torch::kBool);
  auto order = torch::rand({n}, gen) < 0.5;  // which concept of the pair sits on top
  for (int64_t img = 0; img < n; ++img) {
    auto [first, second] = pairs[size_t(d.labels[img].item<int64_t>())];
    if (order[img].item<bool>()) std::swap(first, second);
    d.present[2 * img][first] = true;
    d.present[2 * img + 1][second] = true;
  }
  auto unit = torch::rand({patches, i}, gen);
  d.latents = torch::where(d.present, spec.presentMin + unit * (5.0 - spec.presentMin),
                           unit * spec.absentMax);
  auto distractorFactors = torch::rand({patches, f}, gen) * 5.0;
  auto x = d.latents.matmul(d.encoders) + distractorFactors.matmul(distractors) + spec.offset;
  d.activations = x.view({n, 2, 1, dims}).permute({0, 3, 1, 2}).contiguous();
  // True filters: the rows of pinv([S; D]) that belong to S, so w_i . s_j = [i == j] and
  // w_i . distractor = 0; then w_i . (x - offset) = a_i, thresholded halfway between the ranges.
  d.decoders = torch::linalg::pinv(dirs.t()).slice(0, 0, i).clone();
  d.biases = (spec.absentMax + spec.presentMin) / 2 + d.decoders.sum(1) * spec.offset;
  trainHead(d, int(pairs.size()), gen);
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
  std::vector<int64_t> perm(static_cast<size_t>(nDet));
  std::iota(perm.begin(), perm.end(), 0);
  double best = -1;
  std::vector<int64_t> bestPerm;
  do {  // brute force over assignments: fine for the handful of concepts of these tests
    double total = 0;
    for (int64_t t = 0; t < nTrue; ++t) total += iou[t][perm[size_t(t)]].item<double>();
    if (total > best) best = total, bestPerm = perm;
  } while (std::next_permutation(perm.begin(), perm.end()));
  auto out = torch::zeros({nTrue});
  for (int64_t t = 0; t < nTrue; ++t) out[t] = iou[t][bestPerm[size_t(t)]];
  if (assignment) assignment->assign(bestPerm.begin(), bestPerm.begin() + nTrue);
  return out;
}

}  // namespace cs

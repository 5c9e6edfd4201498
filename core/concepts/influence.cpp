#include "influence.h"

#include <torch/torch.h>

#include <cmath>

#include "stopwatch.h"
#include "ura.h"

namespace cs {
namespace {

// Mean probability change when each direction (rows of `directions`, D x C) is added with
// `alpha` at the masked patches of z (m x C x h x w, mask m x h x w): D x K.
at::Tensor probabilityShift(const HeadFunction& head, const at::Tensor& z, const at::Tensor& mask,
                            const at::Tensor& directions, double alpha, bool pooled,
                            const at::Tensor& baseline) {
  if (pooled) {
    // Global average pooling first: the edit only moves each image's mean by alpha*mean(mask)*v.
    auto mean = z.mean({2, 3});                                  // m x C
    auto weight = mask.to(z.dtype()).mean({1, 2});               // m
    auto moved = mean.unsqueeze(0) + alpha * weight.view({1, -1, 1}) * directions.unsqueeze(1);
    auto flat = moved.reshape({-1, z.size(1), 1, 1});
    auto p = torch::softmax(head(flat), 1).view({directions.size(0), z.size(0), -1});
    return (p - baseline.unsqueeze(0)).mean(1);
  }
  std::vector<at::Tensor> rows;
  auto m = mask.to(z.dtype()).unsqueeze(1);
  for (int64_t d = 0; d < directions.size(0); ++d) {
    auto edited = z + alpha * m * directions[d].view({1, -1, 1, 1});
    rows.push_back((torch::softmax(head(edited), 1) - baseline).mean(0));
  }
  return torch::stack(rows);
}

// Two-sided p of the observed shift under a normal fitted to the random-direction shifts.
// An empirical rank p cannot go below 1 / (R + 1), which no Bonferroni threshold over I x K
// tests would accept, hence the parametric null.
at::Tensor twoSidedPValue(const at::Tensor& observed, const at::Tensor& null) {
  auto mu = null.mean(0), sd = null.std(0).clamp_min(1e-12);
  auto z = ((observed - mu) / sd).abs();
  return torch::erfc(z / std::sqrt(2.0));
}

}  // namespace

InfluenceResult conceptInfluence(const HeadFunction& head, const ConceptBasis& basis,
                                 const at::Tensor& z, const InfluenceOptions& o) {
  torch::NoGradGuard noGrad;
  bool pooled = eddp::headPoolsGlobally(head, z.slice(0, 0, std::min<int64_t>(4, z.size(0))));
  auto baselineAll = torch::softmax(head(z), 1);
  int64_t concepts = basis.concepts(), classes = baselineAll.size(1);
  InfluenceResult r;
  r.influence = torch::zeros({concepts, classes});
  r.pValues = torch::ones({concepts, classes});
  r.imagesUsed = torch::zeros({concepts}, torch::kLong);
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto detector = torch::einsum("ic,nchw->nihw", {basis.decoders, z}) -
                  basis.biases.view({1, -1, 1, 1});
  Stopwatch clock;
  for (int64_t i = 0; i < concepts; ++i) {
    if (o.cancel.cancelled()) throw Cancelled();
    auto mask = detector.select(1, i) > 0;                       // n x h x w
    auto images = mask.flatten(1).any(1).nonzero().squeeze(1);   // where the concept occurs
    r.imagesUsed[i] = images.size(0);
    if (images.size(0) == 0) continue;
    auto s = basis.encoders[i];
    auto noise = torch::randn({o.randomDirections, s.size(0)}, gen).to(s.device());
    noise = noise / noise.norm(2, {1}, true) * s.norm();         // same norm as s_i
    auto shifts = probabilityShift(head, z.index_select(0, images), mask.index_select(0, images),
                                   torch::cat({s.unsqueeze(0), noise}), o.alpha, pooled,
                                   baselineAll.index_select(0, images));
    auto observed = shifts[0];
    r.influence[i] = observed.to(torch::kCPU);
    r.pValues[i] = twoSidedPValue(observed, shifts.slice(0, 1)).to(torch::kCPU);
    if (o.progress) o.progress(clock.progress("influence", i + 1, concepts));
  }
  r.threshold = o.significance / double(concepts * classes);
  r.significant = r.pValues <= r.threshold;
  return r;
}

}  // namespace cs

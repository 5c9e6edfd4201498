#include "discovery/concept_stability.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "discovery/eddp_starts.h"
#include "discovery/patches.h"

namespace dx {

std::vector<int64_t> maxWeightAssignment(const at::Tensor& weight) {
  // Potentials on the cost -weight, O(rows^2 cols) (the classic shortest augmenting path form).
  auto w = weight.to(torch::kDouble).contiguous();
  int64_t n = w.size(0), m = w.size(1);
  if (n > m) throw std::invalid_argument("maxWeightAssignment needs rows <= columns");
  // A non-finite weight would leave the augmenting path search without a finite step forever.
  if (!torch::isfinite(w).all().item<bool>())
    throw std::invalid_argument("maxWeightAssignment needs finite weights");
  const double* data = w.data_ptr<double>();
  auto cost = [&](int64_t r, int64_t c) { return -data[r * m + c]; };
  std::vector<double> u(size_t(n + 1), 0), v(size_t(m + 1), 0);
  std::vector<int64_t> p(size_t(m + 1), 0), way(size_t(m + 1), 0);
  for (int64_t r = 1; r <= n; ++r) {
    p[0] = r;
    int64_t c0 = 0;
    std::vector<double> minv(size_t(m + 1), INFINITY);
    std::vector<bool> used(size_t(m + 1), false);
    do {
      used[size_t(c0)] = true;
      int64_t r0 = p[size_t(c0)], c1 = 0;
      double delta = INFINITY;
      for (int64_t c = 1; c <= m; ++c) {
        if (used[size_t(c)]) continue;
        double cur = cost(r0 - 1, c - 1) - u[size_t(r0)] - v[size_t(c)];
        if (cur < minv[size_t(c)]) minv[size_t(c)] = cur, way[size_t(c)] = c0;
        if (minv[size_t(c)] < delta) delta = minv[size_t(c)], c1 = c;
      }
      for (int64_t c = 0; c <= m; ++c) {
        if (used[size_t(c)]) u[size_t(p[size_t(c)])] += delta, v[size_t(c)] -= delta;
        else minv[size_t(c)] -= delta;
      }
      c0 = c1;
    } while (p[size_t(c0)] != 0);
    do {
      int64_t c1 = way[size_t(c0)];
      p[size_t(c0)] = p[size_t(c1)];
      c0 = c1;
    } while (c0);
  }
  std::vector<int64_t> rowToCol(size_t(n), -1);
  for (int64_t c = 1; c <= m; ++c)
    if (p[size_t(c)] > 0) rowToCol[size_t(p[size_t(c)] - 1)] = c - 1;
  return rowToCol;
}

at::Tensor firingIou(const ConceptBasis& a, const ConceptBasis& b, const at::Tensor& patches) {
  if (a.channels() != patches.size(1) || b.channels() != patches.size(1))
    throw UserError("the concept sets read " + std::to_string(a.channels()) + " and " +
                    std::to_string(b.channels()) + " channels, the patches have " +
                    std::to_string(patches.size(1)) + "; compare fits of the same layer.");
  auto firesA = (conceptScores(a, patches) > 0).to(torch::kFloat);  // P x I_a
  auto firesB = (conceptScores(b, patches) > 0).to(torch::kFloat);  // P x I_b
  auto inter = firesA.t().matmul(firesB);
  auto uni = firesA.sum(0).unsqueeze(1) + firesB.sum(0).unsqueeze(0) - inter;
  return inter / uni.clamp_min(1);
}

std::vector<double> matchedFiringIou(const ConceptBasis& a, const ConceptBasis& b,
                                     const at::Tensor& patches) {
  if (b.concepts() < a.concepts())
    throw UserError("a refit with fewer concepts cannot be matched one to one");
  auto iou = firingIou(a, b, patches).to(torch::kDouble).contiguous();
  auto match = maxWeightAssignment(iou);
  std::vector<double> out(match.size());
  for (size_t i = 0; i < match.size(); ++i)
    out[i] = iou[int64_t(i)][match[i]].item<double>();
  return out;
}

std::vector<double> conceptStability(const ConceptBasis& reference,
                                     const std::vector<ConceptBasis>& refits,
                                     const at::Tensor& patches) {
  if (refits.empty()) throw UserError("seed stability needs at least one refit");
  std::vector<std::vector<double>> perRefit;
  for (const ConceptBasis& refit : refits)
    perRefit.push_back(matchedFiringIou(reference, refit, patches));
  std::vector<double> out(size_t(reference.concepts()));
  for (size_t i = 0; i < out.size(); ++i) {
    std::vector<double> values;
    for (const auto& v : perRefit) values.push_back(v[i]);
    std::sort(values.begin(), values.end());
    out[i] = values[(values.size() - 1) / 2];  // the lower median (header)
  }
  return out;
}

ProgressSink refitProgress(const ProgressSink& inner, int refit, int refits) {
  if (!inner) return {};
  std::string prefix = "refit " + std::to_string(refit) + " of " + std::to_string(refits) + ": ";
  return [inner, prefix](const Progress& p) {
    Progress labelled = p;
    labelled.stage = prefix + p.stage;
    inner(labelled);
  };
}

at::Tensor stabilitySample(const at::Tensor& activations, int64_t most, uint64_t seed) {
  torch::NoGradGuard noGrad;
  auto gen = at::detail::createCPUGenerator(seed);
  // Streamed (keep budget 0): only the drawn rows are read from a memory-mapped cache.
  Patches patches(activations, 0);
  return eddp::sampleRows(patches, most, gen).to(torch::kFloat).contiguous();
}

}  // namespace dx

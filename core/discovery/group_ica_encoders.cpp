#include "discovery/group_ica_encoders.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "discovery/eddp_starts.h"

namespace dx::eddp {
namespace {

constexpr int64_t kSmallestGroup = 20;
constexpr double kHalvesAgreement = 0.9;
constexpr double kLeakingSpread = 0.5;
constexpr double kSingleFiring = 0.75;

// Rows of x centred on the mean of their firing group (the set of detectors that fire); rows of
// groups under kSmallestGroup are left out.
at::Tensor groupCentred(const at::Tensor& x, const at::Tensor& fires) {
  auto [keys, group, counts] = at::unique_dim(fires.to(torch::kUInt8), 0, /*sorted=*/true,
                                              /*return_inverse=*/true, /*return_counts=*/true);
  auto sums = torch::zeros({keys.size(0), x.size(1)}, x.options()).index_add_(0, group, x);
  auto means = sums / counts.unsqueeze(1).to(x.scalar_type());
  auto keep = counts.index_select(0, group) >= kSmallestGroup;
  return (x - means.index_select(0, group)).index({keep});
}

struct Components {
  at::Tensor patterns;  // r x D: cov(x, s_c) / var(s_c) over the centred groups
  at::Tensor readings;  // n x r: every sample row's reading of every component
};

// Whitening of the centred groups in their leading components: every component above a
// relative floor of 1e-9 (their rank), at most max(2 I, 64) as the ICA starts (eddp_starts.h).
// A cut at 99.9% of the variance dropped a weak factor's component (uniform I = 3, D = 64,
// F = 32: rank 35, 99.9% in 34), and ICA then finds no component of its own.
at::Tensor groupWhitening(const at::Tensor& centred, int concepts) {
  auto covariance = centred.t().matmul(centred) / double(std::max<int64_t>(1, centred.size(0) - 1));
  auto whitening = covarianceWhitening(covariance);
  return whitening.slice(1, 0, std::min<int64_t>(whitening.size(1), std::max(2 * concepts, 64)));
}

Components groupComponents(const at::Tensor& centred, const at::Tensor& rows, int concepts,
                           at::Generator& gen, const CancelToken& cancel) {
  auto whitening = groupWhitening(centred, concepts);
  auto unmixing = fastIca(centred.matmul(whitening), gen, cancel);
  auto projection = whitening.matmul(unmixing.t());  // D x r: a reading is x . projection
  auto s = centred.matmul(projection);
  auto patterns = (centred.t().matmul(s) / s.pow(2).sum(0).clamp_min(1e-300)).t();
  return {patterns, (rows - rows.mean(0)).matmul(projection)};
}

// Per detector, the component whose readings differ most in standard deviations between its
// positives and the other rows; -1 where either side has fewer than 2 rows.
std::vector<int64_t> chosenComponents(const at::Tensor& readings, const at::Tensor& fires) {
  auto f = fires.to(readings.scalar_type());
  auto positives = f.sum(0), negatives = double(f.size(0)) - positives;
  auto positiveSums = f.t().matmul(readings);  // I x r
  auto meanPositive = positiveSums / positives.clamp_min(1).unsqueeze(1);
  auto meanNegative = (readings.sum(0) - positiveSums) / negatives.clamp_min(1).unsqueeze(1);
  auto effect = ((meanPositive - meanNegative) / readings.std(0).clamp_min(1e-300)).abs();
  auto best = effect.argmax(1);
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < f.size(1); ++i) {
    bool both = positives[i].item<double>() >= 2 && negatives[i].item<double>() >= 2;
    chosen.push_back(both ? best[i].item<int64_t>() : -1);
  }
  return chosen;
}

// Per detector i, the median over the other detectors j of var(z_j) on i's positives where j is
// silent over var(z_j) on j's positives (z_j = w_j . x): how far the other concepts' factors
// spread when absent against when present. The positives-only pattern of a filter that weighs
// factor j by c leans towards s_j by about c times this ratio; NaN where no j has 2 rows each.
// Every (i, j) at once from three products (f^T (1 - f), f^T ((1 - f) z), f^T ((1 - f) z^2)), so
// the cost is three I x n x I products whatever I.
std::vector<double> absentSpread(const at::Tensor& readings, const at::Tensor& fires) {
  auto f = fires.to(readings.scalar_type());
  auto silent = 1 - f;
  auto centred = readings - readings.mean(0);  // variances unchanged; keeps the sums small
  auto absentRows = f.t().matmul(silent);      // I x I: rows where i fires and j is silent
  auto absentMean = f.t().matmul(silent * centred) / absentRows.clamp_min(1);
  auto absent = f.t().matmul(silent * centred.pow(2)) / absentRows.clamp_min(1) -
                absentMean.pow(2);
  auto presentRows = f.sum(0);
  auto presentMean = (f * centred).sum(0) / presentRows.clamp_min(1);
  auto present = (f * centred.pow(2)).sum(0) / presentRows.clamp_min(1) - presentMean.pow(2);
  auto ratio = (absent.clamp_min(0) / present.clamp_min(1e-300)).contiguous();
  auto usable = (absentRows.ge(2) & presentRows.ge(2).unsqueeze(0)).contiguous();
  auto r = ratio.accessor<double, 2>();
  auto u = usable.accessor<bool, 2>();
  std::vector<double> spread;
  for (int64_t i = 0; i < f.size(1); ++i) {
    std::vector<double> ratios;
    for (int64_t j = 0; j < f.size(1); ++j)
      if (j != i && u[i][j]) ratios.push_back(r[i][j]);
    if (ratios.empty()) {
      spread.push_back(std::nan(""));
      continue;
    }
    std::nth_element(ratios.begin(), ratios.begin() + ratios.size() / 2, ratios.end());
    spread.push_back(ratios[ratios.size() / 2]);
  }
  return spread;
}

double absCos(const at::Tensor& a, const at::Tensor& b) {
  return std::abs(torch::cosine_similarity(a, b, 0).item<double>());
}

}  // namespace

std::string icaSkipReason(IcaSkip why) {
  switch (why) {
    case IcaSkip::None: return "";
    case IcaSkip::NoPatches: return "no patches";
    case IcaSkip::SeveralOrNone: return "most patches fire several detectors or none";
    case IcaSkip::NoSpread: return "absent factors do not spread (positives-only encoders hold)";
    case IcaSkip::FewGrouped: return "too few patches in firing groups";
  }
  return "";
}

GroupIcaEncoders groupIcaEncoders(const at::Tensor& sample, const at::Tensor& decoders,
                                  const at::Tensor& biases, const at::Tensor& fallback,
                                  uint64_t seed, const CancelToken& cancel) {
  torch::NoGradGuard noGrad;
  const int concepts = int(decoders.size(0));
  GroupIcaEncoders out;
  out.encoders = fallback.clone();
  out.accepted.assign(size_t(concepts), false);
  out.singleFiringThreshold = kSingleFiring;
  auto x = sample.to(torch::kCPU, torch::kDouble);
  auto w = decoders.to(torch::kCPU, torch::kDouble);
  auto readings = x.matmul(w.t());
  auto fires = readings > biases.to(torch::kCPU, torch::kDouble);
  // Groups are single concepts only where most patches fire exactly one detector.
  if (x.size(0) == 0) {
    out.skipped = IcaSkip::NoPatches;
    return out;
  }
  out.singleFiring = fires.sum(1).eq(1).to(torch::kDouble).mean().item<double>();
  if (out.singleFiring < kSingleFiring) {
    out.skipped = IcaSkip::SeveralOrNone;
    return out;
  }
  auto spread = absentSpread(readings, fires);
  if (std::none_of(spread.begin(), spread.end(), [](double v) { return v >= kLeakingSpread; })) {
    out.skipped = IcaSkip::NoSpread;
    return out;
  }
  auto centred = groupCentred(x, fires);
  if (centred.size(0) < 4 * kSmallestGroup) {
    out.skipped = IcaSkip::FewGrouped;
    return out;
  }
  auto gen = at::detail::createCPUGenerator(seed);
  auto whole = groupComponents(centred, x, concepts, gen, cancel);
  auto order = torch::randperm(centred.size(0), gen);
  int64_t half = centred.size(0) / 2;
  auto first = groupComponents(centred.index_select(0, order.slice(0, 0, half)), x, concepts,
                               gen, cancel);
  auto second = groupComponents(centred.index_select(0, order.slice(0, half)), x, concepts, gen,
                                cancel);
  auto chosen = chosenComponents(whole.readings, fires);
  auto chosenFirst = chosenComponents(first.readings, fires);
  auto chosenSecond = chosenComponents(second.readings, fires);
  for (int i = 0; i < concepts; ++i) {
    int64_t c = chosen[size_t(i)], a = chosenFirst[size_t(i)], b = chosenSecond[size_t(i)];
    if (!(spread[size_t(i)] >= kLeakingSpread) || c < 0 || a < 0 || b < 0) continue;
    if (std::count(chosen.begin(), chosen.end(), c) > 1) continue;  // shared: no concept's own
    auto pattern = whole.patterns[c];
    if (absCos(pattern, first.patterns[a]) < kHalvesAgreement ||
        absCos(pattern, second.patterns[b]) < kHalvesAgreement)
      continue;
    if ((pattern * w[i]).sum().item<double>() < 0) pattern = -pattern;  // w . s > 0
    out.encoders[i] = pattern.to(fallback.scalar_type()).to(fallback.device());
    out.accepted[size_t(i)] = true;
  }
  return out;
}

}  // namespace dx::eddp

#include "analysis/influence.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "analysis/multiple_testing.h"
#include "base/stopwatch.h"
#include "discovery/ura.h"

namespace dx {
namespace {

constexpr int64_t kDirectionsPerPass = 64;

// The images a concept occurs in, with their masks, baseline logits and per-image edit weights.
struct Sites {
  at::Tensor z, mask, baseLogits;
  bool pooled = false;
  HeadFunction head;  // the head for these images (their class tokens at a transformer layer)
};

// Class logits after adding each direction (rows of `directions`, D x C) at the masked patches:
// D x n x K. With a pooling head only each image's mean moves, by mean(mask) * v.
at::Tensor editedLogits(const Sites& s, const at::Tensor& directions) {
  const HeadFunction& head = s.head;
  std::vector<at::Tensor> out;
  auto weight = s.mask.to(s.z.dtype()).mean({1, 2});  // n
  auto mean = s.z.mean({2, 3});                        // n x C
  auto m = s.mask.to(s.z.dtype()).unsqueeze(1);
  for (int64_t start = 0; start < directions.size(0); start += kDirectionsPerPass) {
    auto batch = directions.slice(0, start, start + kDirectionsPerPass);
    if (s.pooled) {
      auto moved = mean.unsqueeze(0) + weight.view({1, -1, 1}) * batch.unsqueeze(1);
      auto logits = head(moved.reshape({-1, s.z.size(1), 1, 1})).to(s.z.device(), s.z.dtype());
      out.push_back(logits.view({batch.size(0), s.z.size(0), -1}));
    } else {
      for (int64_t d = 0; d < batch.size(0); ++d)
        out.push_back(head(s.z + m * batch[d].view({1, -1, 1, 1}))
                          .to(s.z.device(), s.z.dtype())
                          .unsqueeze(0));
    }
  }
  return torch::cat(out);
}

// The head's weights H (K x C) when it is linear in its pooled input, else undefined. Checked
// on random inputs at the data's scale: head(x) = H x + head(0) within 1e-4 of the logits' range.
at::Tensor linearHeadWeights(const HeadFunction& head, const at::Tensor& pooledMean) {
  int64_t c = pooledMean.size(1);
  auto options = pooledMean.options();
  auto run = [&](const at::Tensor& x) { return head(x).to(options.device(), options.dtype()); };
  auto zero = run(torch::zeros({1, c, 1, 1}, options));
  auto h = (run(torch::eye(c, options).view({c, c, 1, 1})) - zero).t();  // K x C
  auto gen = at::detail::createCPUGenerator(12345);
  auto scale = pooledMean.abs().max().item<double>() + 1e-6;
  auto probe = (torch::randn({4, c}, gen) * scale).to(options.device()) + pooledMean.slice(0, 0, 1);
  auto direct = run(probe.view({4, c, 1, 1}));
  auto linear = probe.matmul(h.t()) + zero;
  double range = direct.abs().max().item<double>() + 1e-6;
  if ((direct - linear).abs().max().item<double>() > 1e-4 * range) return {};
  return h;
}

// Null edits v = k L g with g ~ N(0, I): covariance k^2 L L^T, where k matches the edit's size.
struct NullShape {
  at::Tensor factor;      // C x P: L
  double traceRoot = 1;   // |L|_F, so that E|L g|^2 = traceRoot^2
  at::Tensor whitener;    // C x C, A with A^T A = M^-1 for a metric M when sizes are
                          // Mahalanobis; undefined when they are Euclidean
  double whiteTrace = 1;  // |A L|_F^2 = E[(L g)^T M^-1 (L g)]

  // k for an edit e: E|v|^2 = |e|^2 (Euclidean), or E[v^T M^-1 v] = e^T M^-1 e (Mahalanobis: the
  // null moves the data by as many of its own standard deviations as e does).
  double scaleFor(const at::Tensor& edit) const {
    if (!whitener.defined()) return edit.norm().item<double>() / std::max(traceRoot, 1e-300);
    auto white = whitener.matmul(edit.to(whitener.device(), whitener.dtype()));
    return white.norm().item<double>() / std::sqrt(std::max(whiteTrace, 1e-300));
  }
};

// ledoitWolfShrinkage (influence.h) of centred double rows x given their S = x^T x / n.
double shrinkageIntensity(const at::Tensor& x, const at::Tensor& s) {
  double n = double(x.size(0)), p = double(x.size(1));
  double trace = s.trace().item<double>(), mu = trace / p;
  double frobenius2 = s.square().sum().item<double>();
  double fourth = x.square().sum(1).square().sum().item<double>();
  double beta = (fourth / n - frobenius2) / (p * n);
  double delta = (frobenius2 - 2 * mu * trace + p * mu * mu) / p;  // |S - mu I|_F^2 / p
  if (!(delta > 0)) return 1;  // S is already mu I
  return std::clamp(std::min(beta, delta) / delta, 0.0, 1.0);
}

// The metric M: the patches' covariance shrunk towards mu I (Ledoit-Wolf), so directions the
// sample barely spans (near-dead channels, more channels than sampled patches) get a bounded
// weight. Eigenvalues are floored relative to mu; where every patch is alike (mu = 0) sizes
// stay Euclidean.
void setMahalanobisMetric(NullShape& s, const at::Tensor& deviations) {
  auto x = deviations.to(torch::kDouble);
  auto cov = x.t().matmul(x) / double(std::max<int64_t>(1, x.size(0)));
  double mu = cov.trace().item<double>() / double(cov.size(0));
  if (!(mu > 0)) return;
  double rho = shrinkageIntensity(x, cov);
  auto [values, vectors] = torch::linalg_eigh(cov);
  auto shrunk = ((1 - rho) * values.clamp_min(0) + rho * mu).clamp_min(1e-12 * mu);
  s.whitener = vectors.t() / shrunk.sqrt().unsqueeze(1);
  s.whiteTrace = s.whitener.matmul(s.factor.to(torch::kDouble)).square().sum().item<double>();
}

NullShape nullShape(InfluenceNull kind, const at::Tensor& z, at::Generator& gen) {
  NullShape s;
  int64_t c = z.size(1);
  if (kind == InfluenceNull::Isotropic) {
    s.factor = torch::eye(c, z.options());
  } else {
    // Covariance of the patches from a sample of at most 4096 of them: v = X^T g / sqrt(P - 1).
    auto patches = patchesOf(z);
    if (patches.size(0) > 4096)
      patches = patches.index_select(
          0, torch::randperm(patches.size(0), gen).slice(0, 0, 4096).to(patches.device()));
    auto deviations = patches - patches.mean(0);
    s.factor = deviations.t() / std::sqrt(double(std::max<int64_t>(1, deviations.size(0) - 1)));
    if (kind == InfluenceNull::PatternMahalanobis) setMahalanobisMetric(s, deviations);
  }
  s.traceRoot = s.factor.norm().item<double>();
  return s;
}

// Two-sided p of each class's observed mean logit change (K) against R null edits k L g
// (empirical, (1 + count) / (R + 1)).
at::Tensor empiricalP(const Sites& sites, const at::Tensor& observed,
                      const NullShape& shape, double k, int draws, at::Generator& gen) {
  auto g = torch::randn({draws, shape.factor.size(1)}, gen).to(shape.factor.device());
  auto v = g.matmul(shape.factor.t()) * k;
  auto null = (editedLogits(sites, v) - sites.baseLogits.unsqueeze(0)).mean(1);  // R x K
  auto beyond = (null.abs() >= observed.abs().unsqueeze(0) - 1e-12 * observed.abs().unsqueeze(0))
                    .sum(0).to(torch::kDouble);
  return ((beyond + 1) / double(draws + 1)).to(torch::kCPU);
}

// Exact two-sided p when the head is linear in its pooled input: the mean logit change under a
// null edit v = k L g is mean(weight) H v, Gaussian with variance mean(weight)^2 k^2 H L L^T H^T.
at::Tensor exactP(const at::Tensor& h, const Sites& sites, const at::Tensor& observed,
                  const NullShape& shape, double k) {
  double weight = sites.mask.to(torch::kDouble).mean({1, 2}).mean().item<double>();
  auto spread = h.to(torch::kDouble).matmul(shape.factor.to(torch::kDouble)).norm(2, {1});
  auto sd = (std::abs(weight) * k) * spread.to(torch::kCPU);
  auto obs = observed.to(torch::kCPU, torch::kDouble).abs();
  auto zScore = obs / sd.clamp_min(1e-300);
  auto p = torch::erfc(zScore / std::sqrt(2.0));
  return torch::where(obs <= 1e-9, torch::ones_like(p), p);  // no change at all: nothing to test
}

// Quantiles 0, .25, .5, .75, 1 of each column of x (n x K): K x 5.
at::Tensor quartiles(const at::Tensor& x) {
  auto sorted = std::get<0>(x.to(torch::kCPU, torch::kFloat).sort(0));
  int64_t n = sorted.size(0);
  std::vector<at::Tensor> cols;
  for (double q : {0.0, 0.25, 0.5, 0.75, 1.0}) cols.push_back(sorted[int64_t(std::lround(q * double(n - 1)))]);
  return torch::stack(cols, 1);
}

std::string describeTest(const InfluenceOptions& o, bool exact, int draws) {
  std::ostringstream s;
  s << "edit: +" << o.alpha << " sd of the concept's score at its patches; reading: change of "
    << "the class logit; null: " << influenceNullName(o.null) << " edits of the same "
    << (o.null == InfluenceNull::PatternMahalanobis ? "Mahalanobis size; " : "size; ")
    << (exact ? std::string("exact z-test (the head is linear after pooling)")
              : "empirical p over " + std::to_string(draws) + " null edits (p >= 1/" +
                    std::to_string(draws + 1) + ")")
    << "; Benjamini-Hochberg at q = " << o.fdr << "; marked when also |change| >= "
    << o.minEffect;
  return s.str();
}

}  // namespace

double ledoitWolfShrinkage(const at::Tensor& centred) {
  auto x = centred.to(torch::kDouble);
  return shrinkageIntensity(x, x.t().matmul(x) / double(std::max<int64_t>(1, x.size(0))));
}

const char* influenceNullName(InfluenceNull null) {
  switch (null) {
    case InfluenceNull::Pattern: return "pattern";
    case InfluenceNull::PatternMahalanobis: return "pattern-mahalanobis";
    case InfluenceNull::Isotropic: break;
  }
  return "isotropic";
}

InfluenceNull influenceNullNamed(const std::string& name) {
  for (auto null : {InfluenceNull::PatternMahalanobis, InfluenceNull::Pattern,
                    InfluenceNull::Isotropic})
    if (name == influenceNullName(null)) return null;
  throw UserError("the influence null is pattern-mahalanobis, pattern or isotropic, not \"" +
                  name + "\".");
}

InfluenceResult conceptInfluence(const HeadFunction& head, const ConceptBasis& basis,
                                 const at::Tensor& z, const InfluenceOptions& o) {
  torch::NoGradGuard noGrad;
  // A head with class tokens reads more than the pooled patches: never a pooling head.
  bool pooled = !head.hasContext() &&
                eddp::headPoolsGlobally(head, z.slice(0, 0, std::min<int64_t>(4, z.size(0))));
  auto h = pooled ? linearHeadWeights(head, z.mean({2, 3})) : at::Tensor();
  auto baseLogits = head(z).to(z.device(), z.dtype());
  int64_t concepts = basis.concepts(), classes = baseLogits.size(1);
  InfluenceResult r;
  r.exact = h.defined();
  r.nullDraws = r.exact ? 0 : o.nullDraws;
  r.logitChange = torch::zeros({concepts, classes});
  r.probabilityChange = torch::zeros({concepts, classes});
  r.logitQuartiles = torch::zeros({concepts, classes, 5});
  r.pValues = torch::full({concepts, classes}, NAN, torch::kDouble);
  r.imagesUsed = torch::zeros({concepts}, torch::kLong);
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto shape = nullShape(o.null, z, gen);
  bool nullMoves = shape.traceRoot > 0;  // all patches alike: no null to test against
  auto scores = torch::einsum("ic,nchw->nihw", {basis.decoders, z}) -
                basis.biases.view({1, -1, 1, 1});
  Stopwatch clock;
  for (int64_t i = 0; i < concepts; ++i) {
    if (o.cancel.cancelled()) throw Cancelled();
    if (size_t(i) < o.skip.size() && o.skip[size_t(i)]) continue;
    auto score = scores.select(1, i);
    auto mask = score > 0;  // n x h x w
    auto images = mask.flatten(1).any(1).nonzero().squeeze(1);
    r.imagesUsed[i] = images.size(0);
    auto positives = score.masked_select(mask);
    auto s = basis.encoders[i], w = basis.decoders[i];
    double ws = (w * s).sum().item<double>();
    if (positives.size(0) < 2 ||
        std::abs(ws) <= 1e-8 * w.norm().item<double>() * s.norm().item<double>())
      continue;  // no unit to step in: not tested
    double sd = positives.std().item<double>();
    if (!(sd > 0)) continue;
    auto edit = s * (o.alpha * sd / ws);
    Sites sites{z.index_select(0, images), mask.index_select(0, images),
                baseLogits.index_select(0, images), pooled, head.rows(images)};
    auto perImage = (editedLogits(sites, edit.unsqueeze(0))[0] - sites.baseLogits);  // n x K
    auto observed = perImage.mean(0);
    r.logitChange[i] = observed.to(torch::kCPU);
    r.probabilityChange[i] = (torch::softmax(sites.baseLogits + perImage, 1) -
                              torch::softmax(sites.baseLogits, 1)).mean(0).to(torch::kCPU);
    r.logitQuartiles[i] = quartiles(perImage);
    if (nullMoves) {
      double k = shape.scaleFor(edit);
      r.pValues[i] = r.exact ? exactP(h, sites, observed, shape, k)
                             : empiricalP(sites, observed, shape, k,
                                          std::max(1, o.nullDraws), gen);
    }
    if (o.progress) o.progress(clock.progress("influence", i + 1, concepts));
  }
  auto flat = r.pValues.reshape({-1}).contiguous();
  std::vector<double> p(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  r.cutoff = benjaminiHochbergCutoff(p, o.fdr);
  auto discovery = benjaminiHochberg(p, o.fdr);
  r.significant = torch::zeros({concepts, classes}, torch::kBool);
  for (int64_t i = 0; i < concepts; ++i)
    for (int64_t k = 0; k < classes; ++k)
      r.significant[i][k] = bool(discovery[size_t(i * classes + k)]) &&
                            std::abs(r.logitChange[i][k].item<double>()) >= o.minEffect;
  r.test = describeTest(o, r.exact, r.nullDraws);
  return r;
}

}  // namespace dx

#include "tcav/cav.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/progress.h"
#include "base/tensor_io.h"

namespace dx {
namespace {

// Rows as float64 with labels s in {-1, +1}; throws unless both classes occur.
std::pair<at::Tensor, at::Tensor> prepare(const at::Tensor& x, const at::Tensor& y,
                                          const char* who) {
  if (x.dim() != 2 || y.dim() != 1 || x.size(0) != y.size(0))
    throw UserError(std::string(who) + ": rows must be n x D with n labels.");
  auto positives = (y > 0.5).sum().item<int64_t>();
  if (positives == 0 || positives == y.size(0))
    throw UserError(std::string(who) + ": needs rows of both the concept and the random set.");
  auto xd = x.to(torch::kDouble);
  return {xd, y.to(xd.options()) * 2 - 1};
}

// log(1 + exp(-m)) without overflow or the cut-off of torch::softplus.
at::Tensor logisticLoss(const at::Tensor& m) {
  return torch::clamp_min(-m, 0) + torch::log1p(torch::exp(-m.abs()));
}

at::Tensor randomOrder(int64_t n, at::Generator& gen, const at::Tensor& like) {
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong)).to(like.device());
}

// Stratified split of one class's rows: the first round(f n) of a permutation are held out
// (at least one row on each side).
void splitRows(const at::Tensor& rows, double testFraction, at::Generator& gen,
               std::vector<at::Tensor>& train, std::vector<at::Tensor>& test) {
  int64_t n = rows.size(0);
  int64_t held = std::min<int64_t>(n - 1, std::max<int64_t>(1, std::llround(testFraction * n)));
  auto order = randomOrder(n, gen, rows);
  test.push_back(rows.index_select(0, order.slice(0, 0, held)));
  train.push_back(rows.index_select(0, order.slice(0, held)));
}

LinearModel fit(const std::string& classifier, const at::Tensor& x, const at::Tensor& y,
                const CavOptions& o) {
  if (classifier == "logistic") return fitLogisticRegression(x, y, o.c);
  if (classifier == "sgd") return fitLinearSvmSgd(x, y, o.alpha, o.epochs, o.batchSize, o.seed);
  if (classifier == "mean") return fitMeanDifference(x, y);
  throw UserError("unknown CAV classifier \"" + classifier + "\"; choose logistic, sgd or mean.");
}

}  // namespace

std::vector<std::string> cavClassifierNames() { return {"logistic", "sgd", "mean"}; }

LinearModel fitLogisticRegression(const at::Tensor& x0, const at::Tensor& y0, double c,
                                  int maxIterations) {
  torch::NoGradGuard noGrad;
  at::Tensor x, s;  // (structured bindings cannot be captured by lambdas in C++17)
  std::tie(x, s) = prepare(x0, y0, "logistic regression");
  int64_t n = x.size(0), d = x.size(1);
  at::Tensor basis, z = x;
  if (d > n) {  // the optimum's w lies in the row space of x: w = basis . beta, |w| = |beta|
    basis = std::get<0>(at::linalg_qr(x.t(), "reduced"));  // D x n, orthonormal columns
    z = x.matmul(basis);
  }
  int64_t r = z.size(1);
  auto zt = torch::cat({z, torch::ones({n, 1}, z.options())}, 1);
  auto penalty = torch::ones({r + 1}, z.options());
  penalty[r] = 0;  // the intercept is not penalised (sklearn)
  auto objective = [&](const at::Tensor& t) {
    return 0.5 * (penalty * t * t).sum().item<double>() +
           c * logisticLoss(s * zt.mv(t)).sum().item<double>();
  };
  auto theta = torch::zeros({r + 1}, z.options());
  double value = objective(theta), firstGradient = 0;
  int it = 0;
  for (; it < maxIterations; ++it) {
    auto p = torch::sigmoid(-s * zt.mv(theta));  // sigma(-margin)
    auto gradient = penalty * theta - c * zt.t().mv(s * p);
    double size = gradient.abs().max().item<double>();
    if (it == 0) firstGradient = size;
    if (size <= 1e-10 * std::max(1.0, firstGradient)) break;
    // Hessian diag(penalty) + c Z^T diag(p (1 - p)) Z; a tiny ridge keeps the intercept's row
    // invertible when every margin is large.
    auto weighted = zt * (p * (1 - p)).unsqueeze(1);
    auto hessian = torch::diag(penalty + 1e-10) + c * zt.t().matmul(weighted);
    auto step = at::linalg_solve(hessian, gradient);
    // Armijo backtracking: plain Newton can overshoot far from the optimum.
    double decrease = gradient.dot(step).item<double>(), t = 1;
    bool accepted = false;
    for (; t > 1e-12 && !accepted; t *= 0.5) {
      double next = objective(theta - t * step);
      if (next <= value - 1e-4 * t * decrease) {
        theta = theta - t * step;
        value = next;
        accepted = true;
      }
    }
    if (!accepted) break;  // at the optimum to float64 precision
  }
  auto w = theta.slice(0, 0, r);
  return {basis.defined() ? basis.mv(w) : w, theta[r].item<double>(), it};
}

LinearModel fitLinearSvmSgd(const at::Tensor& x0, const at::Tensor& y0, double alpha, int epochs,
                            int batchSize, uint64_t seed) {
  torch::NoGradGuard noGrad;
  if (!(alpha > 0) || epochs < 1 || batchSize < 1)
    throw UserError("linear SVM: needs alpha > 0, at least one epoch and a batch size >= 1.");
  at::Tensor x, s;
  std::tie(x, s) = prepare(x0, y0, "linear SVM");
  int64_t n = x.size(0), d = x.size(1);
  auto gen = at::detail::createCPUGenerator(seed);
  // sklearn's "optimal" rate 1 / (alpha (t0 + t)), t0 chosen so the first step is alpha^-1/4.
  double t0 = 1 / (alpha * std::sqrt(1 / std::sqrt(alpha)));
  auto w = torch::zeros({d}, x.options()), sumW = torch::zeros({d}, x.options());
  double b = 0, sumB = 0;
  int64_t perEpoch = (n + batchSize - 1) / batchSize, total = perEpoch * epochs, step = 0, kept = 0;
  for (int e = 0; e < epochs; ++e) {
    auto order = randomOrder(n, gen, x);
    for (int64_t first = 0; first < n; first += batchSize, ++step) {
      auto idx = order.slice(0, first, std::min(n, first + batchSize));
      auto xb = x.index_select(0, idx), sb = s.index_select(0, idx);
      double eta = 1 / (alpha * (t0 + double(step)));
      // Subgradient of the hinge loss: rows inside the margin pull w towards s x.
      auto pull = sb * ((sb * (xb.mv(w) + b)) < 1).to(x.dtype());
      double m = double(idx.size(0));
      w = (1 - eta * alpha) * w + (eta / m) * xb.t().mv(pull);
      b += eta / m * pull.sum().item<double>();
      if (2 * (step + 1) > total) {  // average the second half: less noise than the last iterate
        sumW += w;
        sumB += b;
        ++kept;
      }
    }
  }
  return {sumW / double(kept), sumB / double(kept), int(step)};
}

LinearModel fitMeanDifference(const at::Tensor& x0, const at::Tensor& y0) {
  torch::NoGradGuard noGrad;
  at::Tensor x, s;
  std::tie(x, s) = prepare(x0, y0, "mean difference");
  auto mPos = x.index({s > 0}).mean(0), mNeg = x.index({s < 0}).mean(0);
  auto w = mPos - mNeg;
  return {w, -w.dot(0.5 * (mPos + mNeg)).item<double>(), 0};
}

Cav trainCav(const at::Tensor& positives, const at::Tensor& negatives, const CavOptions& o) {
  torch::NoGradGuard noGrad;
  if (positives.dim() != 2 || negatives.dim() != 2 || positives.size(1) != negatives.size(1))
    throw UserError("CAV: concept and random activations must be rows of the same length.");
  if (positives.size(0) < 2 || negatives.size(0) < 2)
    throw UserError("CAV: the concept and the random set need at least 2 samples each; add "
                    "images to the folder.");
  auto gen = at::detail::createCPUGenerator(o.seed);
  // Groups of rows (G x g x C) are balanced and split as wholes, then flattened back to rows.
  int64_t g = std::max<int64_t>(1, o.rowsPerGroup);
  if (positives.size(0) % g != 0 || negatives.size(0) % g != 0)
    throw UserError("CAV: the rows do not come in whole groups of " + std::to_string(g) + ".");
  at::Tensor pos = positives.view({-1, g, positives.size(1)});
  at::Tensor neg = negatives.view({-1, g, negatives.size(1)});
  if (pos.size(0) < 2 || neg.size(0) < 2)
    throw UserError("CAV: the concept and the random set need at least 2 images each; add "
                    "images to the folder.");
  if (o.balance) {  // official TCAV: equal numbers, so accuracy 0.5 means chance
    int64_t m = std::min(pos.size(0), neg.size(0));
    pos = pos.index_select(0, randomOrder(pos.size(0), gen, pos).slice(0, 0, m));
    neg = neg.index_select(0, randomOrder(neg.size(0), gen, neg).slice(0, 0, m));
  }
  std::vector<at::Tensor> train, test;
  splitRows(pos, o.testFraction, gen, train, test);
  splitRows(neg, o.testFraction, gen, train, test);
  for (auto* parts : {&train, &test})
    for (auto& t : *parts) t = t.reshape({-1, t.size(2)});
  auto labels = [&](const std::vector<at::Tensor>& parts) {
    auto opts = parts[0].options().dtype(torch::kFloat);
    return torch::cat(
        {torch::ones({parts[0].size(0)}, opts), torch::zeros({parts[1].size(0)}, opts)});
  };
  auto xTrain = torch::cat(train), xTest = torch::cat(test);
  auto yTrain = labels(train), yTest = labels(test);
  LinearModel model = fit(o.classifier, xTrain, yTrain, o);
  double norm = model.weights.norm().item<double>();
  if (!(norm > 0) || !std::isfinite(norm))
    throw UserError("CAV (" + o.classifier + "): the concept and random activations give no "
                    "direction; check that the two folders hold different images.");
  Cav cav;
  cav.direction = (model.weights / norm).to(torch::kFloat);
  cav.bias = model.bias / norm;
  auto predicted = (xTest.to(torch::kFloat).mv(cav.direction) + cav.bias) > 0;
  cav.heldOutAccuracy = (predicted == (yTest > 0.5)).to(torch::kDouble).mean().item<double>();
  cav.classifier = o.classifier;
  cav.shape = {positives.size(1)};
  return cav;
}

void saveCav(const Cav& cav, const std::string& stem) {
  writeNpyTensor(stem + ".npy", cav.direction.to(torch::kCPU, torch::kFloat).contiguous());
  nlohmann::json j = {{"format", "directrix-cav"}, {"version", 1},
                      {"classifier", cav.classifier}, {"bias", cav.bias}, {"shape", cav.shape},
                      {"concept", cav.concept}, {"random", cav.random},
                      {"rule", "concept where direction . x + bias > 0 (direction in " +
                                   stem.substr(stem.find_last_of('/') + 1) + ".npy)"}};
  // JSON has no NaN: an untrained direction's accuracy is null.
  j["held_out_accuracy"] = std::isnan(cav.heldOutAccuracy) ? nlohmann::json()
                                                            : nlohmann::json(cav.heldOutAccuracy);
  writeFileAtomically(stem + ".json", j.dump(2) + "\n");
}

Cav loadCav(const std::string& stem) {
  std::ifstream in(stem + ".json");
  if (!in) throw UserError(stem + ".json: no such file; save the CAV with directrix-cli tcav.");
  nlohmann::json j;
  try {
    in >> j;
    Cav cav;
    cav.classifier = j.at("classifier").get<std::string>();
    cav.bias = j.at("bias").get<double>();
    cav.shape = j.at("shape").get<std::vector<int64_t>>();
    cav.concept = j.value("concept", "");
    cav.random = j.value("random", "");
    if (!j.at("held_out_accuracy").is_null())
      cav.heldOutAccuracy = j["held_out_accuracy"].get<double>();
    cav.direction = readNpyTensor(stem + ".npy").to(torch::kFloat).flatten();
    return cav;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(stem + ".json: not a CAV file (" + std::string(e.what()) +
                    "); write it again with directrix-cli tcav.");
  }
}

}  // namespace dx

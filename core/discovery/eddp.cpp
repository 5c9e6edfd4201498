#include "discovery/eddp.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <sstream>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"
#include "discovery/eddp_lagrangian.h"
#include "discovery/eddp_losses.h"
#include "discovery/eddp_partition.h"
#include "discovery/eddp_readings.h"
#include "discovery/eddp_starts.h"
#include "discovery/group_ica_encoders.h"
#include "discovery/eddp_valley.h"
#include "discovery/degenerate_detector.h"
#include "discovery/patches.h"
#include "discovery/signal_vectors.h"
#include "base/stopwatch.h"
#include "discovery/ura.h"

namespace dx {
namespace {

// Trainable state: unit directions times magnitudes (docs/methods.md 1.2) and biases. The signal
// vectors are not free parameters but a function of the filters (see eddpPreset, stage d).
struct Parameters {
  at::Tensor directions, logMagnitudes, biases;
};

// Data-parallel fits (issue: data-parallel discovery; docs/architecture.md "Several processes").
// The passes whose cost grows with the number of images are shared out: each process reads its
// share of the images for the mean, the whitening or standardisation, the start samples, the
// coverage scores and the final signal vectors, and the sums are exact (Patches::exactSums), so
// they carry the one-process bits. The Adam steps are "replicated steps": every process reads
// the whole minibatch (256 images) from the cache, which every process sees, and takes the
// same step. A step's cost does not grow with the data (960 steps per start whatever the
// number of images), and summing per-process gradients instead rounds differently from one
// process: the balanced preset's steps amplify a 1e-7 difference to a different solution
// (measured on the demo at 2,000 images: decoders 1 rank vs 2 ranks differed by about their
// own size), so with replicated steps a fit over W processes gives the bits of one process.
struct Data {
  at::Tensor activations;  // N x C x h x w raw: float32 or float16, maybe a read-only mapping
  at::Tensor stepImages;   // the images the steps read: all of them (data-parallel: allImages)
  at::Tensor mean;         // per channel
  at::Tensor transform;    // C x r: standardised features are (x - mean) transform
  bool pooledHead = false;
  // Data-parallel: `activations` are this process's share of `images` over every process. One
  // process: null and N.
  const Reduction* reduction = nullptr;
  int64_t images = 0;
  // The adaptive preset's k-means partitions of the partition start's sample, one per restart
  // (adaptiveChoice): exactly the partitions bestPartitionStart's k-means start would compute
  // again (same sample, same seeds), so the partition preset and the refit start from them.
  std::vector<at::Tensor> kMeansStartLabels;
};

// Every process takes process 0's parameters (they decide what happens next; see
// Reduction::fromFirst). Nothing to do in one process.
void agree(Parameters& p, const Data& d) {
  if (!d.reduction) return;
  for (auto* t : {&p.directions, &p.logMagnitudes, &p.biases}) d.reduction->fromFirst(*t);
}

// Per-channel standardisation (the paper's stage a): diag(1 / sigma). The floor on sigma is
// relative to the layer's scale, so a channel that barely varies is not blown up into a unit one
// (and its raw-space weight w / sigma stays bounded).
at::Tensor channelStandardisation(const Patches& patches) {
  auto mean = patches.mean();
  auto squares = patches.exactSum(
      [&mean](const at::Tensor& x) { return (x - mean).pow(2).sum(0, false, torch::kDouble); });
  auto sigma = (squares / double(std::max<int64_t>(patches.globalRows() - 1, 1)))
                   .sqrt()
                   .to(patches.activations().device(), torch::kFloat);
  double scale = sigma.pow(2).mean().sqrt().item<double>();
  return torch::diag(1.0 / sigma.clamp_min(std::max(1e-3 * scale, 1e-12)));
}

at::Tensor orthonormalRows(const at::Tensor& v) {
  auto [q, r] = torch::linalg_qr(v.t());
  auto signs = torch::sign(r.diagonal()).clamp_min(0) * 2 - 1;  // keep each row's orientation
  return (q * signs).t();
}

at::Tensor decoders(const Parameters& p, bool orthogonal) {
  auto units = orthogonal ? orthonormalRows(p.directions)
                          : p.directions / p.directions.norm(2, {1}, true).clamp_min(1e-12);
  return p.logMagnitudes.exp().unsqueeze(1) * units;
}

// Initial detectors in standardised space (docs/methods.md 1.2, choice): unit directions from one
// of eddp_starts.h's starts, orthonormalised where the stage keeps W orthogonal, and biases halfway
// between the projections of the patches each direction claims (largest projection) and the
// rest's, so each fires on its own cluster.
Parameters initialise(const at::Tensor& sample, int concepts, const std::string& start,
                      bool orthonormal, uint64_t seed, const CancelToken& cancel) {
  auto directions = eddp::startDirections(start, sample, concepts, seed, cancel);
  auto units = orthonormal ? orthonormalRows(directions)
                           : directions / directions.norm(2, {1}, true).clamp_min(1e-12);
  auto t = sample.matmul(units.t());  // projections, P x I
  auto member = torch::nn::functional::one_hot(t.argmax(1), concepts).to(t.dtype());
  auto inMean = (t * member).sum(0) / member.sum(0).clamp_min(1);
  auto outMean = (t * (1 - member)).sum(0) / (1 - member).sum(0).clamp_min(1);
  const double magnitude = 4.0;  // sigmoid goes 0.12 -> 0.88 over half a standard deviation
  Parameters params;
  params.directions = units.clone();
  params.logMagnitudes = torch::full({concepts}, std::log(magnitude), units.options());
  params.biases = magnitude * (inMean + outMean) / 2;
  return params;
}

// Maps standardised-space detectors to raw space: w_raw = T w (w / sigma for the per-channel
// standardisation), b_raw = b + w_raw . m.
std::pair<at::Tensor, at::Tensor> toRaw(const at::Tensor& w, const at::Tensor& b, const Data& d) {
  auto wRaw = w.matmul(d.transform.t());
  return {wRaw, b + wRaw.matmul(d.mean)};
}

at::Tensor standardise(const at::Tensor& x, const Data& d) {
  return (x - d.mean).matmul(d.transform);
}

// The standardised patches, read as raw rows (gathered from the processes that hold them) and
// standardised after the read: a matrix product's rows round differently with the number of rows
// it is given (OpenBLAS), so every read standardises exactly the rows one process would, and a
// data-parallel fit keeps the one-process bits.
class StandardisedPatches {
 public:
  StandardisedPatches(const Patches& raw, const Data& data) : mRaw(raw), mData(data) {}
  int64_t globalRows() const { return mRaw.globalRows(); }
  int64_t channels() const { return mData.transform.size(1); }
  at::Tensor leading(int64_t count) const { return standardise(mRaw.leading(count), mData); }
  at::Tensor sample(int64_t most, at::Generator& gen) const {
    auto rows = eddp::sampleRows(mRaw, most, gen);
    if (mRaw.globalRows() <= most) return standardise(rows, mData);  // may be the cache's rows
    // Drawn rows are this call's own gathered copy: centred in place (the same values as
    // x - mean), two copies of the sample are alive at once instead of three (100,000 x 2,048
    // float32 patches are 0.8 GB each).
    return rows.sub_(mData.mean).matmul(mData.transform);
  }

 private:
  const Patches& mRaw;
  const Data& mData;
};

double excessiveBound(const EddpStage& s, int64_t concepts) {
  return std::min(s.rhoFactor * s.tau / double(concepts), s.maxShare);
}

struct StageRun {
  const EddpStage& stage;
  const EddpPreset& preset;
  const FitOptions& options;
  const Data& data;
  Parameters& params;
  const eddp::AugmentedLagrangian* lagrangian = nullptr;  // the constrained variant's bounds
};

// Whether the stage reads URA: it weighs it and the fit has the rest of the network.
bool readsUra(const EddpStage& s, const FitOptions& options) {
  return s.ura > 0 && bool(options.head);
}

// The stage's weight of each term, in EddpTerm's order (URA's only where there is a head).
std::vector<double> termWeights(const EddpStage& s, bool withHead) {
  return {s.sparsity, s.sparsityBound, s.maxActivation, s.maxMargin, s.inactive,
          s.excessive, s.filterSignal, s.kurtosis, withHead ? s.ura : 0.0};
}

// The constrained variant's bounds as eddp_lagrangian.h takes them.
std::vector<eddp::Bound> boundsOf(const EddpStage& s) {
  std::vector<eddp::Bound> bounds;
  for (const auto& c : s.constraints) bounds.push_back({size_t(c.term), c.most});
  return bounds;
}

// One minibatch: its images (indices among every image), each with URA's kappa.
struct Batch {
  at::Tensor images;      // on the step images' device, in batch order
  at::Tensor kappa;       // URA's kappa for each of them
  int64_t uraImages = 0;  // URA reads the batch's first uraImages images
};

Batch batchOf(const Data& d, const at::Tensor& images, const at::Tensor& kappa) {
  auto device = d.stepImages.device();
  // Every image when the head pools globally (cheap), else the first 32.
  int64_t ura = d.pooledHead ? images.size(0) : std::min<int64_t>(images.size(0), 32);
  return {images.to(device), kappa.to(device), ura};
}

// URA on the batch's first images (docs/methods.md 1.4).
at::Tensor batchUra(StageRun& run, const Batch& batch, const at::Tensor& a,
                    const at::Tensor& w, const at::Tensor& b, const at::Tensor& encoders) {
  const EddpStage& s = run.stage;
  auto [wRaw, bRaw] = s.standardised ? toRaw(w, b, run.data) : std::make_pair(w, b);
  auto head = run.options.head.rows(batch.images.slice(0, 0, batch.uraImages));
  return eddp::uraLoss(head, a.slice(0, 0, batch.uraImages), run.data.pooledHead, wRaw, bRaw,
                       encoders, batch.kappa.slice(0, 0, batch.uraImages));
}

// The batch's loss and each term's value (`terms`, in describe()'s order).
at::Tensor batchLoss(StageRun& run, const Batch& batch, std::vector<double>& terms) {
  const EddpStage& s = run.stage;
  // Only this batch's images are read (from a mapped cache, its pages alone).
  auto a = run.data.stepImages.index_select(0, batch.images)
               .to(run.data.activations.device(), torch::kFloat);
  auto w = decoders(run.params, s.orthogonal);
  auto b = run.params.biases;
  // Wide layers read the detectors straight from the batch and form the patches only for the
  // terms that read them (eddp_readings.h).
  auto [logits, x] = s.standardised
                         ? eddp::detectorLogits(a, w, b, run.data.mean, run.data.transform)
                         : eddp::detectorLogits(a, w, b, at::Tensor(), at::Tensor());
  if (!x.defined() && (s.constrained || s.kurtosis > 0))
    x = s.standardised ? standardise(patchesOf(a), run.data) : patchesOf(a);
  // S of stage d: stage c's positives-only estimator on this batch, differentiable in W.
  at::Tensor signals;
  if (s.constrained) signals = eddp::batchSignalVectors(x, w, b);
  auto y = torch::sigmoid(logits);
  int64_t i = w.size(0);
  double gamma = run.preset.gamma;
  auto none = torch::zeros({}, y.options());
  bool withHead = readsUra(s, run.options);
  auto weights = termWeights(s, withHead);
  auto encoders = s.constrained ? signals : at::Tensor();
  std::vector<at::Tensor> values = {  // EddpTerm's order
      eddp::sparsityLoss(y),
      eddp::sparsityBoundLoss(y),
      eddp::maxActivationLoss(y),
      eddp::maxMarginLoss(w),
      eddp::inactiveClassifierLoss(y, s.tau, gamma),
      eddp::excessivelyActiveLoss(y, excessiveBound(s, i), gamma),
      signals.defined() ? eddp::filterSignalOrthogonality(w, signals) : none,
      s.kurtosis > 0 ? eddp::positiveKurtosisLoss(x, w, b) : none,
      withHead ? batchUra(run, batch, a, w, b, encoders) : none};
  auto total = torch::zeros({}, y.options());
  terms.assign(values.size(), 0.0);
  for (size_t t = 0; t < values.size(); ++t) {
    if (weights[t] != 0) total = total + weights[t] * values[t];
    terms[t] = values[t].item<double>();
  }
  if (run.lagrangian) total = total + run.lagrangian->penalty(values);
  return total;
}

std::string describe(const std::string& stage, int epoch, double loss,
                     const std::vector<double>& terms) {
  static const char* names[] = {"s", "sb", "ma", "mm", "ic", "eac", "fso", "kurt", "ura"};
  std::ostringstream o;
  o.precision(3);
  o << "eddp stage " << stage << " epoch " << epoch << ": loss " << loss << " (";
  for (size_t t = 0; t < terms.size(); ++t) o << (t ? " " : "") << names[t] << " " << terms[t];
  o << ")";
  return o.str();
}

Parameters snapshot(const Parameters& p) {
  return {p.directions.detach().clone(), p.logMagnitudes.detach().clone(),
          p.biases.detach().clone()};
}

void restore(Parameters& p, const Parameters& best) {
  torch::NoGradGuard noGrad;
  p.directions.copy_(best.directions);
  p.logMagnitudes.copy_(best.logMagnitudes);
  p.biases.copy_(best.biases);
}

std::vector<at::Tensor> trainable(Parameters& p) {
  std::vector<at::Tensor> list{p.directions, p.logMagnitudes, p.biases};
  for (auto& t : list) t.requires_grad_(true);
  return list;
}

// Data-parallel: whether any process was cancelled (one small sum), so that every process stops
// at the same batch instead of some waiting for one that stopped.
bool anyCancelled(const StageRun& run) {
  if (!run.data.reduction) return run.options.cancel.cancelled();
  auto flag = torch::tensor({run.options.cancel.cancelled() ? 1.0 : 0.0}, torch::kDouble);
  run.data.reduction->sum(flag);
  return flag.item<double>() > 0;
}

// Process 0's `value` on every process (itself in one process).
double agreed(double value, const Data& d) {
  if (!d.reduction) return value;
  auto t = torch::tensor({value}, torch::kDouble);
  d.reduction->fromFirst(t);
  return t.item<double>();
}

// Data-parallel: every process takes process 0's epoch loss and terms, so that all decide the
// schedule alike even where their replicated sums round differently.
void agreeOnEpoch(const Data& d, double& loss, std::vector<double>& terms) {
  if (!d.reduction) return;
  std::vector<double> values{loss};
  values.insert(values.end(), terms.begin(), terms.end());
  auto t = torch::tensor(values, torch::kDouble);
  d.reduction->fromFirst(t);
  loss = t[0].item<double>();
  for (size_t k = 0; k < terms.size(); ++k) terms[k] = t[int64_t(k) + 1].item<double>();
}

// How an epoch stands: its loss, or under the constrained variant its objective and how far it
// breaks the bounds (eddp_lagrangian.h; within the bounds always beats outside them).
eddp::Merit epochMerit(const EddpStage& s, const eddp::AugmentedLagrangian& lagrangian,
                       bool withHead, double epochLoss, const std::vector<double>& terms) {
  if (!lagrangian.active()) return {0.0, epochLoss};
  auto weights = termWeights(s, withHead);
  double objective = 0;
  for (size_t t = 0; t < terms.size(); ++t) objective += weights[t] * terms[t];
  return lagrangian.merit(terms, objective);
}

// Runs one stage and leaves the parameters at its best epoch (lowest epoch loss, or the
// constrained variant's best merit); returns that loss (the constrained variant: its objective
// plus 1000 times its relative excess over the bounds). A loss that is not finite ends the fit
// with a UserError: nothing is returned or saved.
double runStage(StageRun run, uint64_t seed) {
  const EddpStage& s = run.stage;
  auto params = trainable(run.params);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(s.lr));
  auto gen = at::detail::createCPUGenerator(seed);
  int64_t n = run.data.images;  // over every process: every process draws the same batches
  eddp::AugmentedLagrangian lagrangian(boundsOf(s), s.penaltyGrowth);
  if (lagrangian.active()) run.lagrangian = &lagrangian;
  const bool withHead = readsUra(s, run.options);
  eddp::Merit best, kept;  // the last epoch that improved by 1e-4; the epoch whose state is kept
  double lr = s.lr;
  int sinceBest = 0, sincePlateau = 0;
  Parameters bestParams = snapshot(run.params);
  Stopwatch clock;
  int64_t batchesPerEpoch = (n + run.preset.batchImages - 1) / run.preset.batchImages;
  int epochs = s.epochs;
  if (run.preset.maxSteps > 0)  // large data: the same number of steps, fewer epochs
    epochs = int(std::min<int64_t>(epochs, std::max<int64_t>(
                                               1, (run.preset.maxSteps + batchesPerEpoch - 1) /
                                                      batchesPerEpoch)));
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    auto order = torch::randperm(n, gen);
    std::vector<double> terms;
    double epochLoss = 0;
    int batches = 0;
    for (int64_t start = 0; start < n; start += run.preset.batchImages, ++batches) {
      // Data-parallel: asked every 16 batches (a message each), in one process every batch.
      if ((!run.data.reduction || batches % 16 == 0) && anyCancelled(run)) throw Cancelled();
      auto images = order.slice(0, start, std::min(n, start + run.preset.batchImages));
      auto kappa = torch::empty({images.size(0)}).uniform_(0.5, 0.9, gen);
      adam.zero_grad();
      std::vector<double> batchTerms;
      auto loss = batchLoss(run, batchOf(run.data, images, kappa), batchTerms);
      double value = loss.item<double>();
      if (!std::isfinite(value))
        throw UserError("EDDP stage " + s.name + ", epoch " + std::to_string(epoch) +
                        ": the loss became " + (std::isnan(value) ? "NaN" : "infinite") +
                        "; nothing was saved. Check the activations for NaN or extreme values, "
                        "or use fewer concepts.");
      loss.backward();
      adam.step();
      epochLoss += value;
      terms.resize(batchTerms.size());
      for (size_t t = 0; t < batchTerms.size(); ++t) terms[t] += batchTerms[t];
    }
    epochLoss /= std::max(1, batches);
    for (auto& t : terms) t /= std::max(1, batches);
    agreeOnEpoch(run.data, epochLoss, terms);
    if (run.options.progress) {
      auto p = clock.progress(describe(s.name, epoch, epochLoss, terms), epoch, epochs);
      run.options.progress(p);
    }
    auto merit = epochMerit(s, lagrangian, withHead, epochLoss, terms);
    if (lagrangian.active()) lagrangian.record(terms, batches);
    if (eddp::better(merit, kept, 0)) kept = merit, bestParams = snapshot(run.params);
    if (s.fixedSchedule) continue;
    if (eddp::better(merit, best, 1e-4)) {
      best = merit;
      sinceBest = sincePlateau = 0;
    } else {
      if (++sincePlateau >= run.preset.plateauPatience) {  // reduce-on-plateau x0.5
        lr *= 0.5;
        for (auto& group : adam.param_groups())
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
        sincePlateau = 0;
      }
      // Early stopping, counting only epochs within the bounds (every epoch of an unconstrained
      // stage): outside them the multipliers are still growing; stopping there ended stage d on
      // synthetic pairs (I = 3, D = 16) after 271 of 20,000 epochs, L_mm at 13 against its 8.
      if (merit.violation <= 0 && ++sinceBest >= run.preset.stopPatience) break;
    }
  }
  for (auto& t : params) t.requires_grad_(false);
  restore(run.params, bestParams);
  agree(run.params, run.data);
  return kept.objective + 1000 * kept.violation;
}

// After stage a: raw space, free directions.
void leaveStandardisedSpace(Parameters& p, const Data& d, bool wasOrthogonal) {
  torch::NoGradGuard noGrad;
  auto [wRaw, bRaw] = toRaw(decoders(p, wasOrthogonal), p.biases, d);
  auto norms = wRaw.norm(2, {1}, true).clamp_min(1e-12);
  p.directions = (wRaw / norms).detach().clone();
  p.logMagnitudes = norms.squeeze(1).log().detach().clone();
  p.biases = bRaw.detach().clone();
}

// Up to `most` standardised patches drawn at random (seeded, alike in every process) to judge a
// partition on. Not the leading patches: a cache lists its images in folder order, often class by
// class, so its first 50,000 patches (about 1,000 images at 7 x 7) may show a few classes only.
at::Tensor judgedSample(const StandardisedPatches& standardised, int64_t most, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed + 104729);  // apart from the restarts' seeds
  return standardised.sample(most, gen);
}

// How well a trained start partitions the patches `x` (judgedSample), by the stage's own
// clustering terms alone (sparsity, sparsity bound, maximum activation, inactive and excessive
// activity, with the stage's weights). The margin and URA terms are left out: the margin is a
// norm of W whose scale differs between starts (a start reached through large magnitudes is not
// a worse partition), and URA judges the head, not the partition.
double coverageScore(const EddpStage& s, const Parameters& p, const at::Tensor& x, double gamma) {
  torch::NoGradGuard noGrad;
  auto y = torch::sigmoid(x.matmul(decoders(p, s.orthogonal).t()) - p.biases);
  auto i = y.size(1);
  auto score = s.sparsity * eddp::sparsityLoss(y) + s.sparsityBound * eddp::sparsityBoundLoss(y) +
               s.maxActivation * eddp::maxActivationLoss(y) +
               s.inactive * eddp::inactiveClassifierLoss(y, s.tau, gamma) +
               s.excessive * eddp::excessivelyActiveLoss(y, excessiveBound(s, i), gamma);
  return score.item<double>();
}

// Points detector `i` along `unit` (standardised space) at magnitude `magnitude`, its bias
// halfway between the mean projection of `members` (a mask over the sample) and the rest's.
void placeDetector(Parameters& p, int64_t i, const at::Tensor& unit, double magnitude,
                   const at::Tensor& sample, const at::Tensor& members) {
  torch::NoGradGuard noGrad;
  auto t = sample.matmul(unit);
  auto in = t.masked_select(members).mean(), out = t.masked_select(~members).mean();
  p.directions[i].copy_(unit);
  p.logMagnitudes[i].fill_(std::log(magnitude));
  p.biases[i].copy_(magnitude * (in + out) / 2);
}

// A detector to re-seed, or -1: one that fires on under a tenth of its fair share 1/I (dead),
// else the smaller of the two detectors that overlap most, when more than half of the smaller's
// positives are also the other's (a duplicate).
int64_t detectorToReseed(const at::Tensor& fires, const at::Tensor& shares) {
  int64_t concepts = shares.size(0);
  auto dead = shares.argmin().item<int64_t>();
  if (shares[dead].item<double>() < 0.1 / double(concepts)) return dead;
  auto f = fires.to(torch::kFloat);
  auto counts = f.sum(0);
  auto overlap = f.t().matmul(f) / torch::min(counts.unsqueeze(0), counts.unsqueeze(1)).clamp_min(1);
  overlap.fill_diagonal_(0);
  auto flat = overlap.argmax().item<int64_t>();
  int64_t i = flat / concepts, j = flat % concepts;
  if (overlap[i][j].item<double>() <= 0.5) return -1;
  return shares[i].item<double>() < shares[j].item<double>() ? i : j;
}

// Re-seeds dead and duplicate detectors (choice of the balanced preset; docs/methods.md 1.2's
// losses do not move a detector out of a local minimum of the partition): the detector that claims
// the most patches, when it claims over 1.5 times the median share (likely two concepts), is split
// by 2-means of its positives, and the re-seeded detector takes one half. Returns how many were
// re-seeded; the caller trains the stage again from there.
int reseedDetectors(Parameters& p, const EddpStage& s, const StandardisedPatches& standardised,
                    uint64_t seed, const CancelToken& cancel) {
  torch::NoGradGuard noGrad;
  auto sample = judgedSample(standardised, 100000, seed);
  int reseeded = 0;
  for (int64_t concepts = p.biases.size(0); reseeded < concepts / 4 + 1;) {
    auto fires = sample.matmul(decoders(p, s.orthogonal).t()) - p.biases > 0;  // P x I
    auto shares = fires.to(torch::kDouble).mean(0);
    int64_t target = detectorToReseed(fires, shares);
    if (target < 0) break;
    auto others = shares.clone();
    others[target] = -1;
    int64_t big = others.argmax().item<int64_t>();
    if (shares[big].item<double>() <= 1.5 * shares.median().item<double>()) break;
    auto members = fires.select(1, big);
    auto [first, second] =
        eddp::splitDirections(sample.index({members}), seed + uint64_t(reseeded), cancel);
    double magnitude = p.logMagnitudes[big].exp().item<double>();
    auto nearerFirst = sample.matmul(first) > sample.matmul(second);
    auto half = (members & nearerFirst).sum().item<int64_t>();
    if (half < 2 || members.sum().item<int64_t>() - half < 2) break;
    placeDetector(p, big, first, magnitude, sample, members & nearerFirst);
    placeDetector(p, target, second, magnitude, sample, members & ~nearerFirst);
    ++reseeded;
  }
  return reseeded;
}

// Each k-means start of the partition preset keeps the lowest-inertia of this many runs
// (docs/concept-discovery.md "A weaker penalty on the partition's detectors", last paragraph):
// with few concepts among many distractors a run may cut along a distractor, and 3 starts of one
// run each could all do so (uniform I = 3, D = 64, F = 8, seed 1: worst IoU 0.48 from the ICA
// start; 5 runs found the concepts' partition, 0.997). Five runs make the k-means starts 5x
// dearer. The adaptive preset's kMeansAgreement compares these same starts (engine version 10;
// it compared single runs before, which cut along distractors from some seeds at I = 3-4 where
// the best-of-5 starts agree:
// docs/concept-discovery.md "Agreement of the partition's own starts").
constexpr int kPartitionKMeansRuns = 5;

// The partition preset's start (eddp_partition.h): every start's partition of up to 100,000
// standardised patches, turned into one-vs-rest logistic detectors; the partition those
// detectors reproduce best is kept, and its detectors start the stage. `report`: name the
// winning start in the progress (process 0 only: its detectors are the ones every process keeps).
Parameters bestPartitionStart(const EddpPreset& preset, const FitOptions& options,
                              const StandardisedPatches& standardised,
                              const std::vector<at::Tensor>& kMeansLabels, bool report) {
  auto gen = at::detail::createCPUGenerator(options.seed);
  auto sample = standardised.sample(100000, gen);
  eddp::LinearDetectors best;
  best.unexplained = INFINITY;
  std::string bestStart;
  for (const auto& start : preset.starts)
    for (int restart = 0; restart < std::max(1, preset.restarts); ++restart) {
      uint64_t seed = options.seed + 7919 * uint64_t(restart);
      bool known = start == "kmeans" && restart < int(kMeansLabels.size());
      auto labels = known ? kMeansLabels[size_t(restart)]
                          : eddp::startLabels(start, sample, options.concepts, seed,
                                              options.cancel, kPartitionKMeansRuns);
      auto detectors = eddp::fitOneVsRest(sample, labels, options.concepts, seed, options.cancel);
      if (detectors.unexplained < best.unexplained) {
        best = detectors;
        bestStart = start;
      }
    }
  if (report && options.progress) {
    std::ostringstream stage;
    stage.precision(3);
    stage << std::fixed << "partition: the " << bestStart << " start's detectors leave "
          << best.unexplained << " of its labels unexplained";
    options.progress(Progress{stage.str(), 1, 1});
  }
  auto norms = best.weights.norm(2, {1}, true).clamp_min(1e-12);
  Parameters params;
  params.directions = (best.weights / norms).contiguous();
  params.logMagnitudes = norms.squeeze(1).log();
  params.biases = best.biases.clone();
  return params;
}

// The ica-valley preset's detectors (eddp_valley.h): the preset's start directions (ICA) from up
// to 100,000 standardised patches, each thresholded at the deepest valley of its reading, or,
// where its smoothed density only falls, halfway between the patches its direction claims and
// the rest (valleyThresholds).
Parameters valleyStart(const EddpPreset& preset, const FitOptions& options,
                       const StandardisedPatches& standardised) {
  auto gen = at::detail::createCPUGenerator(options.seed);
  auto sample = standardised.sample(100000, gen);
  auto params = initialise(sample, options.concepts, preset.starts.front(), false, options.seed,
                           options.cancel);
  auto thresholds = eddp::valleyThresholds(sample.matmul(params.directions.t()));
  params.biases = params.logMagnitudes.exp() * thresholds;
  return params;
}

struct Start {
  Parameters params;
  uint64_t restart = 0;
};

struct StartPlan {
  std::string kind;
  int restart = 0;
};

// Data-parallel: whether any process failed its start (or its part of the adaptive preset's
// choice); every process stops alike (the one that failed with its own error, the others naming
// it) instead of waiting for it at the next sum.
void agreeOnStartFailures(const Reduction& reduction, const std::exception_ptr& failure,
                          bool cancelled) {
  auto status = torch::zeros({reduction.parts()}, torch::kDouble);
  status[reduction.part()] = cancelled ? 1.0 : failure ? 2.0 : 0.0;
  reduction.sum(status);
  if (failure) std::rethrow_exception(failure);
  for (int k = 0; k < reduction.parts(); ++k) {
    if (status[k].item<double>() == 1.0) throw Cancelled();
    if (status[k].item<double>() == 2.0)
      throw UserError("EDDP: process " + std::to_string(k) + " failed while computing a start, "
                      "the adaptive preset's choice or its ICA encoders; its message says why.");
  }
}

// Every start of the preset from every restart's seed, in order. Data-parallel, the starts go in
// rounds of W: every process draws the round's samples (each gathered from the processes that
// hold its rows), process k runs the round's k-th start (k-means or ICA) on its sample alone, and
// each result is shared from its process, so the starts run side by side.
std::vector<Start> initialStarts(const EddpPreset& preset, const FitOptions& options,
                                 const Data& data, const StandardisedPatches& standardised,
                                 bool orthonormal) {
  std::vector<StartPlan> plans;
  for (const auto& kind : preset.starts)
    for (int restart = 0; restart < std::max(1, preset.restarts); ++restart)
      plans.push_back({kind, restart});
  const int parts = data.reduction ? data.reduction->parts() : 1;
  const int part = data.reduction ? data.reduction->part() : 0;
  auto seedOf = [&](const StartPlan& plan) { return options.seed + 7919 * uint64_t(plan.restart); };
  std::vector<Start> starts;
  for (size_t round = 0; round < plans.size(); round += size_t(parts)) {
    const size_t inRound = std::min(plans.size() - round, size_t(parts));
    at::Tensor sample;
    at::TensorOptions o;
    for (size_t k = 0; k < inRound; ++k) {  // every process takes part in every draw
      auto gen = at::detail::createCPUGenerator(seedOf(plans[round + k]));
      auto drawn = standardised.sample(100000, gen);
      o = drawn.options();
      if (int(k) == part) sample = drawn;
    }
    Parameters own;
    std::exception_ptr failure;
    bool cancelled = false;
    if (sample.defined()) {
      const StartPlan& plan = plans[round + size_t(part)];
      try {
        own = initialise(sample, options.concepts, plan.kind, orthonormal, seedOf(plan),
                         options.cancel);
      } catch (const Cancelled&) {
        failure = std::current_exception(), cancelled = true;
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (!data.reduction) {
      if (failure) std::rethrow_exception(failure);
      starts.push_back({own, uint64_t(plans[round].restart)});
      continue;
    }
    agreeOnStartFailures(*data.reduction, failure, cancelled);
    for (size_t k = 0; k < inRound; ++k) {
      Parameters p = int(k) == part ? own
                                    : Parameters{torch::zeros({options.concepts, standardised.channels()}, o),
                                                 torch::zeros({options.concepts}, o),
                                                 torch::zeros({options.concepts}, o)};
      for (auto* t : {&p.directions, &p.logMagnitudes, &p.biases})
        data.reduction->fromPart(*t, int(k));
      starts.push_back({p, uint64_t(plans[round + k].restart)});
    }
  }
  return starts;
}

// Stage a from every start of the preset, each from several seeds, keeping the run with the
// lowest loss (or coverageScore): from some seeds k-means finds a partition that training cannot
// repair (synthetic data, seeds 1 and 3), and a poor partition ends with a visibly higher loss.
// Then the preset's rounds of re-seeding, each followed by the stage once more.
Parameters bestStageA(EddpStage s, const EddpPreset& preset, const FitOptions& options,
                      const Data& data, const Patches& patches, uint64_t seed) {
  s.orthogonal = s.orthogonal && options.concepts <= data.transform.size(1);
  StandardisedPatches standardised(patches, data);
  Parameters best;
  double bestLoss = INFINITY;
  bool orthonormal = options.concepts <= standardised.channels() && (s.orthogonal || !s.whitened);
  if (preset.valleyThresholds) {
    best = valleyStart(preset, options, standardised);
    agree(best, data);
    return best;
  }
  if (preset.partitionStarts) {
    best = bestPartitionStart(preset, options, standardised, data.kMeansStartLabels,
                              !data.reduction || data.reduction->part() == 0);
    agree(best, data);
    torch::AutoGradMode enable(true);
    runStage({s, preset, options, data, best}, seed);
  } else {
    auto starts = initialStarts(preset, options, data, standardised, orthonormal);
    // Every start is judged on the same patches.
    at::Tensor judged = preset.scoreStartsByCoverage ? judgedSample(standardised, 50000, seed)
                                                     : at::Tensor();
    for (size_t j = 0; j < starts.size(); ++j) {
      Parameters& p = starts[j].params;
      torch::AutoGradMode enable(true);
      double loss = runStage({s, preset, options, data, p}, seed + 7919 * starts[j].restart);
      if (preset.scoreStartsByCoverage)
        loss = agreed(coverageScore(s, p, judged, preset.gamma), data);
      if (loss < bestLoss) bestLoss = loss, best = p;
    }
  }
  for (int round = 0; round < preset.reseedRounds; ++round) {
    int reseeded = reseedDetectors(best, s, standardised, seed + 31 * uint64_t(round),
                                   options.cancel);
    agree(best, data);
    if (agreed(reseeded, data) == 0) break;
    torch::AutoGradMode enable(true);
    runStage({s, preset, options, data, best}, seed + 31 * uint64_t(round));
  }
  return best;
}

// Runs `measure` on this process; data-parallel, every process then learns whether any failed
// or was cancelled (agreeOnStartFailures) before the sums that share the result, so none waits
// at a sum for a process that stopped.
void measureAlike(const Data& data, const std::function<void()>& measure) {
  std::exception_ptr failure;
  bool cancelled = false;
  try {
    measure();
  } catch (const Cancelled&) {
    failure = std::current_exception(), cancelled = true;
  } catch (...) {
    failure = std::current_exception();
  }
  if (data.reduction) agreeOnStartFailures(*data.reduction, failure, cancelled);
  else if (failure) std::rethrow_exception(failure);
}

// Encoders by ICA within firing groups (group_ica_encoders.h) on a sample of at most 16,000
// patches, the same on every process (sampleRows draws from all; process 0's result is shared).
// `choice` records the single-firing share and which detectors took ICA encoders.
at::Tensor groupIcaSignals(const FitOptions& options, const Data& data, const Patches& patches,
                           const ConceptBasis& basis, const at::Tensor& positivesOnly,
                           FitChoice& choice) {
  auto gen = at::detail::createCPUGenerator(options.seed + 97);
  auto sample = eddp::sampleRows(patches, 16000, gen);
  eddp::GroupIcaEncoders refined;
  measureAlike(data, [&] {
    refined = eddp::groupIcaEncoders(sample, basis.decoders, basis.biases, positivesOnly,
                                     options.seed, options.cancel);
  });
  auto signals = refined.encoders;
  auto accepted = torch::tensor(std::vector<double>(refined.accepted.begin(),
                                                    refined.accepted.end()),
                                torch::kDouble);
  if (data.reduction) patches.fromFirst(signals), patches.fromFirst(accepted);
  choice.singleFiring = agreed(refined.singleFiring, data);  // all process 0's
  choice.singleFiringThreshold = refined.singleFiringThreshold;
  auto skipped = eddp::IcaSkip(int(agreed(double(int(refined.skipped)), data)));
  choice.icaSkipped = eddp::icaSkipReason(skipped);
  choice.icaEncoders.clear();
  for (int i = 0; i < int(accepted.size(0)); ++i)
    if (accepted[i].item<double>() > 0.5) choice.icaEncoders.push_back(i);
  std::ostringstream stage;
  stage.precision(3);
  stage << std::fixed << "encoders: " << choice.singleFiring
        << " of the patches fire exactly one detector";
  if (!choice.icaSkipped.empty())
    stage << "; positives-only: " << choice.icaSkipped;
  else
    stage << "; ICA within firing groups for " << choice.icaEncoders.size() << " of "
          << basis.concepts() << " detectors, positives-only for the rest";
  if (options.progress) options.progress(Progress{stage.str(), 1, 1});
  return signals;
}

// The adaptive preset's choice (eddp.h): partition where k-means' partitions of the standardised
// patches agree across its starts; else ica-valley where its detectors are repeatable and leave
// patches unclaimed; balanced elsewhere. Judged on the sample bestPartitionStart and valleyStart
// draw with the same seeds, so the preset chosen sees the data its choice saw.
EddpPreset adaptiveChoice(const EddpPreset& adaptive, const FitOptions& options, Data& data,
                          const Patches& patches, FitChoice& choice) {
  auto gen = at::detail::createCPUGenerator(options.seed);
  auto sample = StandardisedPatches(patches, data).sample(100000, gen);
  const int restarts = eddpPreset("partition").restarts;
  double ownAgreement = 0;
  measureAlike(data, [&] {
    ownAgreement =
        eddp::kMeansAgreement(sample, options.concepts, options.seed, restarts,
                              kPartitionKMeansRuns, options.cancel, &data.kMeansStartLabels);
  });
  choice.agreement = agreed(ownAgreement, data);  // process 0's, so every process fits alike
  choice.threshold = adaptive.partitionAgreement;
  std::ostringstream stage;
  stage.precision(3);
  stage << std::fixed << "adaptive: k-means partitions agree " << choice.agreement;
  if (choice.agreement >= adaptive.partitionAgreement) {
    choice.preset = "partition";
    stage << " >= " << adaptive.partitionAgreement;
  } else {
    stage << " < " << adaptive.partitionAgreement;
    eddp::ValleyRepeatability valley;
    measureAlike(data, [&] {
      valley = eddp::valleyRepeatability(sample, options.concepts, options.seed, options.cancel);
    });
    choice.valleyAgreement = agreed(valley.agreement, data);
    choice.unclaimed = agreed(valley.unclaimed, data);
    choice.valleyThreshold = adaptive.valleyAgreement;
    choice.unclaimedThreshold = adaptive.valleyUnclaimed;
    bool repeatable = choice.valleyAgreement >= adaptive.valleyAgreement;
    bool unclaimed = choice.unclaimed >= adaptive.valleyUnclaimed;
    choice.preset = repeatable && unclaimed ? "ica-valley" : "balanced";
    stage << "; ica-valley detectors of two halves agree " << choice.valleyAgreement
          << (repeatable ? " >= " : " < ") << adaptive.valleyAgreement << " and leave "
          << choice.unclaimed << (unclaimed ? " >= " : " < ") << adaptive.valleyUnclaimed
          << " of the patches unclaimed";
  }
  stage << ", fitting " << choice.preset;
  if (options.progress) options.progress(Progress{stage.str(), 1, 1});
  return eddpPreset(choice.preset);
}

// The detectors of one preset's stages (docs/methods.md 1.5) in the raw activation space:
// decoders I x C and biases I.
std::pair<at::Tensor, at::Tensor> fitDetectors(const EddpPreset& preset, const FitOptions& options,
                                               const Data& data, const Patches& patches) {
  bool canOrthogonalise = options.concepts <= data.transform.size(1);
  bool firstOrthogonal = canOrthogonalise && preset.stages.front().orthogonal;
  Parameters params;
  bool inStandardisedSpace = true;
  uint64_t stageSeed = options.seed;
  for (const EddpStage& stage : preset.stages) {
    EddpStage s = stage;
    if (&stage == &preset.stages.front()) {  // stage a, from several initialisations
      params = bestStageA(s, preset, options, data, patches, stageSeed++);
      continue;
    }
    s.orthogonal = s.orthogonal && canOrthogonalise;
    if (inStandardisedSpace && !s.standardised) {
      leaveStandardisedSpace(params, data, firstOrthogonal);
      inStandardisedSpace = false;
    }
    torch::AutoGradMode enable(true);
    runStage({s, preset, options, data, params}, ++stageSeed);
  }
  if (inStandardisedSpace) leaveStandardisedSpace(params, data, firstOrthogonal);
  return {decoders(params, false).detach(), params.biases.detach().clone()};
}

// Where the adaptive preset ran balanced and a detector came out degenerate (a catch-all on
// more than half of the patches, or one that never fires: the collapse the balanced preset still
// shows at small I among many distractors, docs/concept-discovery.md "The adaptive preset"), the
// partition preset is fitted as well and taken where none of its detectors is degenerate, with
// its own signal vectors. Shares are the signal vectors' positive counts over every patch of every
// process (the same on each) divided by the patches.
void partitionWhereDegenerate(const FitOptions& options, const Data& data, const Patches& patches,
                              FitChoice& choice, at::Tensor& w, at::Tensor& b, at::Tensor& signals,
                              const at::Tensor& positives) {
  double rows = double(patches.globalRows());
  auto shares = positives / rows;
  int worst = eddp::degenerateDetector(shares);
  if (worst < 0) return;
  choice.degenerateDetector = worst;
  choice.degenerateShare = shares[worst].item<double>();
  auto [pw, pb] = fitDetectors(eddpPreset("partition"), options, data, patches);
  at::Tensor partitionPositives;
  auto partitionSignals = eddp::positiveSignalVectors(patches, pw, pb, &partitionPositives);
  auto partitionShares = partitionPositives / rows;
  choice.partitionTaken = eddp::degenerateDetector(partitionShares) < 0;
  std::ostringstream stage;
  stage.precision(3);
  stage << std::fixed << "adaptive: balanced's detector " << worst << " fires on "
        << choice.degenerateShare << " of the patches (degenerate); partition's detectors fire on "
        << partitionShares.min().item<double>() << "-" << partitionShares.max().item<double>()
        << (choice.partitionTaken ? ", taking partition" : ", keeping balanced");
  if (options.progress) options.progress(Progress{stage.str(), 1, 1});
  if (!choice.partitionTaken) return;
  choice.preset = "partition";
  w = pw, b = pb, signals = partitionSignals;
}

class EddpMethod : public ConceptMethod {
 public:
  std::string name() const override { return "eddp"; }
  std::string decoderMeaning() const override {
    return "the detector hyperplane learnt by directional clustering with URA (w_i . x > b_i "
           "where concept i is present)";
  }
  std::string encoderMeaning() const override {
    return "the concept's signal vector: how one unit of the concept's latent factor changes "
           "the activations (w_i . s_i = 1), estimated on the positives of the final detectors "
           "(adaptive preset: by ICA within groups of patches that fire the same detectors, "
           "where that is stable)";
  }

  bool dataParallel() const override { return true; }

  ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const override {
    if (!options.parallel.active()) checkActivations(activations, options.concepts, name());
    torch::NoGradGuard noGrad;
    EddpPreset preset = eddpPreset(options.preset);
    // One intra-op thread for small batches: waking a second thread for each of the many small
    // ops cost more than it saved (quick preset on the demo: 44 s -> 33 s on 2 cores).
    // OpenBLAS on one thread too: its products then round alike at any thread or process count
    // (the exact data-parallel fit, README "Several processes, GPUs and clusters").
    auto serial = preset.batchImages <= 256
                      ? std::make_unique<baselines::SerialTorch>(baselines::SerialTorch::Blas::Pin)
                      : nullptr;
    Data data;
    data.activations = activations;
    data.stepImages = options.parallel.active() ? options.parallel.allImages : activations;
    if (options.parallel.active() && (!data.stepImages.defined() ||
                                      data.stepImages.size(0) != options.parallel.images))
      throw UserError("EDDP over several processes reads its minibatches from every image: "
                      "give the whole cache as the data-parallel options' allImages.");
    // Data-parallel: this process's share of every image (Data); checked over all.
    Patches patches = options.parallel.active()
                          ? baselines::checkedPatches(activations, options, name())
                          : Patches(activations, options.keepPatchesBytes, options.patchBlockRows);
    data.reduction = patches.reduction();
    data.images = options.parallel.active() ? options.parallel.images : activations.size(0);
    data.mean = patches.mean();
    data.transform = preset.stages.front().whitened ? eddp::pcaWhitening(patches)
                                                    : channelStandardisation(patches);
    if (data.reduction) {  // an eigenbasis: every process must hold process 0's
      auto width = int64_t(agreed(double(data.transform.size(1)), data));
      if (data.transform.size(1) != width)  // its rank cut fell elsewhere: take process 0's
        data.transform = torch::zeros({data.transform.size(0), width}, data.transform.options());
      patches.fromFirst(data.transform);
    }
    FitChoice choice;
    if (preset.partitionAgreement > 0) {
      bool icaEncoders = preset.groupIcaEncoders;
      preset = adaptiveChoice(preset, options, data, patches, choice);
      preset.groupIcaEncoders = icaEncoders;
    }
    if (options.head) {
      int64_t probe = std::min<int64_t>(4, data.stepImages.size(0));
      auto first = data.stepImages.slice(0, 0, probe).to(torch::kFloat).clone();
      data.pooledHead = !options.head.hasContext() &&
                        eddp::headPoolsGlobally(options.head.rows(0, probe), first);
    }
    auto [w, b] = fitDetectors(preset, options, data, patches);
    // Encoders: the same estimator on every patch, for the final filters (docs/methods.md 1.3);
    // its positive counts also show whether balanced left a degenerate detector.
    at::Tensor positives;
    auto signals = eddp::positiveSignalVectors(patches, w, b, &positives);
    if (choice.preset == "balanced")
      partitionWhereDegenerate(options, data, patches, choice, w, b, signals, positives);
    ConceptBasis basis;
    basis.method = name();
    basis.choice = choice;
    basis.decoders = w;
    basis.biases = b;
    if (preset.groupIcaEncoders)
      signals = groupIcaSignals(options, data, patches, basis, signals, basis.choice);
    // Rescale so that w_i . s_i = 1 (docs/methods.md 1.1).
    auto dots = (basis.decoders * signals).sum(1, true);
    basis.encoders = signals / torch::where(dots.abs() > 1e-12, dots, torch::ones_like(dots));
    return basis;
  }
};

}  // namespace

std::unique_ptr<ConceptMethod> makeEddpMethod() { return std::make_unique<EddpMethod>(); }

}  // namespace dx

#include "discovery/sparse_autoencoder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "discovery/baseline_common.h"
#include "discovery/baselines.h"
#include "discovery/lloyd.h"

namespace dx {

namespace {

constexpr int64_t kBatch = 4096;  // patches per Adam step
// Budget: at least kMinEpochs passes and at least kMinSteps steps (small datasets need more
// passes to converge); the learning rate decays linearly to 0 over the last kDecayFraction.
constexpr int kMinEpochs = 10;
constexpr int64_t kMinSteps = 2000;
constexpr double kLearningRate = 1e-3;
constexpr double kDecayFraction = 0.2;
// AuxK (Gao et al. 2024, section 2.4): latents idle for this many patches are
// dead and learn to explain the main reconstruction's error, weight 1/32.
constexpr int64_t kDeadAfterPatches = 65536;
constexpr double kAuxWeight = 1.0 / 32;

// Parameters in a normalised space x / scale, where scale is the RMS deviation of the patches from
// their mean, so the learning rate does not depend on the layer's units.
struct TopKAutoencoder {
  at::Tensor encoderWeight;  // I x C
  at::Tensor encoderBias;    // I
  at::Tensor decoderWeight;  // C x I, unit columns
  at::Tensor decoderBias;    // C
  int64_t k = 1;

  std::vector<at::Tensor> parameters() const {
    return {encoderWeight, encoderBias, decoderWeight, decoderBias};
  }
  at::Tensor preActivation(const at::Tensor& x) const {
    return (x - decoderBias).matmul(encoderWeight.t()) + encoderBias;
  }
  at::Tensor decode(const at::Tensor& z) const { return z.matmul(decoderWeight.t()); }
};

// Gao et al. 2024, section 2.3: keep the k largest pre-activations of each row, ReLU them, zero the
// rest.
at::Tensor topK(const at::Tensor& pre, int64_t k) {
  auto [values, indices] = pre.topk(k, 1);
  return torch::zeros_like(pre).scatter(1, indices, torch::relu(values));
}

// Decoder columns start at greedy k-means++ seeds among the directions of the centred patches,
// the encoder at their transpose (Gao et al. 2024, section 2.4), b_dec at the data mean. Random
// directions (the paper's choice for millions of latents) leave a small dictionary with several
// latents on one mode of the data and none on another, a local optimum gradient descent rarely
// leaves; spread seeds avoid it.
TopKAutoencoder initialised(const Patches& patches, const at::Tensor& mean, double scale,
                            int concepts, at::Generator& gen) {
  const int64_t total = patches.globalRows();
  const int64_t sampled = std::min<int64_t>(total, 256 * int64_t(concepts));
  at::Tensor rows = torch::randperm(total, gen, torch::kLong).narrow(0, 0, sampled);
  at::Tensor directions = baselines::unitRows(patches.gather(rows) - mean);
  directions = baselines::plusPlusSeeds(directions, concepts, gen);
  TopKAutoencoder ae;
  ae.encoderWeight = directions.clone().requires_grad_();
  ae.encoderBias = torch::zeros({concepts}, mean.options()).requires_grad_();
  ae.decoderWeight = directions.t().contiguous().requires_grad_();
  ae.decoderBias = (mean / scale).requires_grad_();
  ae.k = std::max(1, concepts / 8);
  return ae;
}

// Steps since each latent last fired; dead ones get the AuxK loss.
class IdleLatents {
 public:
  IdleLatents(int64_t concepts, int64_t batch, const at::Tensor& like)
      : mIdle(torch::zeros({concepts}, like.options().dtype(torch::kLong))),
        mPatience(std::max<int64_t>(1, kDeadAfterPatches / batch)) {}
  // `z`: this process's rows of the minibatch; a latent fired when it fired on any process.
  void record(const at::Tensor& z, const Patches& patches) {
    at::Tensor fired = (z > 0).any(0).to(torch::kFloat);
    patches.reduceMax(fired);
    mIdle = torch::where(fired > 0, torch::zeros_like(mIdle), mIdle + 1);
  }
  at::Tensor dead() const { return mIdle >= mPatience; }

 private:
  at::Tensor mIdle;
  int64_t mPatience;
};

// AuxK: the top k_aux = C / 2 dead latents reconstruct the main error e (detached), as a
// normalised MSE, so dead latents get gradient towards data the live ones explain badly.
// Data-parallel: this process's share of the minibatch's mean (`batch` rows in all); the
// normaliser, a constant, is summed over every process.
at::Tensor auxKLoss(const TopKAutoencoder& ae, const at::Tensor& pre, const at::Tensor& error,
                    const at::Tensor& dead, int64_t batch, const Patches& patches) {
  int64_t deadCount = dead.sum().item<int64_t>();
  if (deadCount == 0) return {};
  int64_t kAux = std::min(deadCount, std::max<int64_t>(1, pre.size(1) / 2));
  at::Tensor z = topK(pre.masked_fill(~dead, -INFINITY), kAux);
  at::Tensor e = error.detach();
  if (!patches.shared())
    return (e - ae.decode(z)).pow(2).sum(1).mean() / e.pow(2).sum(1).mean().clamp_min(1e-12f);
  at::Tensor normaliser = e.pow(2).sum().reshape({1});
  patches.reduceSum(normaliser);
  return (e - ae.decode(z)).pow(2).sum() / normaliser.clamp_min(1e-12f * double(batch));
}

void setLearningRate(torch::optim::Adam& adam, double rate) {
  for (auto& group : adam.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(rate);
}

// One Adam step on the minibatch (`batch` rows; x normalised: this process's rows of it), then
// decoder columns back to unit norm. Data-parallel: each process's loss is its rows' share of the
// minibatch mean, so the summed gradients are the single-process gradient.
void trainStep(TopKAutoencoder& ae, torch::optim::Adam& adam, IdleLatents& idle,
               const at::Tensor& x, int64_t batch, const Patches& patches) {
  at::Tensor pre = ae.preActivation(x);
  at::Tensor z = topK(pre, ae.k);
  at::Tensor error = x - ae.decode(z) - ae.decoderBias;
  at::Tensor loss = patches.shared() ? error.pow(2).sum() / double(batch)
                                     : error.pow(2).sum(1).mean();
  at::Tensor aux = auxKLoss(ae, pre, error, idle.dead(), batch, patches);
  if (aux.defined()) loss = loss + kAuxWeight * aux;
  adam.zero_grad();
  loss.backward();
  if (patches.shared())
    for (auto& p : ae.parameters()) {
      at::Tensor grad = p.grad().defined() ? p.grad() : torch::zeros_like(p);
      patches.reduceSum(grad);
      p.mutable_grad() = grad;
    }
  adam.step();
  torch::NoGradGuard noGrad;
  idle.record(z, patches);
  ae.decoderWeight.div_(ae.decoderWeight.norm(2, {0}, true).clamp_min(1e-12f));
}

// This process's rows among the global indices `rows` (local indices, in minibatch order).
at::Tensor ownRows(const Patches& patches, const at::Tensor& rows) {
  if (!patches.shared()) return rows;
  at::Tensor mine = (rows >= patches.offset()).logical_and(rows < patches.offset() + patches.rows());
  return rows.masked_select(mine) - patches.offset();
}

void train(TopKAutoencoder& ae, const Patches& patches, double scale, at::Generator& gen,
           const FitOptions& options) {
  const int64_t total = patches.globalRows(), batch = std::min(kBatch, total);
  const int64_t stepsPerEpoch = (total + batch - 1) / batch;
  const int64_t epochs =
      std::max<int64_t>(kMinEpochs, (kMinSteps + stepsPerEpoch - 1) / stepsPerEpoch);
  const double steps = double(epochs * stepsPerEpoch), decayStart = (1 - kDecayFraction) * steps;
  torch::optim::Adam adam(ae.parameters(), torch::optim::AdamOptions(kLearningRate));
  IdleLatents idle(ae.encoderWeight.size(0), batch, ae.encoderBias);
  baselines::StageProgress progress(options, "sparse autoencoder", epochs);
  for (int64_t epoch = 0, step = 0; epoch < epochs; ++epoch) {
    at::Tensor order = torch::randperm(total, gen, torch::kLong);
    for (int64_t begin = 0; begin < total; begin += batch, ++step) {
      progress.checkCancelled();
      if (step >= decayStart)
        setLearningRate(adam, kLearningRate * (steps - step) / (steps - decayStart));
      at::Tensor rows = order.narrow(0, begin, std::min(batch, total - begin));
      trainStep(ae, adam, idle, patches.at(ownRows(patches, rows)).to(ae.encoderBias.device()) / scale,
                rows.numel(), patches);
    }
    progress.step(epoch + 1);
  }
}

// The latents each patch activates (P x k int64, -1 where a top-k slot is not positive), in row
// blocks so the P x I pre-activations never exist at once.
at::Tensor activeLatents(const TopKAutoencoder& ae, const Patches& patches, double scale) {
  at::Tensor active =
      torch::empty({patches.rows(), ae.k}, ae.encoderBias.options().dtype(torch::kLong));
  patches.forEachBlock([&](int64_t begin, const at::Tensor& x) {
    auto [values, indices] = ae.preActivation(x / scale).topk(ae.k, 1);
    active.narrow(0, begin, x.size(0)).copy_(torch::where(values > 0, indices, -1));
  });
  return active;
}

}  // namespace

std::string SparseAutoencoderMethod::decoderMeaning() const {
  return "Encoder row of the sparse autoencoder's latent; fires where the latent is typically "
         "among "
         "the k active ones.";
}

std::string SparseAutoencoderMethod::encoderMeaning() const {
  return "Decoder column of the latent: what the autoencoder adds to a patch per unit of the "
         "latent.";
}

ConceptBasis SparseAutoencoderMethod::fit(const at::Tensor& activations,
                                          const FitOptions& options) const {
  Patches patches = baselines::checkedPatches(activations, options, name());
  at::Generator gen = baselines::seededGenerator(options.seed);
  at::Tensor mean = patches.mean();
  double scale = std::max(std::sqrt(baselines::meanChannelVariance(patches)), 1e-12);
  TopKAutoencoder ae = initialised(patches, mean, scale, options.concepts, gen);
  train(ae, patches, scale, gen, options);
  torch::NoGradGuard noGrad;
  ConceptBasis basis;
  basis.method = name();
  basis.decoders = ae.encoderWeight.detach() / scale;
  basis.biases =
      baselines::balancedThresholds(patches, basis.decoders, activeLatents(ae, patches, scale));
  basis.encoders = (ae.decoderWeight.detach() * scale).t().contiguous();
  return basis;
}

bool SparseAutoencoderMethod::dataParallel() const { return true; }

std::unique_ptr<ConceptMethod> makeSparseAutoencoderMethod() {
  return std::make_unique<SparseAutoencoderMethod>();
}

}  // namespace dx

// EDDP over several processes (core/discovery/eddp_sharing.h): the gradient of a loss built from
// gathered readings, summed statistics and replicated terms equals the single-process gradient,
// and a data-parallel EDDP fit equals the single-process fit. Threads play the processes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <future>

#include "discovery/concept_method.h"
#include "discovery/eddp_sharing.h"
#include "distributed/launch.h"
#include "basis_difference.h"
#include "fit_in_parts.h"
#include "thread_reduction.h"

namespace {

struct Gradients {
  at::Tensor loss, w, b;
};

// A loss shaped like EDDP's: nonlinear in statistics of the whole batch (column means of the
// readings, a covariance X^T c), a replicated parameter read (b), and a per-process term that
// reads a replicated statistic (cov). `owner`: the process holding each row; `rows`: this
// process's rows, in order.
Gradients gradientsOf(dx::eddp::BatchSharing& sharing, const at::Tensor& x, const at::Tensor& rows,
                      const at::Tensor& owner, at::Tensor w, at::Tensor b) {
  torch::AutoGradMode enable(true);
  w = w.clone().requires_grad_(true), b = b.clone().requires_grad_(true);
  auto z = sharing.gatherRows(x.matmul(w), owner);
  auto c = z - z.mean(0);
  auto own = [&](const at::Tensor& t) {
    return sharing.shared() ? sharing.ownRows(t, rows, owner) : t;
  };
  auto cov = sharing.sum(x.t().matmul(own(c)));  // D x I
  auto y = torch::sigmoid(z - sharing.replicated(b));
  auto reading = sharing.shared() ? sharing.enterLocal(cov) : cov;
  auto local = sharing.sum(x.matmul(reading).tanh().sum());
  auto loss = y.mean(0).pow(2).sum() + 1e-2 * cov.pow(2).sum() + 0.1 * local +
              (y.sum(0) / y.sum().clamp_min(1e-6)).pow(3).sum();
  sharing.backward(loss);
  std::vector<at::Tensor> parameters{w, b};
  sharing.sumGradients(parameters);
  return {loss.detach(), parameters[0].grad(), parameters[1].grad()};
}

double relative(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / (b.abs().max() + 1e-12)).item<double>();
}

at::Tensor clusteredActivations(int64_t images) {
  auto gen = at::detail::createCPUGenerator(17);
  auto centres = 3 * torch::rand({4, 10}, gen);
  auto which = torch::randint(4, {images * 9}, gen);
  auto patches =
      torch::relu(centres.index_select(0, which) + 0.3 * torch::randn({images * 9, 10}, gen));
  return patches.view({images, 3, 3, 10}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace

TEST(EddpSharing, GradientsOverProcessesEqualTheSingleProcessGradient) {
  auto gen = at::detail::createCPUGenerator(4);
  auto x = torch::randn({23, 5}, gen, torch::kDouble);
  auto w = torch::randn({5, 3}, gen, torch::kDouble), b = torch::randn({3}, gen, torch::kDouble);
  // The batch's rows in a shuffled order: each process holds a scattered subset.
  auto order = torch::randperm(23, gen);
  dx::eddp::BatchSharing alone;
  auto single = gradientsOf(alone, x, torch::arange(23), {}, w, b);
  for (int count : {2, 3}) {
    auto owner = torch::empty({23}, torch::kLong);
    for (int part = 0; part < count; ++part) {
      auto share = dx::shareOf(23, part, count);
      owner.index_fill_(0, order.narrow(0, int64_t(share.begin), int64_t(share.size())), part);
    }
    dx::test::ThreadReductionHub hub(count);
    std::vector<std::future<Gradients>> parts;
    for (int part = 0; part < count; ++part)
      parts.push_back(std::async(std::launch::async, [&, part] {
        auto rows = owner.eq(part).nonzero().flatten();
        dx::test::ThreadReduction reduction(hub, part);
        dx::eddp::BatchSharing sharing(&reduction);
        return gradientsOf(sharing, x.index_select(0, rows), rows, owner, w, b);
      }));
    for (auto& p : parts) {
      auto g = p.get();
      EXPECT_LT(relative(g.loss, single.loss), 1e-12) << count << " parts";
      EXPECT_LT(relative(g.w, single.w), 1e-12) << count << " parts";
      EXPECT_LT(relative(g.b, single.b), 1e-12) << count << " parts";
    }
  }
}

// With the same seed and global batch, every process draws the same minibatches and takes the
// single-process gradient of each, so the fit is the single-process one up to float rounding of
// the sums, which Adam's steps carry on. Stated tolerance, relative to the largest value: 1e-3
// for quick (measured 2e-5), 1e-2 for balanced (measured 5e-3: its 960 steps per start also
// carry the rounding of the whitening's summed covariance).
TEST(EddpSharing, DataParallelFitsEqualTheSingleProcessFit) {
  auto weights = torch::randn({10, 3}, at::detail::createCPUGenerator(2));
  dx::HeadFunction pooling = [weights](const at::Tensor& a) {
    return a.mean({2, 3}).matmul(weights);
  };
  dx::HeadFunction maxPooling = [weights](const at::Tensor& a) {
    return a.amax({2, 3}).matmul(weights);
  };
  struct Case {
    const char* preset;
    dx::HeadFunction head;  // pooling: URA on every image; max pooling: on each batch's first 32
    int64_t images;
    std::vector<int> parts;
  };
  // 300 images over 7 parts: two 256-image batches per epoch, and parts that hold none of a
  // batch's images or none of its first 32.
  std::vector<Case> cases{{"quick", pooling, 90, {2, 3}},
                          {"quick", maxPooling, 90, {2, 3}},
                          {"quick", maxPooling, 300, {7}},
                          {"balanced", pooling, 90, {2, 3}}};
  for (const auto& c : cases) {
    auto z = clusteredActivations(c.images);
    dx::FitOptions o;
    o.concepts = 4;
    o.seed = 3;
    o.preset = c.preset;
    o.head = c.head;
    auto eddp = dx::makeConceptMethod("eddp");
    auto single = eddp->fit(z, o);
    double tolerance = std::string(c.preset) == "balanced" ? 1e-2 : 1e-3;
    for (int count : c.parts)
      for (const auto& basis : dx::test::fitInParts(*eddp, z, o, count))
        EXPECT_LT(dx::test::largestDifference(basis, single), tolerance)
            << c.preset << ", " << c.images << " images, " << count << " parts";
  }
}

// A cancel seen by one process stops every process at the same batch (none waits at a sum).
TEST(EddpSharing, ACancelOnOneProcessStopsThemAll) {
  auto z = clusteredActivations(90);
  dx::FitOptions o;
  o.concepts = 4;
  o.preset = "quick";
  dx::test::ThreadReductionHub hub(2);
  std::vector<std::future<int>> parts;  // epochs each part finished, -1: it was not cancelled
  for (int part = 0; part < 2; ++part)
    parts.push_back(std::async(std::launch::async, [&, part] {
      auto share = dx::shareOf(90, part, 2);
      dx::FitOptions mine = o;
      mine.parallel = {std::make_shared<dx::test::ThreadReduction>(hub, part),
                       int64_t(share.begin), 90};
      mine.cancel = dx::CancelToken();  // each its own: part 1 cancels in stage a's third epoch
      int epochs = 0;
      mine.progress = [&mine, &epochs, part](const dx::Progress&) {
        if (++epochs == 3 && part == 1) mine.cancel.cancel();
      };
      try {
        dx::makeConceptMethod("eddp")->fit(z.narrow(0, int64_t(share.begin),
                                                    int64_t(share.size())), mine);
      } catch (const dx::Cancelled&) {
        return epochs;
      }
      return -1;
    }));
  for (auto& p : parts) EXPECT_EQ(p.get(), 3);  // both stopped at the next minibatch
}

TEST(EddpSharing, EddpSaysItFitsDataParallel) {
  EXPECT_TRUE(dx::makeConceptMethod("eddp")->dataParallel());
}

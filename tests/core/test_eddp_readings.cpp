#include <gtest/gtest.h>

#include <torch/torch.h>

#include "discovery/eddp_readings.h"

using namespace dx;

namespace {

struct Reading {
  at::Tensor logits, gradW, gradB;
};

// The logits on `activations` and the gradients of a loss that reads them (the steps' view).
Reading readThrough(const at::Tensor& activations, const at::Tensor& w0, const at::Tensor& b0,
                    const at::Tensor& mean, const at::Tensor& transform, int64_t narrow) {
  auto w = w0.clone().requires_grad_(true);
  auto b = b0.clone().requires_grad_(true);
  auto logits = eddp::detectorLogits(activations, w, b, mean, transform, narrow).logits;
  torch::sigmoid(logits).pow(2).mean().backward();
  return {logits.detach(), w.grad(), b.grad()};
}

void expectSameReading(const Reading& patchMatrix, const Reading& direct) {
  EXPECT_TRUE(torch::allclose(direct.logits, patchMatrix.logits, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(direct.gradW, patchMatrix.gradW, 1e-4, 1e-7));
  EXPECT_TRUE(torch::allclose(direct.gradB, patchMatrix.gradB, 1e-4, 1e-7));
}

}  // namespace

// Wide layers read the detectors from the N x C x h x w batch; the value and the gradients the
// steps take must be those of the patch matrix's reading, raw and standardised (whitened to a
// rank below C, and per channel).
TEST(EddpReadings, WideLayersReadTheSameLogitsAndGradientsAsThePatchMatrix) {
  torch::manual_seed(3);
  const int64_t channels = 300, rank = 40, detectors = 6;
  auto activations = torch::relu(torch::randn({3, channels, 4, 5}));
  auto mean = activations.mean({0, 2, 3});
  auto whitening = torch::randn({channels, rank}) / 10;
  auto perChannel = torch::diag(torch::rand({channels}) + 0.5);
  auto wRank = torch::randn({detectors, rank});
  auto wFull = torch::randn({detectors, channels}) / 5;
  auto b = torch::randn({detectors});

  ASSERT_GT(channels, eddp::kNarrowChannels);  // the default reads this layer directly
  auto patchesFormed = [&](const at::Tensor& w, const at::Tensor& m, const at::Tensor& t) {
    return readThrough(activations, w, b, m, t, /*narrow=*/channels);
  };
  auto direct = [&](const at::Tensor& w, const at::Tensor& m, const at::Tensor& t) {
    return readThrough(activations, w, b, m, t, eddp::kNarrowChannels);
  };
  expectSameReading(patchesFormed(wFull, {}, {}), direct(wFull, {}, {}));
  expectSameReading(patchesFormed(wRank, mean, whitening), direct(wRank, mean, whitening));
  expectSameReading(patchesFormed(wFull, mean, perChannel), direct(wFull, mean, perChannel));

  // Rows come in patchesOf's order: image-major, then row, then column of the grid.
  auto logits = eddp::detectorLogits(activations, wFull, b, {}, {}).logits;
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3 * 4 * 5, detectors}));
  auto patch = activations.index({1, torch::indexing::Slice(), 2, 3});
  EXPECT_NEAR(logits[1 * 20 + 2 * 5 + 3][4].item<double>(),
              (wFull[4].dot(patch) - b[4]).item<double>(), 1e-4);
  EXPECT_FALSE(eddp::detectorLogits(activations, wFull, b, {}, {}).patches.defined());
}

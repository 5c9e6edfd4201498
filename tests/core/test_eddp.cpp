#include <gtest/gtest.h>

#include <torch/torch.h>

#include "discovery/eddp.h"
#include "discovery/eddp_losses.h"
#include "discovery/signal_vectors.h"
#include "discovery/synthetic_pairs.h"
#include "discovery/ura.h"

using namespace dx;

namespace {

double value(const at::Tensor& t) { return t.item<double>(); }

// Cosine of each true encoder with the matched estimated encoder.
at::Tensor matchedCosines(const at::Tensor& truth, const at::Tensor& estimate,
                          const std::vector<int64_t>& assignment) {
  auto out = torch::zeros({truth.size(0)});
  for (int64_t i = 0; i < truth.size(0); ++i)
    out[i] = torch::cosine_similarity(truth[i], estimate[assignment[size_t(i)]], 0);
  return out;
}

}  // namespace

TEST(EddpLosses, TakeTheValuesTheirDefinitionsGive) {
  auto oneHot = torch::tensor({{1.0, 0.0, 0.0, 0.0}});
  auto uniform = torch::full({1, 4}, 0.5);
  EXPECT_NEAR(value(eddp::sparsityLoss(oneHot)), 0.0, 1e-6);
  EXPECT_NEAR(value(eddp::sparsityLoss(uniform)), 2.0, 1e-6);  // log2(4)
  EXPECT_NEAR(value(eddp::maxActivationLoss(oneHot)), 0.0, 1e-6);
  EXPECT_NEAR(value(eddp::maxActivationLoss(uniform)), 1.0, 1e-6);  // -log2(0.5)
  EXPECT_NEAR(value(eddp::selfWeightedReduction(torch::tensor({1.0, 0.0, 0.0}))), 1.0, 1e-6);
  EXPECT_NEAR(value(eddp::selfWeightedReduction(torch::tensor({0.3, 0.3}))), 0.3, 1e-6);
  // A soft maximum: dominated by the largest value.
  EXPECT_GT(value(eddp::selfWeightedReduction(torch::tensor({1.0, 0.1, 0.1}))), 0.9);
  EXPECT_NEAR(value(eddp::maxMarginLoss(torch::tensor({{3.0, 4.0}, {0.0, 1.0}}))), 3.0, 1e-6);
  // Detector 1 never fires: inactive loss = (1/I) * (nu - 0)/nu = 1/2.
  auto halfSilent = torch::tensor({{1.0, 0.0}, {1.0, 0.0}});
  EXPECT_NEAR(value(eddp::inactiveClassifierLoss(halfSilent, 0.9, 2.0)), 0.5, 1e-6);
  EXPECT_NEAR(value(eddp::excessivelyActiveLoss(halfSilent, 1.5, 2.0)), 0.0, 1e-9);
  EXPECT_GT(value(eddp::excessivelyActiveLoss(halfSilent, 0.3, 2.0)), 0.9);
  auto eye = torch::eye(3);
  EXPECT_LT(value(eddp::filterSignalOrthogonality(eye, eye)), 1e-3);
  EXPECT_GT(value(eddp::filterSignalOrthogonality(eye, torch::ones({3, 3}))), 0.5);
}

TEST(EddpLosses, KurtosisOverPositivesSeparatesOneFactorFromASum) {
  // Readings of one uniform factor have excess kurtosis -1.2; a sum of several independent ones
  // is closer to Gaussian (0). Patches at or below the bias are not positives and do not count.
  auto gen = at::detail::createCPUGenerator(11);
  auto factors = torch::rand({40000, 3}, gen, torch::kDouble) + 1.0;  // U(1, 2) each
  auto below = torch::zeros({10000, 3}, torch::kDouble);              // never positive
  auto patches = torch::cat({factors, below});
  auto one = torch::tensor({{1.0, 0.0, 0.0}}, torch::kDouble);
  auto sum = torch::tensor({{1.0, 1.0, 1.0}}, torch::kDouble);
  auto bias = torch::tensor({0.5}, torch::kDouble);
  EXPECT_NEAR(value(eddp::positiveKurtosisLoss(patches, one, bias)), -1.2, 0.05);
  EXPECT_NEAR(value(eddp::positiveKurtosisLoss(patches, sum, bias)), -0.4, 0.05);  // -1.2 / 3
  // A silent detector adds nothing rather than NaN.
  auto silent = value(eddp::positiveKurtosisLoss(patches, torch::cat({one, one}),
                                                 torch::tensor({0.5, 100.0}, torch::kDouble)));
  EXPECT_NEAR(silent, -0.6, 0.03);  // (-1.2 + 0) / 2
}

TEST(EddpLosses, GradientsMatchCentralDifferences) {
  auto gen = at::detail::createCPUGenerator(3);
  auto y = (torch::rand({6, 4}, gen, torch::kDouble) * 0.9 + 0.05).requires_grad_(true);
  for (auto loss : {eddp::sparsityLoss, eddp::maxActivationLoss, eddp::sparsityBoundLoss}) {
    auto grad = torch::autograd::grad({loss(y)}, {y})[0];
    const double h = 1e-6;
    for (int64_t k = 0; k < y.numel(); k += 5) {
      auto plus = y.detach().clone(), minus = y.detach().clone();
      plus.view(-1)[k] += h;
      minus.view(-1)[k] -= h;
      double numeric = (value(loss(plus)) - value(loss(minus))) / (2 * h);
      EXPECT_NEAR(grad.view(-1)[k].item<double>(), numeric, 1e-5);
    }
  }
}

TEST(Ura, ShiftLandsOnTheHyperplaneIntersection) {
  auto gen = at::detail::createCPUGenerator(5);
  auto w = torch::randn({3, 8}, gen, torch::kDouble);
  auto b = torch::randn({3}, gen, torch::kDouble);
  auto s = torch::randn({3, 8}, gen, torch::kDouble);
  auto x = torch::randn({10, 8}, gen, torch::kDouble);
  auto free = x - eddp::uraShift(x, w, b, at::Tensor(), 1e-10);
  EXPECT_LT((free.matmul(w.t()) - b).abs().max().item<double>(), 1e-6);
  auto dx = eddp::uraShift(x, w, b, s, 1e-10);
  EXPECT_LT(((x - dx).matmul(w.t()) - b).abs().max().item<double>(), 1e-6);
  // The constrained shift lies in span(S): its residual after projecting on S vanishes.
  auto coef = std::get<0>(torch::linalg::lstsq(s.t(), dx.t(), {}, {}));
  EXPECT_LT((s.t().matmul(coef) - dx.t()).abs().max().item<double>(), 1e-6);
}

class SyntheticPairsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { data = new SyntheticPairs(makeSyntheticPairs()); }
  static void TearDownTestSuite() { delete data; }
  static SyntheticPairs* data;
};
SyntheticPairs* SyntheticPairsTest::data = nullptr;

TEST_F(SyntheticPairsTest, GroundTruthIsConsistent) {
  EXPECT_EQ(data->activations.sizes(), (std::vector<int64_t>{3000, 16, 2, 1}));
  EXPECT_GE(data->headAccuracy, 0.90);  // pooled latents of two patches overlap between classes
  auto scores = patchesOf(data->activations).matmul(data->decoders.t()) - data->biases;
  EXPECT_TRUE(scores.gt(0).eq(data->present).all().item<bool>());  // true detectors are exact
  EXPECT_TRUE(eddp::headPoolsGlobally(data->head(), data->activations.slice(0, 0, 4)));
}

TEST_F(SyntheticPairsTest, PositiveSignalVectorsRecoverTheEncodingDirections) {
  auto s = eddp::positiveSignalVectors(patchesOf(data->activations), data->decoders,
                                       data->biases);
  auto cos = torch::cosine_similarity(s, data->encoders, 1);
  EXPECT_GT(cos.min().item<double>(), 0.95) << cos;
}

TEST_F(SyntheticPairsTest, BatchSignalVectorsMatchTheStreamingEstimatorAndCarryGradients) {
  auto patches = patchesOf(data->activations);
  auto batch = eddp::batchSignalVectors(patches, data->decoders, data->biases);
  auto streamed = eddp::positiveSignalVectors(patches, data->decoders, data->biases);
  EXPECT_TRUE(torch::allclose(batch, streamed, 1e-3, 1e-4)) << batch - streamed;
  // Filters that mix the concepts (as learnt ones do): S depends on W, so a loss on S alone
  // reaches W.
  auto mixing = torch::full({3, 3}, -0.3) + 1.3 * torch::eye(3);
  auto w = mixing.matmul(data->decoders).requires_grad_(true);
  auto b = mixing.matmul(data->biases);
  eddp::batchSignalVectors(patches, w, b).pow(2).sum().backward();
  EXPECT_GT(w.grad().abs().sum().item<double>(), 1e-3);
}

namespace {

struct Recovery {
  ConceptBasis basis;
  at::Tensor iou, cos;
  std::vector<int64_t> assignment;  // true concept -> detector
};

Recovery fitSynthetic(const SyntheticPairs& data, const std::string& preset, uint64_t seed) {
  FitOptions o;
  o.concepts = 3;
  o.seed = seed;
  o.preset = preset;
  o.head = data.head();
  Recovery r;
  r.basis = makeEddpMethod()->fit(data.activations, o);
  r.iou = matchedDetectorIou(conceptScores(r.basis, patchesOf(data.activations)), data.present,
                             &r.assignment);
  r.cos = matchedCosines(data.encoders, r.basis.encoders, r.assignment);
  std::cout << "EDDP " << preset << " preset: IoU " << r.iou << " encoder cosines " << r.cos << "\n";
  return r;
}

}  // namespace

TEST_F(SyntheticPairsTest, EddpQuickRecoversDetectorsDeterministically) {
  // The quick preset is for interactive use: close to the truth, not at the paper's level.
  auto r = fitSynthetic(*data, "quick", 1);
  EXPECT_GE(r.iou.min().item<double>(), 0.85);
  auto dots = (r.basis.decoders * r.basis.encoders).sum(1);
  EXPECT_LT((dots - 1).abs().max().item<double>(), 1e-4);  // w_i . s_i = 1
  auto again = fitSynthetic(*data, "quick", 1);
  EXPECT_TRUE(torch::equal(r.basis.decoders, again.basis.decoders));
}

namespace {

// EDDP's mean matched encoder cosine beats every baseline's on the same data by 0.1.
void expectEddpEncodersClosest(const SyntheticPairs& data, const Recovery& eddp) {
  for (const std::string method : {"pca", "nmf", "kmeans", "spherical-kmeans", "sae"}) {
    FitOptions o;
    o.concepts = 3;
    o.seed = 1;
    auto basis = makeConceptMethod(method)->fit(data.activations, o);
    std::vector<int64_t> assignment;
    matchedDetectorIou(conceptScores(basis, patchesOf(data.activations)), data.present, &assignment);
    auto cos = matchedCosines(data.encoders, basis.encoders, assignment);
    EXPECT_GT(eddp.cos.mean().item<double>(), cos.mean().item<double>() + 0.1) << method << " " << cos;
  }
}

}  // namespace

TEST(EddpPaperKurtosis, RecoversTheDirectionPairsOnTheHardestSyntheticSeed) {
  // Data seed 1 is where a single spherical k-means start fails; stage a's restarts fix it.
  SyntheticPairsSpec spec;
  spec.seed = 1;
  auto data = makeSyntheticPairs(spec);
  auto r = fitSynthetic(data, "paper-kurtosis", 1);
  EXPECT_GE(r.iou.min().item<double>(), 0.95);  // the paper reports 0.96 / 0.92 / 0.96
  // After stage d the detectors read about a_i - 0.4 (a_j + a_k) and their signal vectors mix
  // the concepts the same way (cosine 0.88); stage e's kurtosis term brings them to the factor
  // alone: 0.981 / 0.987 / 0.985.
  EXPECT_GE(r.cos.min().item<double>(), 0.95) << r.cos;
  // The paper's claim: EDDP's signal vectors are the closest to the true encoding directions of
  // all methods compared.
  expectEddpEncodersClosest(data, r);
}

TEST(EddpPaperKurtosis, RecoversTheDirectionPairsWhenPresenceHasAMargin) {
  // Factors U(0, 2) absent / U(3, 5) present: the data on which a linear head reaches the 99%
  // the paper reports (docs/methods.md 1.7's 2.5 / 2.5 caps it near 92%).
  SyntheticPairsSpec spec;
  spec.seed = 4;
  spec.absentMax = 2.0;
  spec.presentMin = 3.0;
  auto data = makeSyntheticPairs(spec);
  EXPECT_GE(data.headAccuracy, 0.99);
  auto r = fitSynthetic(data, "paper-kurtosis", 4);
  EXPECT_GE(r.iou.min().item<double>(), 0.99);  // 0.998 / 1.000 / 1.000
  EXPECT_GE(r.cos.min().item<double>(), 0.95) << r.cos;  // 0.985 / 0.996 / 0.988
  expectEddpEncodersClosest(data, r);
}

TEST(Eddp, PresetsFollowThePaperAndRejectUnknownNames) {
  auto paper = eddpPreset("paper");
  ASSERT_EQ(paper.stages.size(), 3u);  // (a), (b), (c)+(d): nothing the paper does not have
  EXPECT_EQ(paper.stages[0].epochs, 800);
  EXPECT_DOUBLE_EQ(paper.stages[0].inactive, 5.0);
  EXPECT_DOUBLE_EQ(paper.stages[1].excessive, 15);
  EXPECT_DOUBLE_EQ(paper.stages[2].tau, 0.2);
  EXPECT_DOUBLE_EQ(paper.stages[2].filterSignal, 1.0);
  EXPECT_TRUE(paper.stages[2].constrained);
  for (const auto& stage : paper.stages) {
    EXPECT_DOUBLE_EQ(stage.kurtosis, 0.0);
    EXPECT_DOUBLE_EQ(stage.maxShare, 1.0);  // the paper's rho, even where it vanishes
    EXPECT_FALSE(stage.whitened);
  }
  // Stage e (our extension, a named preset): stage d plus the kurtosis term, no URA.
  auto kurtosis = eddpPreset("paper-kurtosis");
  ASSERT_EQ(kurtosis.stages.size(), 4u);
  EXPECT_DOUBLE_EQ(kurtosis.stages[3].kurtosis, 1.0);
  EXPECT_DOUBLE_EQ(kurtosis.stages[3].ura, 0.0);
  EXPECT_DOUBLE_EQ(kurtosis.stages[3].filterSignal, 1.0);
  EXPECT_TRUE(kurtosis.stages[3].fixedSchedule);
  EXPECT_EQ(eddpPreset("quick").stages.size(), 3u);
  EXPECT_THROW(eddpPreset("fast"), UserError);
}

TEST(Eddp, CancelAndBadInputAreReported) {
  auto data = makeSyntheticPairs({16, 3, 2, 50, 10, 2});
  FitOptions o;
  o.concepts = 3;
  o.cancel.cancel();
  EXPECT_THROW(makeEddpMethod()->fit(data.activations, o), Cancelled);
  auto bad = data.activations.clone();
  bad[0][0][0][0] = std::nan("");
  EXPECT_THROW(makeEddpMethod()->fit(bad, FitOptions{}), UserError);
}

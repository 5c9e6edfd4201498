// TCAV and SACV (docs/methods.md 3): the CAV classifiers and the t-test against sklearn/scipy
// fixtures (tests/support/make_cav_reference.py), the SACV sample layout and maps on
// constructed activations whose answer is known, and TCAV on the ConceptWorld CNN, which learned
// a watermark shortcut for red_circle.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/concept_model.h"
#include "tcav/cav.h"
#include "tcav/sacv.h"
#include "tcav/t_test.h"
#include "tcav/tcav.h"
#include "conceptworld/conceptworld.h"
#include "data/demo.h"
#include "activations/image_activations.h"
#include "temp_dir.h"

using namespace dx;

namespace {

// tests/data, from the build (CMake passes the folder) or from this file's location.
nlohmann::json reference() {
#ifdef DIRECTRIX_TEST_DATA
  std::filesystem::path root = DIRECTRIX_TEST_DATA;
#else
  std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path() / "data";
#endif
  std::ifstream in(root / "cav" / "reference.json");
  EXPECT_TRUE(in.good()) << "tests/data/cav/reference.json is missing";
  return nlohmann::json::parse(in);
}

// JSON numbers (a list or a list of rows) as a tensor; the inputs are float32-exact.
at::Tensor tensorOf(const nlohmann::json& rows, at::ScalarType type = torch::kFloat) {
  std::vector<double> flat;
  int64_t n = int64_t(rows.size()), d = rows[0].is_array() ? int64_t(rows[0].size()) : 1;
  for (const auto& r : rows)
    if (r.is_array()) for (double v : r) flat.push_back(v);
    else flat.push_back(r.get<double>());
  auto t = torch::tensor(flat, torch::kDouble).to(type);
  return rows[0].is_array() ? t.view({n, d}) : t;
}

double relativeError(double actual, double expected) {
  return std::fabs(actual - expected) / std::max(std::fabs(expected), 1e-300);
}

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

}  // namespace

TEST(Cav, LogisticRegressionMatchesSklearn) {
  // The reference must outlive the loop: a range over reference()["logistic"] would walk a
  // destroyed temporary (found by AddressSanitizer).
  const auto ref = reference();
  for (const auto& c : ref["logistic"]) {
    auto x = tensorOf(c["x"]), y = tensorOf(c["y"]);
    auto model = fitLogisticRegression(x, y, c["c"].get<double>());
    auto expected = tensorOf(c["coef"], torch::kDouble);
    double scale = expected.abs().max().item<double>();
    EXPECT_LT((model.weights.cpu() - expected).abs().max().item<double>(), 1e-6 * scale)
        << c["name"];
    EXPECT_NEAR(model.bias, c["intercept"].get<double>(), 1e-6 * std::max(1.0, scale)) << c["name"];
  }
}

TEST(Cav, TTestAndItsDistributionMatchScipy) {
  auto ref = reference();
  for (const auto& b : ref["betainc"])
    EXPECT_LT(relativeError(regularizedIncompleteBeta(b["a"], b["b"], b["x"]), b["value"]), 1e-10)
        << b.dump();
  for (const auto& s : ref["t_sf"])
    EXPECT_LT(relativeError(studentTwoSidedP(s["t"], s["df"]), s["p"]), 1e-10) << s.dump();
  for (const auto& c : ref["t_tests"]) {
    auto a = c["a"].get<std::vector<double>>(), b = c["b"].get<std::vector<double>>();
    auto student = tTestIndependent(a, b), welch = tTestIndependent(a, b, true);
    auto one = tTestOneSample(b, c["mu"].get<double>());
    EXPECT_LT(relativeError(student.t, c["student_t"]), 1e-10) << c["name"];
    EXPECT_LT(relativeError(student.pValue, c["student_p"]), 1e-9) << c["name"];
    EXPECT_LT(relativeError(welch.t, c["welch_t"]), 1e-10) << c["name"];
    EXPECT_LT(relativeError(welch.pValue, c["welch_p"]), 1e-9) << c["name"];
    EXPECT_LT(relativeError(one.t, c["one_sample_t"]), 1e-10) << c["name"];
    EXPECT_LT(relativeError(one.pValue, c["one_sample_p"]), 1e-9) << c["name"];
  }
  EXPECT_EQ(tTestIndependent({1, 1, 1}, {1, 1}).pValue, 1.0);  // scipy: NaN
  EXPECT_EQ(tTestIndependent({1, 1, 1}, {0, 0}).pValue, 0.0);
}

// Concept rows are random rows shifted along a planted unit direction e; every classifier must
// find e, separate held-out rows, be reproducible for a seed, and survive a save/load.
TEST(Cav, EveryClassifierFindsAPlantedDirection) {
  auto gen = generator(3);
  int64_t d = 20;
  auto e = torch::randn({d}, gen);
  e /= e.norm();
  auto negatives = torch::randn({200, d}, gen), positives = torch::randn({150, d}, gen) + 5 * e;
  test::TempDir dir;
  for (const auto& name : cavClassifierNames()) {
    CavOptions o;
    o.classifier = name;
    o.seed = 5;
    Cav cav = trainCav(positives, negatives, o);
    EXPECT_NEAR(cav.direction.norm().item<double>(), 1.0, 1e-5) << name;
    // Bounds from a numpy replica over 40 seeds: cosine >= 0.83, accuracy >= 0.97 for all three.
    EXPECT_GT(cav.direction.dot(e).item<double>(), 0.75) << name;
    EXPECT_GT(cav.heldOutAccuracy, 0.9) << name;
    EXPECT_TRUE(torch::equal(cav.direction, trainCav(positives, negatives, o).direction)) << name;
    saveCav(cav, dir / name);
    Cav back = loadCav(dir / name);
    EXPECT_TRUE(torch::allclose(back.direction, cav.direction)) << name;
    EXPECT_DOUBLE_EQ(back.bias, cav.bias) << name;
    EXPECT_DOUBLE_EQ(back.heldOutAccuracy, cav.heldOutAccuracy) << name;
    EXPECT_EQ(back.classifier, name);
  }
  CavOptions bad;
  bad.classifier = "forest";
  EXPECT_THROW(trainCav(positives, negatives, bad), UserError);
}

// Positions are samples, image-major: row (n*h + i)*w + j holds image n's channel vector at (i, j).
TEST(Sacv, PositionSamplesAreChannelVectorsInImageMajorOrder) {
  auto a = torch::zeros({2, 3, 2, 4});
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) a[n][c][i][j] = 1000 * n + 100 * c + 10 * i + j;
  auto rows = positionSamples(a);
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{16, 3}));
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int c = 0; c < 3; ++c)
          EXPECT_EQ(rows[(n * 2 + i) * 4 + j][c].item<float>(), 1000 * n + 100 * c + 10 * i + j);
}

// Concept images carry a channel pattern u at every position, random images do not. The CAV
// must be u; on a test image with u at two positions the relevance map is positive exactly
// there; with the head logit_k = sum_hw M(h,w) w_k . a(h,w) the contribution map is
// (v . w_k) M, so the top and bottom positions are those of M.
TEST(Sacv, MapsRecoverAPlantedConceptAndAKnownHead) {
  auto gen = generator(11);
  int64_t c = 6, h = 3, w = 3;
  auto u = torch::zeros({c});
  u[2] = 0.6;
  u[4] = 0.8;
  auto noise = [&](int64_t n) { return 0.2 * torch::rand({n, c, h, w}, gen); };
  auto concept = noise(30) + 2 * u.view({1, c, 1, 1}), random = noise(40);
  CavOptions o;
  Cav cav = trainSacv(concept, random, o);
  ASSERT_EQ(cav.shape, std::vector<int64_t>{c});
  EXPECT_GT(cav.direction.dot(u).item<double>(), 0.9);
  EXPECT_GT(cav.heldOutAccuracy, 0.99);

  auto image = noise(1);
  image[0].select(1, 0).select(1, 2) += 2 * u;  // (0, 2)
  image[0].select(1, 2).select(1, 1) += 2 * u;  // (2, 1)
  auto weights = torch::randn({3, c}, gen);
  weights[1] = u;  // class 1 reads the concept
  auto m = torch::arange(9, torch::kFloat).view({h, w}) - 4;  // M, from -4 to 4
  HeadFunction head = [&](const at::Tensor& z) {
    return torch::einsum("nchw,kc,hw->nk", {z, weights, m});
  };
  PatchGeometry geometry{30, 30, int(h), int(w), 0};
  auto e = explainWithSacv(head, image, 1, cav, geometry, 2);
  auto present = (e.relevance > 0).to(torch::kInt);
  auto expected = torch::zeros({h, w}, torch::kInt);
  expected[0][2] = 1;
  expected[2][1] = 1;
  EXPECT_TRUE(torch::equal(present, expected)) << e.relevance;
  double gain = cav.direction.dot(weights[1]).item<double>();
  EXPECT_TRUE(torch::allclose(e.contribution, gain * m, 1e-4, 1e-5));
  ASSERT_EQ(e.top.size(), 2u);
  EXPECT_EQ(e.top[0].row, 2);  // M is largest at (2, 2)
  EXPECT_EQ(e.top[0].col, 2);
  EXPECT_EQ(e.bottom[0].row, 0);
  EXPECT_EQ(e.bottom[0].col, 0);
  EXPECT_EQ(e.top[0].box, geometry.box(2, 2));
  EXPECT_EQ(e.relevanceImage.rows, 30);
  EXPECT_EQ(e.contributionImage.cols, 30);
  EXPECT_DOUBLE_EQ(e.score.score, 0.5);  // of the two concept positions only (2, 1) has M > 0
}

// Gradients of a non-linear head by autograd in batches against the analytic ones, and the
// score as the fraction of images whose directional derivative is positive.
TEST(Tcav, GradientsAndScoresOnAKnownHead) {
  auto gen = generator(7);
  auto z = torch::randn({7, 4, 2, 2}, gen);
  auto weights = torch::randn({3, 4}, gen);
  HeadFunction head = [&](const at::Tensor& x) {
    return torch::einsum("nchw,kc->nk", {torch::relu(x), weights});
  };
  auto g = logitGradients(head, z, 2, /*batchSize=*/3);
  auto expected = (z > 0).to(torch::kFloat) * weights[2].view({1, 4, 1, 1});
  EXPECT_TRUE(torch::allclose(g, expected));
  auto v = torch::randn({4}, gen);
  auto s = torch::einsum("nchw,c->n", {g, v});
  auto score = tcavScore(g, v);  // a per-channel direction, broadcast over positions
  EXPECT_DOUBLE_EQ(score.score, (s > 0).to(torch::kDouble).mean().item<double>());
  EXPECT_NEAR(score.meanDerivative, s.mean().item<double>(), 1e-5);
}

// The ConceptWorld CNN learned the watermark as a cue for red_circle (its train split has the
// watermark on 95% of red circles). Watermarked images against clean random images must score
// high and significantly for red_circle; a clean random set as the "concept" must not.
// Layer block3: head_block4 is global average pooling + linear, whose gradient is the same for
// every image, so TCAV scores there are only 0 or 1 (tcav.h). Sizes (100 images per set, 10
// runs) come from a numpy replica of this test on other ConceptWorld images: over 30 draws the
// watermark's p stayed below 0.017 and the random set's above 0.07 (threshold 0.025).
TEST(Tcav, WatermarkDrivesRedCircleOnConceptWorld) {
  configureTorchThreads();
  auto model = ConceptModel::load(conceptWorldModelPath());
  auto activations = [&](uint64_t seed, size_t count, bool watermark, double rate) {
    ConceptWorldSpec spec = conceptWorldDefaults(ConceptWorldSpec::Test);
    spec.seed = seed;
    spec.count = count;
    spec.watermark = watermark;
    spec.testRate = rate;
    return imageActivations(*model, std::make_shared<ConceptWorld>(spec), "block3");
  };
  auto mixed = activations(21, 400, true, 0.5);
  std::vector<int64_t> redCircles;
  for (size_t i = 0; i < mixed.size(); ++i)
    if (mixed.labels[i] == cw::RedCircle) redCircles.push_back(int64_t(i));
  ASSERT_GT(redCircles.size(), 40u);
  auto classSet = selectRows(mixed, redCircles);
  std::vector<ConceptSet> concepts{{"watermark", activations(31, 100, true, 1.0).activations},
                                   {"random", activations(32, 100, false, 0).activations}};
  std::vector<ConceptSet> randoms;
  for (uint64_t r = 0; r < 10; ++r)
    randoms.push_back(
        {"random" + std::to_string(r), activations(40 + r, 100, false, 0).activations});

  HeadFunction head = [model](const at::Tensor& z) { return model->head("block3", z); };
  TcavOptions o;
  auto r = runTcav(head, classSet.activations, cw::RedCircle, concepts, randoms, {}, o);
  ASSERT_EQ(r.concepts.size(), 2u);
  ASSERT_EQ(r.randomScores.size(), 5u);  // 10 random sets, paired (0, 1), (2, 3), ...
  EXPECT_FALSE(r.constantGradient);
  EXPECT_DOUBLE_EQ(r.threshold, 0.025);
  const auto& watermark = r.concepts[0];
  EXPECT_EQ(watermark.cavs[0].shape, (std::vector<int64_t>{64, 8, 8}));
  for (const auto& cav : watermark.cavs) EXPECT_GT(cav.heldOutAccuracy, 0.9);
  EXPECT_GT(watermark.mean, 0.8);
  EXPECT_GT(watermark.t, 0);
  EXPECT_TRUE(watermark.significant) << "p = " << watermark.pValue;
  EXPECT_FALSE(r.concepts[1].significant) << "p = " << r.concepts[1].pValue;
  EXPECT_TRUE(r.concepts[1].nearChance);  // clean images against clean images: no direction
  EXPECT_TRUE(std::isnan(r.concepts[1].pValue));
  for (size_t j = 0; j < r.randomCavs.size(); ++j) {  // no random set in two null runs
    EXPECT_EQ(r.randomCavs[j].concept, "random" + std::to_string(2 * j));
    EXPECT_EQ(r.randomCavs[j].random, "random" + std::to_string(2 * j + 1));
  }
  // A relative CAV: the watermark against the clean "random" concept set instead of random.
  o.relative = {{0, 1}};
  auto relative = runTcav(head, classSet.activations, cw::RedCircle, concepts, randoms, {}, o);
  ASSERT_EQ(relative.concepts.size(), 3u);
  EXPECT_EQ(relative.concepts[2].name, "watermark vs random");
  EXPECT_EQ(relative.concepts[2].cavs[0].random, "random");
  EXPECT_GT(relative.concepts[2].mean, 0.8);
  o.relative.clear();

  // A fixed direction (here the watermark's first CAV) is scored as it is, against the same
  // null runs (same seeds, so the same random CAVs).
  auto fixed =
      runTcav(head, classSet.activations, cw::RedCircle, {}, randoms, {watermark.cavs[0]}, o);
  ASSERT_EQ(fixed.concepts.size(), 1u);
  EXPECT_TRUE(fixed.concepts[0].fixed);
  EXPECT_EQ(fixed.randomScores, r.randomScores);
  EXPECT_DOUBLE_EQ(fixed.concepts[0].scores.at(0), watermark.scores[0]);
}

TEST(Tcav, AFixedDirectionIsOneMoreDrawNotAMeanOfRuns) {
  // Prediction interval: t = (x - mean) / (sd sqrt(1 + 1/n)), df = n - 1. The same null scores
  // repeated 10 times leave it nearly unchanged, where a one-sample t-test's t grows with sqrt(n).
  std::vector<double> nulls{0.40, 0.55, 0.45, 0.60, 0.50};
  auto few = predictionIntervalTest(nulls, 0.75);
  double sd = std::sqrt((0.01 + 0.0025 + 0.0025 + 0.01 + 0) / 4);
  EXPECT_NEAR(few.t, 0.25 / (sd * std::sqrt(1.2)), 1e-9);
  EXPECT_DOUBLE_EQ(few.df, 4);
  std::vector<double> many;
  for (int r = 0; r < 10; ++r) many.insert(many.end(), nulls.begin(), nulls.end());
  auto more = predictionIntervalTest(many, 0.75);
  EXPECT_LT(more.t, 2 * few.t);
  EXPECT_GT(tTestOneSample(many, 0.75).t * -1, 5 * few.t);
}

TEST(Sacv, ARunWithoutConceptPositionsIsUndefined) {
  SacvMaps maps{-torch::ones({3, 2, 2}), torch::ones({3, 2, 2})};
  EXPECT_TRUE(std::isnan(sacvScore(maps).score));
}

TEST(Sacv, HeldOutAccuracyIsMeasuredOnUnseenImages) {
  // Noise images whose 4 positions are copies of one vector: a position-level split would test
  // on copies of training rows and report a memorised accuracy; the image-level split does not.
  auto gen = generator(5);
  auto copies = [&](int64_t n) { return torch::randn({n, 64, 1, 1}, gen).expand({n, 64, 2, 2}).contiguous(); };
  auto concept = copies(40), random = copies(40);
  CavOptions o;
  o.c = 1e4;  // almost no regularisation: the classifier memorises what it is shown
  Cav cav = trainSacv(concept, random, o);
  EXPECT_LT(cav.heldOutAccuracy, 0.75);
  CavOptions byPosition = o;
  auto rows = [](const at::Tensor& a) { return positionSamples(a); };
  Cav leaky = trainCav(rows(concept), rows(random), byPosition);
  EXPECT_GT(leaky.heldOutAccuracy, 0.85) << "the position-level split leaks";
}

TEST(Sacv, RefusesALayerWhoseHeadPoolsFirst) {
  auto gen = generator(6);
  auto w = torch::randn({3, 8}, gen);
  HeadFunction head = [w](const at::Tensor& z) { return z.mean({2, 3}).matmul(w.t()); };
  auto set = [&](const std::string& name) {
    return ConceptSet{name, torch::rand({6, 8, 2, 2}, gen)};
  };
  TcavOptions o;
  o.spatial = true;
  o.earlierLayer = "block2";
  try {
    runTcav(head, torch::rand({6, 8, 2, 2}, gen), 0, {set("c")},
            {set("r0"), set("r1"), set("r2"), set("r3")}, {}, o);
    FAIL() << "SACV at a pooling head must be refused";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("earlier layer (block2, for example)"), std::string::npos)
        << e.what();
  }
}

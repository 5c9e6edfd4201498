// The concept report (fractions, per-image strength, top patches, influence) and Network
// Dissection scores, on data where the answers are known exactly.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <memory>

#include <nlohmann/json.hpp>

#include "analysis/concept_report.h"
#include "conceptworld/dissection.h"
#include "discovery/synthetic_pairs.h"
#include "base/tensor_io.h"
#include "temp_dir.h"

using namespace dx;

namespace {

// Synthetic direction pairs with their true basis, activations written to a memory-mapped .npy.
struct Synthetic {
  SyntheticPairs data = makeSyntheticPairs({16, 3, 2, 200, 10, 4});
  ConceptBasis basis{"truth", data.decoders, data.biases, data.encoders};
  test::TempDir dir;
  std::unique_ptr<NpyMap> map;
  Synthetic() {
    writeNpyTensor(dir / "a.npy", data.activations);
    map = std::make_unique<NpyMap>(dir / "a.npy");
  }
};

}  // namespace

TEST(ConceptReport, FractionsStrengthAndTopPatchesMatchTheTruth) {
  Synthetic t;
  const auto& data = t.data;
  const auto& basis = t.basis;
  const auto& map = *t.map;
  ReportOptions options;
  options.topPatches = 10;
  options.influenceImages = 0;
  auto report = summariseConcepts(basis, map, {"c01", "c02", "c12"}, {}, options);
  ASSERT_EQ(report.concepts.size(), 3u);
  auto scores = conceptScores(basis, patchesOf(data.activations));  // (N*2) x 3
  auto perImage = std::get<0>(scores.view({-1, 2, 3}).max(1));
  EXPECT_LT((report.imageStrength - perImage).abs().max().item<double>(), 1e-4);
  for (int i = 0; i < 3; ++i) {
    const auto& c = report.concepts[size_t(i)];
    EXPECT_NEAR(c.patchFraction, data.present.select(1, i).to(torch::kDouble).mean().item<double>(), 1e-9);
    EXPECT_NEAR(c.imageFraction, perImage.select(1, i).gt(0).to(torch::kDouble).mean().item<double>(), 1e-9);
    ASSERT_EQ(c.top.size(), 10u);
    EXPECT_NEAR(c.top[0].score, scores.select(1, i).max().item<float>(), 1e-4);
    for (size_t r = 1; r < c.top.size(); ++r) {
      EXPECT_GE(c.top[r - 1].score, c.top[r].score);
      for (size_t q = 0; q < r; ++q) EXPECT_NE(c.top[q].image, c.top[r].image);  // one per image
    }
    EXPECT_TRUE(c.influence.empty());
  }
}

TEST(ConceptReport, InfluenceAndJsonRoundTrip) {
  Synthetic t;
  const auto& data = t.data;
  const auto& basis = t.basis;
  const auto& map = *t.map;
  ReportOptions options;
  options.topPatches = 3;
  options.influenceImages = 120;
  auto report = summariseConcepts(basis, map, {"c01", "c02", "c12"}, data.head(), options);
  EXPECT_EQ(report.influenceImages, 120);
  // Concept 0 is part of classes (0,1) and (0,2), never of (1,2).
  const auto& c0 = report.concepts[0];
  ASSERT_EQ(c0.influence.size(), 3u);
  EXPECT_LT(c0.influence[2], 0);
  EXPECT_GT(c0.influence[0] + c0.influence[1], 0);
  auto json = conceptsToJson(report, PatchGeometry{2, 1, 2, 1, 0});
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[0]["influence"][2]["class"], "c12");
  EXPECT_EQ(json[0]["top_patches"].size(), 3u);
  auto back = conceptsFromJson(json, report.classes);
  ASSERT_EQ(back.concepts.size(), 3u);
  EXPECT_FLOAT_EQ(back.concepts[1].influence[1], report.concepts[1].influence[1]);
  EXPECT_EQ(back.concepts[2].top[1].image, report.concepts[2].top[1].image);
  EXPECT_EQ(back.concepts[2].significant, report.concepts[2].significant);
  EXPECT_FLOAT_EQ(back.concepts[0].probabilityChange[2], report.concepts[0].probabilityChange[2]);
  EXPECT_EQ(back.concepts[0].influenceQuartiles[2], report.concepts[0].influenceQuartiles[2]);
  // How it was tested travels with the numbers.
  const auto& test = report.influenceTest;
  EXPECT_EQ(test.tests, 9);
  EXPECT_EQ(test.null, "pattern-mahalanobis");
  EXPECT_TRUE(test.exact);
  auto testBack = influenceTestFromJson(influenceTestJson(test));
  EXPECT_EQ(testBack.tests, 9);
  EXPECT_EQ(testBack.exact, test.exact);
  EXPECT_DOUBLE_EQ(testBack.minEffect, test.minEffect);
  EXPECT_EQ(influenceTestJson(test)["correction"], "Benjamini-Hochberg");
}

TEST(ConceptReport, FlagsCatchAllAndDeadDetectorsAsDegenerate) {
  Synthetic t;
  // Detector 0 fires everywhere (bias far below every reading), detector 1 nowhere.
  auto biases = t.basis.biases.clone();
  biases[0] = -1e6;
  biases[1] = 1e6;
  ConceptBasis basis{"test", t.basis.decoders, biases, t.basis.encoders};
  ReportOptions options;
  options.topPatches = 2;
  options.influenceImages = 0;
  auto report = summariseConcepts(basis, *t.map, {"c01", "c02", "c12"}, {}, options);
  auto json = conceptsToJson(report, PatchGeometry{2, 1, 2, 1, 0});
  EXPECT_TRUE(json[0]["degenerate"].get<bool>());
  EXPECT_EQ(json[0]["degenerate_reason"], "fires on 100% of all patches (more than half)");
  EXPECT_TRUE(json[1]["degenerate"].get<bool>());
  EXPECT_EQ(json[1]["degenerate_reason"], "never fires");
  EXPECT_FALSE(json[2]["degenerate"].get<bool>());  // the true detector of concept 2: a third
  EXPECT_EQ(degeneracyReason(0.5), "");
  EXPECT_NE(degeneracyReason(0.51), "");
}

TEST(ConceptReport, SeedStabilityTravelsOnlyWhereMeasured) {
  Synthetic t;
  ReportOptions options;
  options.topPatches = 1;
  options.influenceImages = 0;
  auto report = summariseConcepts(t.basis, *t.map, {"c01", "c02", "c12"}, {}, options);
  auto plain = conceptsToJson(report, PatchGeometry{2, 1, 2, 1, 0});
  EXPECT_FALSE(plain[0].contains("stability"));
  EXPECT_FALSE(plain[0].contains("unstable"));
  EXPECT_TRUE(std::isnan(conceptsFromJson(plain, report.classes).concepts[0].stability));
  report.concepts[0].stability = 0.31;
  report.concepts[1].stability = 0.5;
  auto json = conceptsToJson(report, PatchGeometry{2, 1, 2, 1, 0});
  EXPECT_TRUE(json[0]["unstable"].get<bool>());
  EXPECT_FALSE(json[1]["unstable"].get<bool>());  // half of the patches found again: stable
  auto back = conceptsFromJson(json, report.classes);
  EXPECT_DOUBLE_EQ(back.concepts[0].stability, 0.31);
  EXPECT_TRUE(std::isnan(back.concepts[2].stability));
}

TEST(ConceptReport, RejectsABasisOfAnotherLayer) {
  auto data = makeSyntheticPairs({16, 3, 2, 20, 10, 4});
  ConceptBasis basis{"x", torch::ones({2, 8}), torch::zeros({2}), torch::ones({2, 8})};
  test::TempDir dir;
  writeNpyTensor(dir / "a.npy", data.activations);
  NpyMap map(dir / "a.npy");
  EXPECT_THROW(summariseConcepts(basis, map, {}, {}), UserError);
}

TEST(Dissection, IouLabelsAndScores) {
  // One 4x4 image, two ground-truth concepts: A = left half, B = top-left quarter.
  auto masks = torch::zeros({1, 2, 4, 4}, torch::kUInt8);
  masks.index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice(0, 2)}, 1);
  masks.index_put_({0, 1, torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)}, 1);
  // Detector maps at the mask resolution (upsampling 4x4 -> 4x4 is the identity).
  auto maps = -torch::ones({1, 3, 4, 4});
  maps.index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice(0, 2)}, 1);  // = A
  maps.index_put_({0, 1, torch::indexing::Slice(), torch::indexing::Slice(0, 1)}, 1);  // half of A
  maps.index_put_({0, 2, torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 1)}, 1);  // half of B
  Dissection d(3, 2);
  d.add(maps, masks);
  d.add(maps, masks);  // a second identical image changes no ratio
  auto r = d.result();
  EXPECT_NEAR(r.iou[0][0].item<float>(), 1.0, 1e-6);
  EXPECT_NEAR(r.iou[0][1].item<float>(), 0.5, 1e-6);   // 4 / 8
  EXPECT_NEAR(r.iou[1][0].item<float>(), 0.5, 1e-6);   // 4 / 8
  EXPECT_NEAR(r.iou[1][1].item<float>(), 1.0 / 3, 1e-6);  // 2 / 6
  EXPECT_NEAR(r.iou[2][1].item<float>(), 0.5, 1e-6);   // 2 / 4
  EXPECT_EQ(r.label, (std::vector<int>{0, 0, 1}));
  EXPECT_NEAR(r.s1, 2.0, 1e-6);
  EXPECT_NEAR(r.s2, 1.5, 1e-6);  // A's best is 1.0, B's best is 0.5
  EXPECT_EQ(r.bestDetectorFor(0), 0);
  // Pixel shares: detectors fire on 8, 4 and 2 of 16 pixels, A covers 8, B 4.
  EXPECT_EQ(r.firedShare, (std::vector<double>{0.5, 0.25, 0.125}));
  EXPECT_EQ(r.conceptShare, (std::vector<double>{0.5, 0.25}));
  EXPECT_THROW(d.add(maps, torch::zeros({1, 3, 4, 4})), UserError);
}

TEST(ConceptReport, ReadsAConceptFileFromBeforeTheLogitReading) {
  // The earlier format: "change" was a probability change, marks were Bonferroni's.
  auto old = nlohmann::json::parse(R"([{"index": 0, "fraction_present": 0.2, "influence": [
      {"class": "a", "change": 0.25, "p_value": 1e-9, "significant": true}]}])");
  auto r = conceptsFromJson(old, {"a"});
  ASSERT_EQ(r.concepts.size(), 1u);
  EXPECT_FLOAT_EQ(r.concepts[0].probabilityChange[0], 0.25f);
  EXPECT_FLOAT_EQ(r.concepts[0].influence[0], 0.0f);
  EXPECT_TRUE(std::isnan(r.concepts[0].pValues[0]));
  EXPECT_FALSE(r.concepts[0].significant[0]);
  EXPECT_TRUE(influenceTestFromJson(nlohmann::json()).description.empty());
}

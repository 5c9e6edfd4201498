// The GUI's TCAV facade (tcav_study.h) and the folder handling it shares with the CLI
// (tcav_inputs.h): class selection rules, the same scores from the project's cache as from
// recomputed activations, random draws, and SACV maps that refuse another layer. The method's
// numbers themselves are tested in test_tcav.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgcodecs.hpp>

#include "activations/extractor.h"
#include "data/source_factory.h"
#include "tcav/tcav_inputs.h"
#include "tcav/tcav_study.h"
#include "temp_dir.h"
#include "test_models.h"

using namespace dx;

namespace {

// `count` 16x16 noise images in dir/<sub>/ (sub empty: dir itself).
void writeNoise(const std::string& dir, int count, int seed, const std::string& sub = {}) {
  cv::RNG rng(static_cast<uint64_t>(seed));
  std::filesystem::create_directories(dir + "/" + sub);
  for (int i = 0; i < count; ++i) {
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite(dir + "/" + sub + "/" + std::to_string(i) + ".png", img);
  }
}

}  // namespace

TEST(TcavInputs, ClassRowsFollowLabelsOrPredictions) {
  std::vector<int> labels{0, 1, 0, -1, 0};
  std::vector<std::string> names{"alpha", "beta"};
  std::vector<int64_t> predicted{2, 2, 0, 2, 1};
  std::string how;
  // Auto: a sub-folder named like the class wins; otherwise the predictions.
  EXPECT_EQ(classRows(labels, names, predicted, "alpha", 0, "", &how, "imgs"),
            (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(how, "labelled");
  EXPECT_EQ(classRows(labels, names, predicted, "gamma", 2, "", &how, "imgs"),
            (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(how, "predicted");
  EXPECT_THROW(classRows(labels, names, predicted, "gamma", 2, "labelled", &how, "imgs"),
               UserError);
  EXPECT_THROW(classRows(labels, names, predicted, "beta", 1, "labelled", &how, "imgs"),
               UserError);  // one image is too few
  EXPECT_THROW(classRows(labels, names, predicted, "alpha", 0, "sideways", &how, "imgs"),
               UserError);
  EXPECT_EQ(folderName("data/striped/"), "striped");
}

TEST(TcavStudy, CacheAndDrawsRunAndMapsStayAtTheirLayer) {
  test::TempDir tmp;
  writeNoise(tmp / "imgs", 12, 1, "alpha");
  writeNoise(tmp / "imgs", 12, 2, "beta");
  writeNoise(tmp / "striped", 8, 3);
  writeNoise(tmp / "r0", 6, 4);
  writeNoise(tmp / "r1", 6, 5);
  TcavRequest q;
  q.model = ConceptModel::load(test::testModel("good_rgb.pt"));
  q.layer = "conv1";
  q.classImages = openImageSource(tmp / "imgs");
  q.conceptDirs = {tmp / "striped"};
  q.randomDirs = {tmp / "r0", tmp / "r1"};
  auto computed = runTcavStudy(q);
  ASSERT_EQ(computed.report.concepts.size(), 1u);
  const auto& c = computed.report.concepts[0];
  EXPECT_EQ(c.name, "striped");
  EXPECT_EQ(c.scores.size(), 2u);
  EXPECT_EQ(computed.report.classImages, 12);
  EXPECT_EQ(computed.report.classSelection, "labelled");
  EXPECT_NEAR(c.mean, (c.scores[0] + c.scores[1]) / 2, 1e-12);

  // The project's cache at the study's layer stands in for recomputing: the same numbers.
  auto extract = [&](const std::string& layer) {
    ExtractionRequest e;
    e.model = q.model;
    e.source = q.classImages;
    e.layer = layer;
    e.outDir = tmp / ("cache-" + layer);
    return std::make_shared<ActivationCache>(extractActivations(e).dir);
  };
  q.cache = extract("conv1");
  auto cached = runTcavStudy(q);
  EXPECT_EQ(cached.report.concepts[0].scores, c.scores);
  EXPECT_EQ(cached.report.randomScores, computed.report.randomScores);

  // Random draws: 2 runs take 4 disjoint sets of 6 of the 24 project images, paired into 2
  // independent null runs.
  q.randomDirs.clear();
  q.runs = 2;
  q.randomSetSize = 6;
  auto overlapNoted = [](const TcavReport& r) {
    for (const auto& n : r.notes)
      if (n.find("overlap") != std::string::npos) return true;
    return false;
  };
  auto drawn = runTcavStudy(q);
  EXPECT_EQ(drawn.report.randomScores.size(), 2u);
  EXPECT_EQ(drawn.report.runs, 2);
  EXPECT_FALSE(overlapNoted(drawn.report));
  q.runs = 3;  // 6 sets of 6 > 24 images: each set its own draw, and the report says so
  EXPECT_TRUE(overlapNoted(runTcavStudy(q).report));
  q.runs = 2;
  q.randomSetSize = 13;  // 2 x 13 > 24: two sets could not differ enough
  EXPECT_THROW(runTcavStudy(q), UserError);

  // SACV maps: one value per position of the layer, finite, and only at the study's layer.
  int h = 0, w = 0;
  auto relevance = sacvRelevance(*drawn.study, 0, *q.cache, 3, &h, &w);
  ASSERT_GT(h * w, 0);
  EXPECT_EQ(relevance.size(), size_t(h * w));
  auto contribution = sacvContribution(*drawn.study, 0, *q.cache, 3, &h, &w);
  EXPECT_EQ(contribution.size(), relevance.size());
  for (float v : relevance) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NE(relevance, sacvRelevance(*drawn.study, 0, *q.cache, 4, &h, &w));
  EXPECT_THROW(sacvRelevance(*drawn.study, 0, *extract("conv2"), 3, &h, &w), UserError);
  EXPECT_THROW(sacvRelevance(*drawn.study, 1, *q.cache, 3, &h, &w), UserError);

  // Relative CAVs from the GUI's request: each pair of concept folders, A against B.
  writeNoise(tmp / "dotted", 8, 6);
  q.randomSetSize = 6;
  q.conceptDirs = {tmp / "striped", tmp / "dotted"};
  q.relative = true;
  auto relative = runTcavStudy(q);
  ASSERT_EQ(relative.report.concepts.size(), 3u);
  EXPECT_EQ(relative.report.concepts[2].name, "striped vs dotted");
  EXPECT_EQ(relative.report.concepts[2].scores.size(), 2u);
  EXPECT_THROW(sacvRelevance(*relative.study, 2, *q.cache, 3, &h, &w), UserError);
}

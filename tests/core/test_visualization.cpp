// Feature visualisation (core/visualization): renderings drive what they are asked to drive, are
// deterministic for a seed, and refuse or stop cleanly.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "data/demo.h"
#include "discovery/concept_method.h"
#include "model/concept_model.h"
#include "model/preprocess.h"
#include "test_models.h"
#include "visualization/feature_visualization.h"

namespace {

struct DemoConcepts {
  std::shared_ptr<dx::ConceptModel> model = dx::ConceptModel::load(dx::demoModelPath());
  std::string layer = model->layer("").name;
  dx::ConceptBasis basis;
  at::Tensor strongestRealPatch;  // I: max over the sample's patches of w . x - b

  explicit DemoConcepts(int concepts) {
    auto images = dx::demoImages();
    const auto& spec = model->meta().input;
    auto x = torch::empty({400, 1, spec.height, spec.width});
    for (int64_t i = 0; i < x.size(0); ++i)
      dx::preprocessImage(images->load(size_t(i) * 25), spec, x[i].data_ptr<float>());
    auto z = model->features(layer, x);
    dx::FitOptions fit;
    fit.concepts = concepts;
    basis = dx::makeConceptMethod("kmeans")->fit(z, fit);
    auto detectors = torch::einsum("ic,nchw->inhw", {basis.decoders, z}).flatten(1) -
                     basis.biases.view({-1, 1});
    strongestRealPatch = std::get<0>(detectors.max(1));
  }
};

dx::RenderOptions quick(int steps, uint64_t seed = 0) {
  dx::RenderOptions o;
  o.steps = steps;
  o.seed = seed;
  return o;
}

}  // namespace

TEST(FeatureVisualization, DemoConceptRenderingsDriveTheirDetectorsAboveTheStrongestRealPatch) {
  DemoConcepts demo(4);
  for (int i = 0; i < demo.basis.concepts(); ++i) {
    auto w = demo.basis.decoders[i];
    double b = demo.basis.biases[i].item<double>();
    auto r = dx::renderDirection(*demo.model, demo.layer, w, b, quick(96, uint64_t(i)));
    double real = demo.strongestRealPatch[i].item<double>();
    EXPECT_GT(r.objective, real) << "concept " << i;
    // The reported objective is the detector on the returned input, measured independently.
    EXPECT_NEAR(dx::detectorAt(*demo.model, demo.layer, r.input, w, b, {}), r.objective, 1e-4);
    EXPECT_EQ(r.image.rows, 28);
    EXPECT_EQ(r.image.channels(), 1);
  }
}

TEST(FeatureVisualization, TheSameSeedGivesTheSameImageAndAnotherSeedAnother) {
  auto model = dx::ConceptModel::load(dx::demoModelPath());
  std::string layer = model->layer("").name;
  auto direction = torch::randn({model->layer(layer).channels},
                                at::detail::createCPUGenerator(5));
  auto a = dx::renderDirection(*model, layer, direction, 0, quick(16, 3));
  auto b = dx::renderDirection(*model, layer, direction, 0, quick(16, 3));
  auto c = dx::renderDirection(*model, layer, direction, 0, quick(16, 4));
  EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(a.image, c.image, cv::NORM_INF), 0.0);
  // More steps drive the objective further.
  auto longer = dx::renderDirection(*model, layer, direction, 0, quick(64, 3));
  EXPECT_GT(longer.objective, a.objective);
}

TEST(FeatureVisualization, ColourModelsRenderBgrWithTheDataColourStatistics) {
  auto model = dx::ConceptModel::load(dx::test::testModel("good_rgb.pt"));
  const auto& layer = model->layer("");
  std::vector<cv::Mat> images;
  cv::RNG rng(1);
  for (int i = 0; i < 8; ++i) {
    cv::Mat img(32, 32, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    images.push_back(img);
  }
  auto options = quick(32);
  options.colourCovariance = dx::colourCovariance(*model, images);
  ASSERT_TRUE(options.colourCovariance.defined());
  EXPECT_EQ(options.colourCovariance.sizes(), (at::IntArrayRef{3, 3}));
  options.size = 40;  // rendered larger than the input, resized for the model
  auto direction = torch::ones({layer.channels});
  auto r = dx::renderDirection(*model, layer.name, direction, 0, options);
  EXPECT_EQ(r.image.channels(), 3);
  EXPECT_EQ(r.image.cols, 40);
  auto start = dx::renderDirection(*model, layer.name, direction, 0, quick(1));
  EXPECT_GT(r.objective, start.objective);
}

TEST(FeatureVisualization, RefusesAWrongWidthAndStopsWhenCancelled) {
  auto model = dx::ConceptModel::load(dx::demoModelPath());
  std::string layer = model->layer("").name;
  EXPECT_THROW(dx::renderDirection(*model, layer, torch::ones({3}), 0), dx::UserError);
  auto options = quick(1000);
  options.progress = [&](const dx::Progress& p) {
    if (p.done >= 8) options.cancel.cancel();
  };
  EXPECT_THROW(dx::renderDirection(*model, layer, torch::ones({model->layer(layer).channels}), 0,
                                   options),
               dx::Cancelled);
}

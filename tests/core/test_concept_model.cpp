#include <gtest/gtest.h>

#include <torch/script.h>
#include <torch/cuda.h>

#include "model/concept_model.h"
#include "base/progress.h"
#include "test_models.h"

using dx::ConceptModel;
using dx::test::testModel;

TEST(ConceptModel, LoadsAValidModelAndSplitsItExactly) {
  auto m = ConceptModel::load(testModel("good_rgb.pt"));
  EXPECT_EQ(m->meta().classes.size(), 3u);
  ASSERT_EQ(m->meta().layers.size(), 2u);
  EXPECT_EQ(m->layer("").name, "conv2");  // empty = deepest
  EXPECT_EQ(m->deviceName(), "cpu");
  EXPECT_EQ(m->fileHash().size(), 16u);
  auto x = torch::randn({5, 3, 16, 16});
  auto z = m->features("conv1", x);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{5, 4, 8, 8}));
  EXPECT_LT((m->head("conv1", z) - m->forward(x)).abs().max().item<float>(), 1e-5f);
}

TEST(ConceptModel, HeadIsDifferentiableWithRespectToActivations) {
  auto m = ConceptModel::load(testModel("good_rgb.pt"));
  auto z = m->features("conv2", torch::randn({2, 3, 16, 16})).clone().requires_grad_(true);
  m->head("conv2", z).select(1, 0).sum().backward();
  ASSERT_TRUE(z.grad().defined());
  EXPECT_GT(z.grad().abs().sum().item<float>(), 0.f);
}

TEST(ConceptModel, GrayModelTakesOneChannel) {
  auto m = ConceptModel::load(testModel("good_gray.pt"));
  EXPECT_EQ(m->meta().input.channels(), 1);
  EXPECT_EQ(m->forward(torch::zeros({1, 1, 16, 16})).size(1), 3);
}

TEST(ConceptModel, UnknownLayerListsTheOfferedOnes) {
  auto m = ConceptModel::load(testModel("good_rgb.pt"));
  try {
    m->layer("layer9");
    FAIL();
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("conv1, conv2"), std::string::npos) << e.what();
  }
}

TEST(ConceptModel, EachContractViolationIsNamedWithItsFix) {
  struct Case {
    const char* file;
    const char* expected;
  } cases[] = {
      {"no_json.pt", "has no directrix.json"},
      {"bad_json.pt", "not valid JSON"},
      {"missing_method.pt", "method 'head_conv2' is missing"},
      {"shape_mismatch.pt", "features_conv2 returns 2x8x4x4 but directrix.json promises 2x16x4x4"},
      {"split_mismatch.pt", "differs from forward(x)"},
      {"wrong_classes.pt", "5 class names imply 2x5"},
      {"not_a_model.pt", "not a TorchScript model archive"},
      {"does_not_exist.pt", "no such model file"},
  };
  for (const auto& c : cases) {
    std::string file = c.file;
    std::string path = file == "does_not_exist.pt" ? std::string("does_not_exist.pt")
                                                   : testModel(file);
    std::string error;
    try {
      ConceptModel::load(path);
    } catch (const dx::UserError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find(c.expected), std::string::npos) << file << ": " << error;
    EXPECT_NE(error.find(file), std::string::npos) << "the message must name the file";
    if (file != "does_not_exist.pt") {
      EXPECT_NE(error.find("export_model.py"), std::string::npos) << error;
    }
  }
}

TEST(ConceptModel, CudaRequestWithoutCudaIsRefusedClearly) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this build has CUDA";
  dx::LoadOptions o;
  o.device = "cuda";
  try {
    ConceptModel::load(testModel("good_rgb.pt"), o);
    FAIL();
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos);
  }
}

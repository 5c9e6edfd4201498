// The CLI's commands called as a library: they live in directrix_cli, which these tests link;
// the directrix-cli executable is its main.cpp alone.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "activations/image_activations.h"
#include "arguments.h"
#include "base/progress.h"
#include "base/tensor_io.h"
#include "commands.h"
#include "data/image_folder.h"
#include "model/concept_model.h"
#include "temp_dir.h"
#include "test_models.h"

namespace dx::cli {
namespace {

std::string userErrorOf(const std::function<void()>& run) {
  try {
    run();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(CliArguments, UnknownAndOutOfRangeOptionsAreNamed) {
  EXPECT_NE(userErrorOf([] { Arguments({"--outt", "x"}, {"out"}, {}); }).find("--outt"),
            std::string::npos);
  Arguments a({"--fdr", "2"}, {"fdr"}, {});
  EXPECT_NE(userErrorOf([&] { a.number("fdr", 0.05, 0, 1); }).find("--fdr"), std::string::npos);
  EXPECT_DOUBLE_EQ(Arguments({"--fdr", "0.1"}, {"fdr"}, {}).number("fdr", 0.05, 0, 1), 0.1);
}

TEST(CliDiscover, WritesConceptsFromAnActivationFile) {
  test::TempDir dir;
  torch::manual_seed(0);
  writeNpyTensor(dir / "acts.npy", torch::rand({40, 6, 3, 3}));
  std::string out = dir / "concepts";
  ASSERT_EQ(runDiscover({"--activations", dir / "acts.npy", "--concepts", "3", "--method", "pca",
                         "--out", out, "--quiet"}),
            0);
  for (const char* file : {"decoders.npy", "biases.npy", "encoders.npy", "image_strength.npy"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + file)) << file;
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(out + "/concepts.json"));
  EXPECT_EQ(doc["format"], "directrix-concepts");
  EXPECT_EQ(doc["method"], "pca");
  EXPECT_EQ(doc["concepts"].size(), 3u);
  EXPECT_EQ(readNpyTensor(out + "/decoders.npy").sizes(), (torch::IntArrayRef{3, 6}));
}

TEST(CliDiscover, MissingOutputFolderIsAUserError) {
  EXPECT_NE(userErrorOf([] { runDiscover({"--concepts", "3"}); }).find("--out"),
            std::string::npos);
}

TEST(CliConceptWorld, WritesASplitWithItsConceptTable) {
  test::TempDir dir;
  ASSERT_EQ(runConceptWorld({"--split", "test", "--count", "6", "--out", dir / "cw", "--quiet"}),
            0);
  EXPECT_TRUE(std::filesystem::exists(dir / "cw/concepts.csv"));
}

// Random 16 x 16 colour PNGs (the tiny ViT's input), `count` of them in `folder`.
void writeRandomImages(const std::filesystem::path& folder, int count, uint64_t seed) {
  std::filesystem::create_directories(folder);
  cv::RNG rng(seed);
  for (int i = 0; i < count; ++i) {
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite((folder / ("img" + std::to_string(i) + ".png")).string(), img);
  }
}

// At a vision transformer's token layer the head reads each image's class token as well as its
// patches (README, "Bring your own model"): tcav pairs every class image with its own token.
TEST(CliTcav, ScoresConceptsAtAVisionTransformerLayer) {
  test::TempDir dir;
  const std::string model = test::testModel("tiny_vit.pt"), layer = "encoder_layers_encoder_layer_1";
  writeRandomImages(dir.path() / "images", 16, 11);
  std::vector<std::string> args = {"--model", model, "--layer", layer, "--images", dir / "images",
                                   "--select", "predicted", "--classifier", "mean", "--quiet",
                                   "--concept", dir / "striped", "--out", dir / "out"};
  writeRandomImages(dir.path() / "striped", 8, 21);
  for (int r = 0; r < 4; ++r) {
    std::string folder = dir / ("random_" + std::to_string(r));
    writeRandomImages(folder, 8, 31 + r);
    args.insert(args.end(), {"--random", folder});
  }
  // The class the model predicts most often among the images (random weights).
  auto vit = ConceptModel::load(model);
  auto acts = imageActivations(*vit, std::make_shared<ImageFolder>(dir.path() / "images"), layer);
  ASSERT_TRUE(acts.classTokens.defined());
  auto counts = acts.logits.argmax(1).bincount();
  const std::string cls = vit->meta().classes.at(size_t(counts.argmax().item<int64_t>()));
  args.insert(args.end(), {"--class", cls});

  ASSERT_EQ(runTcav(args), 0);
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(dir / "out/scores.json"));
  EXPECT_EQ(doc["class"], cls);
  EXPECT_EQ(doc["class_images"], counts.max().item<int64_t>());
  ASSERT_EQ(doc["concepts"].size(), 1u);
  ASSERT_EQ(doc["concepts"][0]["scores"].size(), 4u);
  for (double score : doc["concepts"][0]["scores"]) EXPECT_TRUE(score >= 0 && score <= 1) << score;
  EXPECT_EQ(doc["random"]["scores"].size(), 2u);  // pairs (0, 1) and (2, 3)
}

}  // namespace
}  // namespace dx::cli

// The CLI's commands called as a library: they live in directrix_cli, which these tests link;
// the directrix-cli executable is its main.cpp alone.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
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
#include "tcav/tcav.h"
#include "tcav/tcav_inputs.h"
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

// The tiny ViT's TCAV inputs in `dir`: 16 class images, a concept folder "striped" and 4 random
// folders (returned); `args` gets the common options, the concept and the random folders.
std::vector<std::string> writeTcavFolders(const test::TempDir& dir, const std::string& model,
                                          const std::string& layer,
                                          std::vector<std::string>& args) {
  writeRandomImages(dir.path() / "images", 16, 11);
  writeRandomImages(dir.path() / "striped", 8, 21);
  args.insert(args.end(), {"--model", model, "--layer", layer, "--classifier", "mean", "--quiet",
                           "--concept", dir / "striped"});
  std::vector<std::string> randomDirs;
  for (int r = 0; r < 4; ++r) {
    randomDirs.push_back(dir / ("random_" + std::to_string(r)));
    writeRandomImages(randomDirs.back(), 8, 31 + r);
    args.insert(args.end(), {"--random", randomDirs.back()});
  }
  return randomDirs;
}

// The class the model predicts most often among `acts` (random weights) and how often.
std::pair<int64_t, int64_t> mostPredicted(const ImageActivations& acts) {
  auto counts = acts.logits.argmax(1).bincount();
  return {counts.argmax().item<int64_t>(), counts.max().item<int64_t>()};
}

// At a vision transformer's token layer the head reads each image's class token as well as its
// patches (README, "Bring your own model"): tcav pairs every class image with its own token, with
// --images and with the random images predicted as the class.
TEST(CliTcav, ScoresConceptsAtAVisionTransformerLayerWithEachImagesClassToken) {
  test::TempDir dir;
  const std::string model = test::testModel("tiny_vit.pt"), layer = "encoder_layers_encoder_layer_1";
  std::vector<std::string> common;
  auto randomDirs = writeTcavFolders(dir, model, layer, common);
  auto vit = ConceptModel::load(model);
  auto acts = imageActivations(*vit, std::make_shared<ImageFolder>(dir.path() / "images"), layer);
  ASSERT_TRUE(acts.classTokens.defined());
  const auto [k, count] = mostPredicted(acts);
  const int64_t explained = k;  // C++17 lambdas cannot capture a structured binding
  auto args = common;
  args.insert(args.end(), {"--class", vit->meta().classes.at(size_t(k)), "--images", dir / "images",
                           "--select", "predicted", "--out", dir / "out"});
  ASSERT_EQ(runTcav(args), 0);
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(dir / "out/scores.json"));
  EXPECT_EQ(doc["class_images"], count);
  ASSERT_EQ(doc["concepts"].size(), 1u);
  ASSERT_EQ(doc["concepts"][0]["scores"].size(), 4u);
  EXPECT_EQ(doc["random"]["scores"].size(), 2u);  // pairs (0, 1) and (2, 3)

  // The same run in the core with the class images' own tokens gives the same derivatives; with
  // the tokens in another order it does not (so the pairing is what the CLI got right).
  std::string how;
  auto chosen = selectRows(acts, classRows(acts.labels, {}, predictedClasses(acts),
                                           vit->meta().classes.at(size_t(k)), k, "predicted",
                                           &how, "images"));
  auto concepts = folderSets(*vit, {dir / "striped"}, layer, 0);
  auto randoms = folderSets(*vit, randomDirs, layer, 0);
  TcavOptions o;
  o.cav.classifier = "mean";
  auto derivatives = [&](const at::Tensor& tokens) {
    return dx::runTcav(vit->headFunction(layer, tokens), chosen.activations, explained, concepts,
                       randoms, {}, o)
        .concepts.at(0)
        .meanDerivatives;
  };
  auto own = derivatives(chosen.classTokens);
  std::vector<double> fromCli = doc["concepts"][0]["mean_derivatives"];
  ASSERT_EQ(fromCli.size(), own.size());
  for (size_t r = 0; r < own.size(); ++r)
    EXPECT_NEAR(fromCli[r], own[r], 1e-9 + 1e-6 * std::abs(own[r]));
  auto shuffled = derivatives(chosen.classTokens.roll(1, 0));
  double difference = 0;
  for (size_t r = 0; r < own.size(); ++r)
    difference = std::max(difference, std::abs(shuffled[r] - own[r]));
  EXPECT_GT(difference, 1e-6);

  // Without --images: the random images the model predicts as its most predicted class there.
  std::vector<at::Tensor> randomLogits;
  for (const auto& set : folderActivations(*vit, randomDirs, layer, 0))
    randomLogits.push_back(set.acts.logits);
  ImageActivations pooled;
  pooled.logits = at::cat(randomLogits);
  auto [kRandom, countRandom] = mostPredicted(pooled);
  args = common;
  args.insert(args.end(), {"--class", vit->meta().classes.at(size_t(kRandom)), "--out",
                           dir / "no_images"});
  ASSERT_EQ(runTcav(args), 0);
  doc = nlohmann::json::parse(std::ifstream(dir / "no_images/scores.json"));
  EXPECT_EQ(doc["class_images"], countRandom);
  EXPECT_EQ(doc["class_selection"], "random images predicted as the class");
}

// --class-token: TCAV on each image's class token, an image-level vector: CAVs of C values trained on the folders' class tokens, derivatives of the logit with
// respect to each class image's own token with its patch grid held. The CLI equals the core run
// on those vectors; the derivative equals a finite difference of the head; a layer without class
// tokens and --spatial are refused with the fix.
TEST(CliTcav, ScoresConceptsOnEachImagesClassToken) {
  test::TempDir dir;
  const std::string model = test::testModel("tiny_vit.pt"), layer = "encoder_layers_encoder_layer_1";
  std::vector<std::string> args = {"--class-token"};
  auto randomDirs = writeTcavFolders(dir, model, layer, args);
  auto vit = ConceptModel::load(model);
  auto acts = imageActivations(*vit, std::make_shared<ImageFolder>(dir.path() / "images"), layer);
  const int64_t k = mostPredicted(acts).first;
  const std::string className = vit->meta().classes.at(size_t(k));
  auto withClass = args;
  withClass.insert(withClass.end(), {"--class", className, "--images", dir / "images", "--select",
                                     "predicted", "--out", dir / "out"});
  ASSERT_EQ(runTcav(withClass), 0);
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(dir / "out/scores.json"));
  EXPECT_EQ(doc["vector"], "class token");
  std::vector<double> fromCli = doc["concepts"][0]["mean_derivatives"];

  std::string how;
  auto chosen = selectRows(acts, classRows(acts.labels, {}, predictedClasses(acts), className, k,
                                           "predicted", &how, "images"));
  auto concepts = classTokenSets(folderActivations(*vit, {dir / "striped"}, layer, 0));
  auto randoms = classTokenSets(folderActivations(*vit, randomDirs, layer, 0));
  const int64_t channels = acts.classTokens.size(2);
  ASSERT_EQ(concepts.at(0).activations.sizes(), (at::IntArrayRef{8, channels, 1, 1}));
  TcavOptions o;
  o.cav.classifier = "mean";
  auto head = vit->classTokenHead(layer, chosen.activations);
  auto vectors = classTokenVectors(chosen.classTokens);
  auto core = dx::runTcav(head, vectors, k, concepts, randoms, {}, o);
  const auto& own = core.concepts.at(0).meanDerivatives;
  ASSERT_EQ(fromCli.size(), own.size());
  for (size_t r = 0; r < own.size(); ++r)
    EXPECT_NEAR(fromCli[r], own[r], 1e-9 + 1e-6 * std::abs(own[r]));

  // The gradient is the head's own: a small step along a CAV changes the logit by step x S.
  auto gradients = logitGradients(head, vectors, k);
  auto cav = core.concepts.at(0).cavs.at(0).direction.reshape({1, channels, 1, 1});
  const double step = 1e-2;
  auto logit = [&](const at::Tensor& v) { return head(v).select(1, k).to(torch::kDouble); };
  auto change = (logit(vectors + step * cav) - logit(vectors - step * cav)) / (2 * step);
  auto predicted = (gradients * cav).sum({1, 2, 3}).to(torch::kDouble);
  EXPECT_LT((change - predicted).abs().max().item<double>(),
            1e-3 * (1 + predicted.abs().max().item<double>()));
  EXPECT_GT(predicted.abs().max().item<double>(), 0);
  // Each token is paired with its own image's patches: another image's grid gives other values.
  auto paired = logitGradients(vit->classTokenHead(layer, chosen.activations.roll(1, 0)),
                               vectors, k);
  EXPECT_GT((paired - gradients).abs().max().item<double>(), 1e-6);

  auto refused = args;
  refused.insert(refused.end(), {"--class", className, "--spatial", "--out", dir / "x"});
  EXPECT_NE(userErrorOf([&] { runTcav(refused); }).find("has no positions for SACV; drop one"),
            std::string::npos);
  auto withEncoders = args;
  withEncoders.insert(withEncoders.end(), {"--class", className, "--encoders", dir / "e.npy",
                                           "--out", dir / "x"});
  EXPECT_NE(userErrorOf([&] { runTcav(withEncoders); }).find("drop one of them"),
            std::string::npos);
  auto cnn = args;
  std::replace(cnn.begin(), cnn.end(), model, test::testModel("good_rgb.pt"));
  std::replace(cnn.begin(), cnn.end(), layer, std::string());  // its deepest layer
  cnn.insert(cnn.end(), {"--class", "0", "--out", dir / "y"});
  EXPECT_NE(userErrorOf([&] { runTcav(cnn); }).find("has no class token; choose a transformer"),
            std::string::npos);
}

}  // namespace
}  // namespace dx::cli

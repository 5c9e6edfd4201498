// Transformer layers (README, "Bring your own model"): a ViT's token layer is seen as an N x C x h x w
// patch grid and keeps its class tokens for the head; a Swin's channels-last stage is permuted.
#include <gtest/gtest.h>

#include <torch/script.h>

#include <opencv2/imgcodecs.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "activations/extractor.h"
#include "analysis/concept_session.h"
#include "base/tensor_io.h"
#include "data/image_folder.h"
#include "tcav/tcav.h"
#include "tcav/tcav_inputs.h"
#include "tcav/tcav_study.h"
#include "temp_dir.h"
#include "test_models.h"

using dx::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char kVitLayer[] = "encoder_layers_encoder_layer_1";

nlohmann::json readJson(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::shared_ptr<dx::ConceptModel> vit() {
  return dx::ConceptModel::load(dx::test::testModel("tiny_vit.pt"));
}

void makeImages(const TempDir& d, int count, uint64_t seed = 11) {
  cv::RNG rng(seed);
  for (int i = 0; i < count; ++i) {
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    std::string cls = i % 2 ? "alpha" : "beta";
    fs::create_directories(d.path() / "images" / cls);
    cv::imwrite(d / ("images/" + cls + "/img" + std::to_string(i) + ".png"), img);
  }
}

std::shared_ptr<const dx::ActivationCache> extract(const TempDir& d,
                                                   std::shared_ptr<dx::ConceptModel> model,
                                                   const std::string& layer) {
  dx::ExtractionRequest r;
  r.model = model;
  r.source = std::make_shared<dx::ImageFolder>(d.path() / "images");
  r.layer = layer;
  r.outDir = d / ("cache_" + layer);
  r.batchSize = 5;
  return std::make_shared<dx::ActivationCache>(dx::extractActivations(r).dir);
}

// A concept set discovered on 12 images' ViT cache into d/<name>, with its concepts.json path.
struct DiscoveredSet {
  std::shared_ptr<dx::ConceptModel> model;
  std::shared_ptr<const dx::ActivationCache> cache;
  fs::path json;
};

DiscoveredSet discoveredSet(const TempDir& d, const dx::DiscoverySettings& settings,
                            const std::string& name) {
  makeImages(d, 12);
  DiscoveredSet set{vit(), nullptr, fs::path(d / name) / "concepts.json"};
  set.cache = extract(d, set.model, kVitLayer);
  dx::ConceptSession::discover(set.model, set.cache, settings, d / name);
  return set;
}

}  // namespace

TEST(TokenLayers, VitLayerIsAPatchGridWhoseHeadAlsoReadsTheClassToken) {
  auto m = vit();
  const auto& layer = m->layer(kVitLayer);
  EXPECT_EQ(layer.layout, "tokens");
  EXPECT_EQ(layer.classTokens, 1);
  auto x = torch::randn({3, 3, 16, 16});
  auto [z, tokens] = m->featuresWithClassTokens(kVitLayer, x);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{3, 8, 4, 4}));
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{3, 1, 8}));
  EXPECT_TRUE(torch::equal(z, m->features(kVitLayer, x)));
  EXPECT_LT((m->head(kVitLayer, z, tokens) - m->forward(x)).abs().max().item<float>(), 1e-5f);
  // The class token is part of the head's input: without it the head refuses, naming the fix.
  try {
    m->head(kVitLayer, z);
    FAIL();
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("class tokens"), std::string::npos) << e.what();
  }
}

TEST(TokenLayers, HeadFunctionPairsEachImageWithItsOwnClassToken) {
  auto m = vit();
  auto x = torch::randn({4, 3, 16, 16});
  auto [z, tokens] = m->featuresWithClassTokens(kVitLayer, x);
  auto head = m->headFunction(kVitLayer, tokens);
  ASSERT_TRUE(head.hasContext());
  auto all = head(z);
  EXPECT_LT((all - m->forward(x)).abs().max().item<float>(), 1e-5f);
  auto rows = torch::tensor({3, 1}, torch::kLong);
  EXPECT_LT((head.rows(rows)(z.index_select(0, rows)) - all.index_select(0, rows))
                .abs().max().item<float>(), 1e-5f);
  EXPECT_LT((head.rows(2, 1)(z.slice(0, 2, 3)) - all.slice(0, 2, 3)).abs().max().item<float>(),
            1e-5f);
  EXPECT_THROW(head(z.slice(0, 0, 3)), dx::UserError);  // 3 images for 4 class tokens
}

TEST(TokenLayers, VitCacheKeepsClassTokensAndDiscoveryEditsUseThem) {
  TempDir d;
  makeImages(d, 12);
  auto m = vit();
  auto cache = extract(d, m, kVitLayer);
  ASSERT_NE(cache->classTokens(), nullptr);
  EXPECT_EQ(cache->classTokens()->shape(), (std::vector<size_t>{12, 1, 8}));
  auto z = dx::readNpyTensor(cache->dir() + "/activations.npy");
  auto tokens = dx::readNpyTensor(cache->classTokens()->path());
  auto logits = dx::readNpyTensor(cache->dir() + "/logits.npy");
  EXPECT_LT((m->head(kVitLayer, z, tokens) - logits).abs().max().item<float>(), 1e-5f);

  dx::DiscoverySettings settings{"eddp", "quick", 3, 0};
  auto session = dx::ConceptSession::discover(m, cache, settings, d / "concepts");
  ASSERT_EQ(session->concepts(), 3);
  // No edit: the image's own logits (its class token, not another image's).
  for (size_t image : {size_t(0), size_t(7)}) {
    auto probabilities = session->counterfactual(image, {});
    auto expected = torch::softmax(logits[int64_t(image)], 0);
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(probabilities[size_t(k)], expected[k].item<float>(), 1e-5f) << image;
  }
  auto effect = session->applyToDataset({{0, -1.0}});
  EXPECT_EQ(effect.confusionBefore.size(), 9u);
  auto reopened = dx::ConceptSession::open(m, cache, d / "concepts");
  EXPECT_EQ(reopened->counterfactual(7, {}), session->counterfactual(7, {}));
}

TEST(TokenLayers, SessionMeasuresSeedStabilityAndSavesIt) {
  TempDir d;
  makeImages(d, 12);
  auto m = vit();
  auto cache = extract(d, m, kVitLayer);
  // PCA does not depend on its seed: every refit finds the same concepts.
  auto pca = dx::ConceptSession::discover(m, cache, {"pca", "balanced", 3, 0}, d / "pca");
  auto pcaCheck = pca->measureStability(2);
  ASSERT_EQ(pcaCheck.stability.size(), 3u);
  for (double v : pcaCheck.stability) EXPECT_DOUBLE_EQ(v, 1.0);
  auto session = dx::ConceptSession::discover(m, cache, {"kmeans", "balanced", 3, 4}, d / "km");
  EXPECT_TRUE(std::isnan(session->concept(0).stability));
  auto check = session->measureStability(2);
  ASSERT_EQ(check.stability.size(), 3u);
  for (double v : check.stability) EXPECT_TRUE(v >= 0 && v <= 1) << v;
  EXPECT_EQ(check.refitSeeds, (std::vector<uint64_t>{5, 6}));
  const auto& shape = cache->activations().shape();  // every patch: fewer than the sample size
  EXPECT_EQ(check.samplePatches, int64_t(shape[0] * shape[2] * shape[3]));
  EXPECT_THROW(session->setStability({{0.5}}), dx::UserError);
  check.stability = {0.25, 0.75, 1.0};
  session->setStability(check);
  session->save();
  auto reopened = dx::ConceptSession::open(m, cache, d / "km");
  EXPECT_DOUBLE_EQ(reopened->concept(0).stability, 0.25);
  EXPECT_DOUBLE_EQ(reopened->concept(2).stability, 1.0);
  // How it was measured is saved too, as the CLI's discover --stability writes it.
  auto block = readJson(fs::path(d / "km") / "concepts.json")["stability_check"];
  EXPECT_EQ(block["refits"], 2);
  EXPECT_EQ(block["refit_seeds"], nlohmann::json({5, 6}));
  EXPECT_EQ(block["unstable_concepts"], 1);
  EXPECT_EQ(block["sample_patches"], check.samplePatches);
}

// The session writes back the keys of concepts.json it does not own (the CLI's provenance:
// fit time, ranks, a stability check), so a label edited in the GUI loses none of them.
TEST(TokenLayers, SavingASessionKeepsHowTheSetWasMade) {
  TempDir d;
  auto [m, cache, path] = discoveredSet(d, {"pca", "balanced", 3, 0}, "pca");
  auto doc = readJson(path);
  EXPECT_FALSE(doc.contains("adaptive_choice"));  // only a fit that chose records a choice
  doc["seconds"] = 12.5;
  doc["stability_check"] = {{"refits", 3}};
  std::ofstream(path) << doc.dump(1);
  auto session = dx::ConceptSession::open(m, cache, d / "pca");
  session->setLabel(1, "striped");
  session->save();
  auto saved = readJson(path);
  EXPECT_EQ(saved["seconds"], 12.5);
  EXPECT_EQ(saved["stability_check"]["refits"], 3);
  EXPECT_EQ(saved["concepts"][1]["label"], "striped");
  EXPECT_EQ(saved["method"], "pca");
  // A check made in the GUI replaces the CLI's block; values alone (no refits) remove it.
  session->setStability({{1.0, 1.0, 1.0}, {7, 8}, 100, 2.0});
  session->save();
  saved = readJson(path);
  EXPECT_EQ(saved["stability_check"]["refit_seeds"], nlohmann::json({7, 8}));
  EXPECT_EQ(saved["seconds"], 12.5);
  session->setStability({{0.2, 0.9, 1.0}});
  session->save();
  saved = readJson(path);
  EXPECT_FALSE(saved.contains("stability_check"));
  EXPECT_DOUBLE_EQ(saved["concepts"][0]["stability"].get<double>(), 0.2);
}

TEST(TokenLayers, TcavStudyAtAVitLayerUsesTheClassImagesTokens) {
  TempDir d;
  makeImages(d, 12);
  uint64_t seed = 20;
  for (const char* set : {"concept", "random_a", "random_b", "random_c"}) {
    TempDir src;
    makeImages(src, 8, ++seed);
    fs::rename(src.path() / "images" / "alpha", d.path() / set);
  }
  dx::TcavRequest r;
  r.model = vit();
  r.layer = kVitLayer;
  r.classImages = std::make_shared<dx::ImageFolder>(d.path() / "images");
  r.select = "predicted";
  r.conceptDirs = {d / "concept"};
  r.randomDirs = {d / "random_a", d / "random_b", d / "random_c"};
  r.classifier = "mean";
  auto cache = extract(d, std::const_pointer_cast<dx::ConceptModel>(r.model), kVitLayer);
  r.cache = cache;
  r.classIndex = int(cache->prediction(0));  // a class the model predicts for some images
  auto outcome = dx::runTcavStudy(r);
  ASSERT_EQ(outcome.report.concepts.size(), 1u);
  EXPECT_EQ(outcome.report.concepts[0].scores.size(), 3u);
  EXPECT_TRUE(outcome.study->hasMaps());

  // On the class token (the GUI's "On the class token"): the same runs with CAVs on the tokens
  // and derivatives with respect to each class image's own token, as runTcav gives them.
  r.classToken = true;
  auto onToken = dx::runTcavStudy(r);
  ASSERT_EQ(onToken.report.concepts.size(), 1u);
  EXPECT_FALSE(onToken.study->hasMaps());
  EXPECT_EQ(onToken.study->concepts(), 1);
  std::vector<int64_t> rows;
  for (size_t i = 0; i < cache->size(); ++i)
    if (cache->prediction(i) == r.classIndex) rows.push_back(int64_t(i));
  auto index = torch::tensor(rows, torch::kLong);
  auto grid = dx::npyRows(cache->activations(), 0, cache->size()).index_select(0, index);
  auto tokens = dx::npyRows(*cache->classTokens(), 0, cache->size()).index_select(0, index);
  auto sets = [&](const std::vector<std::string>& dirs) {
    return dx::classTokenSets(dx::folderActivations(*r.model, dirs, kVitLayer, 0));
  };
  dx::TcavOptions o;
  o.cav.classifier = "mean";
  o.runs = 3;
  auto direct = dx::runTcav(r.model->classTokenHead(kVitLayer, grid),
                            dx::classTokenVectors(tokens), r.classIndex,
                            sets(r.conceptDirs), sets(r.randomDirs), {}, o);
  const auto& expected = direct.concepts.at(0).meanDerivatives;
  const auto& got = onToken.report.concepts[0].meanDerivatives;
  ASSERT_EQ(got.size(), expected.size());
  for (size_t run = 0; run < got.size(); ++run)
    EXPECT_NEAR(got[run], expected[run], 1e-9 + 1e-6 * std::abs(expected[run]));
  bool noted = false;
  for (const auto& note : onToken.report.notes) noted |= note.find("class token") != std::string::npos;
  EXPECT_TRUE(noted);
  EXPECT_THROW(dx::sacvRelevance(*onToken.study, 0, *cache, 0, nullptr, nullptr), dx::UserError);
  r.spatial = true;
  EXPECT_THROW(dx::runTcavStudy(r), dx::UserError);
}

TEST(TokenLayers, SwinChannelsLastStageIsPermutedIntoAGrid) {
  auto m = dx::ConceptModel::load(dx::test::testModel("tiny_swin.pt"));
  const auto& layer = m->layer("features_1");
  EXPECT_EQ(layer.layout, "nhwc");
  EXPECT_EQ(layer.classTokens, 0);
  auto x = torch::randn({2, 3, 16, 16});
  auto z = m->features("features_1", x);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{2, 8, 8, 8}));
  EXPECT_LT((m->head("features_1", z) - m->forward(x)).abs().max().item<float>(), 1e-5f);
  TempDir d;
  makeImages(d, 6);
  auto cache = extract(d, m, "features_3");
  EXPECT_EQ(cache->classTokens(), nullptr);
  EXPECT_EQ(cache->activations().shape(), (std::vector<size_t>{6, 16, 4, 4}));
}

TEST(TokenLayers, TheAdaptivePresetRecordsWhichFitItRanAndASaveKeepsIt) {
  TempDir d;
  auto [m, cache, path] = discoveredSet(d, {"eddp", "adaptive", 3, 0}, "adaptive");
  auto block = readJson(path)["adaptive_choice"];
  ASSERT_TRUE(block.is_object());
  std::string fitted = block["fitted"];
  EXPECT_TRUE(fitted == "partition" || fitted == "ica-valley" || fitted == "balanced") << fitted;
  double agreement = block["kmeans_agreement"];
  EXPECT_GE(agreement, 0.0);
  EXPECT_LE(agreement, 1.0);
  bool agreed = agreement >= block["threshold"].get<double>();
  // Partition also where balanced left a degenerate detector and partition's had none.
  bool refitted = block.contains("degenerate_balanced") &&
                  block["degenerate_balanced"]["partition_taken"].get<bool>();
  EXPECT_EQ(fitted == "partition", agreed || refitted);
  // Where partition was not chosen, the ica-valley measures that chose between the other two.
  EXPECT_EQ(!agreed, block.contains("ica_valley"));
  if (!agreed && !refitted) {
    auto valley = block["ica_valley"];
    bool repeatable = valley["agreement"] >= valley["agreement_threshold"];
    bool unclaimed = valley["unclaimed"] >= valley["unclaimed_threshold"];
    EXPECT_EQ(fitted == "ica-valley", repeatable && unclaimed) << valley;
  }
  // The encoder step's record: the single-firing share against its threshold, and the concepts
  // whose encoders came from ICA (none where the step did not run, which says why).
  auto ica = block["ica_encoders"];
  ASSERT_TRUE(ica.is_object()) << block;
  double single = ica["single_firing"], threshold = ica["single_firing_threshold"];
  EXPECT_GE(single, 0.0);
  EXPECT_LE(single, 1.0);
  ASSERT_TRUE(ica["concepts"].is_array());
  std::vector<int> icaConcepts = ica["concepts"];
  if (single < threshold) {
    EXPECT_TRUE(ica.contains("skipped")) << ica;
  }
  if (ica.contains("skipped")) {
    EXPECT_TRUE(icaConcepts.empty()) << ica;
  }
  for (int i : icaConcepts) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 3);
  }
  auto session = dx::ConceptSession::open(m, cache, d / "adaptive");
  EXPECT_EQ(session->fittedPreset(), fitted);
  EXPECT_EQ(session->icaEncoderConcepts(), icaConcepts);
  session->setLabel(0, "striped");
  session->save();
  EXPECT_EQ(readJson(path)["adaptive_choice"], block);
  // A block that is not what the fit writes names no preset (the GUI shows the settings only).
  for (auto bad : {nlohmann::json("balanced"), nlohmann::json{{"fitted", 3}}}) {
    auto doc = readJson(path);
    doc["adaptive_choice"] = bad;
    std::ofstream(path) << doc.dump(1);
    EXPECT_EQ(dx::ConceptSession::open(m, cache, d / "adaptive")->fittedPreset(), "") << bad;
  }
}

#include <gtest/gtest.h>

#include <torch/script.h>

#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "extractor.h"
#include "image_folder.h"
#include "preprocess.h"
#include "temp_dir.h"
#include "test_models.h"

using cs::test::TempDir;
namespace fs = std::filesystem;

namespace {

// 7 random images in two classes, one corrupt file and one text file.
void makeFolder(const TempDir& d) {
  cv::RNG rng(7);
  for (int i = 0; i < 7; ++i) {
    cv::Mat img(20 + i, 24, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    std::string cls = i % 2 ? "cats" : "dogs";
    fs::create_directories(d.path() / "images" / cls);
    cv::imwrite(d / ("images/" + cls + "/img" + std::to_string(i) + ".png"), img);
  }
  std::ofstream(d / "images/cats/broken.png", std::ios::binary) << "\x89PNG\r\n\x1a\n broken";
  std::ofstream(d / "images/dogs/notes.txt") << "not an image";
}

struct Fixture {
  TempDir dir;
  cs::ExtractionRequest request;
  Fixture() {
    makeFolder(dir);
    request.model = cs::ConceptModel::load(cs::test::testModel("good_rgb.pt"));
    request.source = std::make_shared<cs::ImageFolder>(dir.path() / "images");
    request.layer = "conv1";
    request.outDir = dir / "cache";
    request.batchSize = 3;
  }
};

at::Tensor expectedFeatures(const Fixture& f, size_t i) {
  const auto& spec = f.request.model->meta().input;
  std::vector<float> px(size_t(3 * spec.height * spec.width));
  EXPECT_EQ(cs::preprocessImage(f.request.source->load(i), spec, px.data()), "");
  auto x = torch::from_blob(px.data(), {1, 3, spec.height, spec.width}).clone();
  return f.request.model->features("conv1", x)[0];
}

}  // namespace

TEST(Extractor, CacheEqualsDirectForwardAndSkipsBadFiles) {
  Fixture f;
  std::vector<cs::Progress> seen;
  auto r = cs::extractActivations(f.request, [&](const cs::Progress& p) { seen.push_back(p); });
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.images, 7u);
  cs::ActivationCache c(r.dir);
  ASSERT_EQ(c.size(), 7u);
  EXPECT_EQ(c.activations().shape(), (std::vector<size_t>{7, 4, 8, 8}));
  EXPECT_EQ(c.logits().shape(), (std::vector<size_t>{7, 3}));
  EXPECT_EQ(c.labelClasses(), (std::vector<std::string>{"cats", "dogs"}));
  for (size_t row = 0; row < c.size(); ++row) {
    size_t src = 0;
    while (f.request.source->itemName(src) != c.files()[row]) ++src;
    auto stored = torch::from_blob(const_cast<uint8_t*>(c.activations().row(row)), {4, 8, 8});
    EXPECT_LT((stored - expectedFeatures(f, src)).abs().max().item<float>(), 1e-5f);
    auto logits = torch::from_blob(const_cast<uint8_t*>(c.logits().row(row)), {3});
    EXPECT_EQ(c.prediction(row), logits.argmax().item<int64_t>());
    EXPECT_EQ(c.label(row), f.request.source->label(src));
  }
  ASSERT_EQ(c.skipped().size(), 2u);
  EXPECT_NE(c.skipped()[0].path.find("notes.txt"), std::string::npos);  // found by the scan
  EXPECT_EQ(c.skipped()[1].path, "cats/broken.png");                    // found by decoding
  EXPECT_NE(c.skipped()[1].reason.find("decoded"), std::string::npos);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().done, 8);  // 8 image-like files were attempted
  EXPECT_EQ(seen.back().total, 8);
}

TEST(Extractor, CompleteCacheIsReusedAndAnyChangeInvalidatesIt) {
  Fixture f;
  auto first = cs::extractActivations(f.request);
  EXPECT_TRUE(cs::extractActivations(f.request).reused);
  auto otherLayer = f.request;
  otherLayer.layer = "conv2";
  EXPECT_NE(cs::extractionKey(otherLayer), first.key);
  auto limited = f.request;
  limited.limit = 3;
  EXPECT_NE(cs::extractionKey(limited), first.key);
  auto half = f.request;
  half.float16 = true;
  EXPECT_NE(cs::extractionKey(half), first.key);
  // Rewrite one image with other content and size: the folder fingerprint and key change.
  cv::imwrite(f.dir / "images/dogs/img0.png", cv::Mat(30, 30, CV_8UC3, cv::Scalar::all(9)));
  auto changed = f.request;
  changed.source = std::make_shared<cs::ImageFolder>(f.dir.path() / "images");
  auto again = cs::extractActivations(changed);
  EXPECT_FALSE(again.reused);
  EXPECT_NE(again.key, first.key);
}

TEST(Extractor, CancelLeavesThePreviousCacheIntactAndNoPartialFolder) {
  Fixture f;
  auto first = cs::extractActivations(f.request);
  auto before = fs::file_size(fs::path(first.dir) / "activations.npy");
  auto redo = f.request;
  redo.reuse = false;
  cs::CancelToken token;
  EXPECT_THROW(cs::extractActivations(redo, [&](const cs::Progress&) { token.cancel(); }, token),
               cs::Cancelled);
  EXPECT_TRUE(cs::cacheIsComplete(first.dir, first.key));
  EXPECT_EQ(fs::file_size(fs::path(first.dir) / "activations.npy"), before);
  for (const auto& e : fs::directory_iterator(f.dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
}

TEST(Extractor, InterruptedWriteNeverLooksComplete) {
  Fixture f;
  auto key = cs::extractionKey(f.request);
  {
    cs::CacheStaging staging(f.request.outDir);
    std::ofstream(staging.dir() + "/cache.json") << R"({"key": ")" << key << R"(", "complete": true})";
    // destroyed without commit(), as when a run dies mid-way
  }
  EXPECT_FALSE(cs::cacheIsComplete(f.request.outDir, key));
  EXPECT_FALSE(fs::exists(f.request.outDir));
  fs::create_directories(f.request.outDir);
  std::ofstream(f.request.outDir + "/cache.json") << R"({"key": ")" << key << R"("})";
  EXPECT_FALSE(cs::cacheIsComplete(f.request.outDir, key));  // no "complete": true
  EXPECT_THROW(cs::ActivationCache c(f.request.outDir), cs::UserError);
}

TEST(Extractor, Float16HalvesTheActivationsFile) {
  Fixture f;
  f.request.float16 = true;
  auto r = cs::extractActivations(f.request);
  cs::ActivationCache c(r.dir);
  EXPECT_EQ(c.activations().descr(), "<f2");
  EXPECT_EQ(c.activations().rowBytes(), 4u * 8 * 8 * 2);
  auto stored = torch::from_blob(const_cast<uint8_t*>(c.activations().row(0)), {4, 8, 8},
                                 torch::kHalf).to(torch::kFloat);
  size_t src = 0;
  while (f.request.source->itemName(src) != c.files()[0]) ++src;
  EXPECT_LT((stored - expectedFeatures(f, src)).abs().max().item<float>(), 1e-2f);
}

TEST(Extractor, RefusesACacheInsideTheImageFolderAndHonoursLimit) {
  Fixture f;
  auto inside = f.request;
  inside.outDir = f.dir / "images/cache";
  EXPECT_THROW(cs::extractActivations(inside), cs::UserError);
  auto limited = f.request;
  limited.limit = 4;  // the first 4 files: cats/broken.png, img1, img3, img5
  EXPECT_EQ(cs::extractActivations(limited).images, 3u);
}

TEST(Extractor, AllImagesUnusableIsAClearError) {
  TempDir d;
  fs::create_directories(d.path() / "imgs");
  std::ofstream(d / "imgs/a.png", std::ios::binary) << "\x89PNG\r\n\x1a\n broken";
  cs::ExtractionRequest r;
  r.model = cs::ConceptModel::load(cs::test::testModel("good_rgb.pt"));
  r.source = std::make_shared<cs::ImageFolder>(d.path() / "imgs");
  r.outDir = d / "out";
  EXPECT_THROW(cs::extractActivations(r), cs::UserError);
  EXPECT_FALSE(fs::exists(d / "out"));
}

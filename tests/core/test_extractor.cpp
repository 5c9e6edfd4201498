#include <gtest/gtest.h>

#include <torch/script.h>

#include <fstream>
#include <future>

#include <opencv2/imgcodecs.hpp>

#include "activations/extractor.h"
#include "base/write_behind.h"
#include "data/image_folder.h"
#include "model/preprocess.h"
#include "temp_dir.h"
#include "test_models.h"

using dx::test::TempDir;
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
  dx::ExtractionRequest request;
  Fixture() {
    makeFolder(dir);
    request.model = dx::ConceptModel::load(dx::test::testModel("good_rgb.pt"));
    request.source = std::make_shared<dx::ImageFolder>(dir.path() / "images");
    request.layer = "conv1";
    request.outDir = dir / "cache";
    request.batchSize = 3;
  }
};

at::Tensor expectedFeatures(const Fixture& f, size_t i) {
  const auto& spec = f.request.model->meta().input;
  std::vector<float> px(size_t(3 * spec.height * spec.width));
  EXPECT_EQ(dx::preprocessImage(f.request.source->load(i), spec, px.data()), "");
  auto x = torch::from_blob(px.data(), {1, 3, spec.height, spec.width}).clone();
  return f.request.model->features("conv1", x)[0];
}

}  // namespace

TEST(Extractor, CacheEqualsDirectForwardAndSkipsBadFiles) {
  Fixture f;
  std::vector<dx::Progress> seen;
  auto r = dx::extractActivations(f.request, [&](const dx::Progress& p) { seen.push_back(p); });
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(r.images, 7u);
  dx::ActivationCache c(r.dir);
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
  auto first = dx::extractActivations(f.request);
  EXPECT_TRUE(dx::extractActivations(f.request).reused);
  auto otherLayer = f.request;
  otherLayer.layer = "conv2";
  EXPECT_NE(dx::extractionKey(otherLayer), first.key);
  auto limited = f.request;
  limited.limit = 3;
  EXPECT_NE(dx::extractionKey(limited), first.key);
  auto half = f.request;
  half.float16 = true;
  EXPECT_NE(dx::extractionKey(half), first.key);
  // Rewrite one image with other content and size: the folder fingerprint and key change.
  cv::imwrite(f.dir / "images/dogs/img0.png", cv::Mat(30, 30, CV_8UC3, cv::Scalar::all(9)));
  auto changed = f.request;
  changed.source = std::make_shared<dx::ImageFolder>(f.dir.path() / "images");
  auto again = dx::extractActivations(changed);
  EXPECT_FALSE(again.reused);
  EXPECT_NE(again.key, first.key);
}

TEST(Extractor, CancelLeavesThePreviousCacheIntactAndNoPartialFolder) {
  Fixture f;
  auto first = dx::extractActivations(f.request);
  auto before = fs::file_size(fs::path(first.dir) / "activations.npy");
  auto redo = f.request;
  redo.reuse = false;
  dx::CancelToken token;
  EXPECT_THROW(dx::extractActivations(redo, [&](const dx::Progress&) { token.cancel(); }, token),
               dx::Cancelled);
  EXPECT_TRUE(dx::cacheIsComplete(first.dir, first.key));
  EXPECT_EQ(fs::file_size(fs::path(first.dir) / "activations.npy"), before);
  for (const auto& e : fs::directory_iterator(f.dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
}

TEST(Extractor, InterruptedWriteNeverLooksComplete) {
  Fixture f;
  auto key = dx::extractionKey(f.request);
  {
    dx::CacheStaging staging(f.request.outDir);
    std::ofstream(staging.dir() + "/cache.json") << R"({"key": ")" << key << R"(", "complete": true})";
    // destroyed without commit(), as when a run dies mid-way
  }
  EXPECT_FALSE(dx::cacheIsComplete(f.request.outDir, key));
  EXPECT_FALSE(fs::exists(f.request.outDir));
  fs::create_directories(f.request.outDir);
  std::ofstream(f.request.outDir + "/cache.json") << R"({"key": ")" << key << R"("})";
  EXPECT_FALSE(dx::cacheIsComplete(f.request.outDir, key));  // no "complete": true
  EXPECT_THROW(dx::ActivationCache c(f.request.outDir), dx::UserError);
}

TEST(Extractor, Float16HalvesTheActivationsFile) {
  Fixture f;
  f.request.float16 = true;
  auto r = dx::extractActivations(f.request);
  dx::ActivationCache c(r.dir);
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
  EXPECT_THROW(dx::extractActivations(inside), dx::UserError);
  auto limited = f.request;
  limited.limit = 4;  // the first 4 files: cats/broken.png, img1, img3, img5
  EXPECT_EQ(dx::extractActivations(limited).images, 3u);
}

TEST(Extractor, AllImagesUnusableIsAClearError) {
  TempDir d;
  fs::create_directories(d.path() / "imgs");
  std::ofstream(d / "imgs/a.png", std::ios::binary) << "\x89PNG\r\n\x1a\n broken";
  dx::ExtractionRequest r;
  r.model = dx::ConceptModel::load(dx::test::testModel("good_rgb.pt"));
  r.source = std::make_shared<dx::ImageFolder>(d.path() / "imgs");
  r.outDir = d / "out";
  EXPECT_THROW(dx::extractActivations(r), dx::UserError);
  EXPECT_FALSE(fs::exists(d / "out"));
}

namespace {
std::string fileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST(Extractor, SeveralDecodeWorkersWriteTheSameCacheInTheSameOrder) {
  Fixture f;
  f.request.decodeWorkers = 1;
  f.request.batchSize = 1;  // the same batches in both runs (rounding depends on batch size)
  auto one = dx::extractActivations(f.request);
  auto many = f.request;
  many.decodeWorkers = 4;  // more workers than the queue depth: batches finish out of order
  many.outDir = f.dir / "cache-many";
  auto r = dx::extractActivations(many);
  for (const char* file : {"activations.npy", "logits.npy", "predictions.npy", "labels.npy",
                           "files.txt", "skipped.tsv"})
    EXPECT_TRUE(fileBytes(fs::path(one.dir) / file) == fileBytes(fs::path(r.dir) / file)) << file;
}

TEST(WriteBehind, RunsWritesInOrderAndReportsTheFirstFailure) {
  std::vector<int> seen;
  {
    dx::WriteBehind writes(2);
    for (int i = 0; i < 50; ++i) writes.push([&seen, i] { seen.push_back(i); });
    writes.drain();
    ASSERT_EQ(seen.size(), 50u);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(seen[size_t(i)], i);
    std::promise<void> release, started;
    auto released = release.get_future().share();
    writes.push([released, &started] {  // holds the thread while two more queue
      started.set_value();
      released.wait();
    });
    started.get_future().wait();
    writes.push([] { throw dx::UserError("disk full"); });
    writes.push([&seen] { seen.push_back(-1); });
    release.set_value();
    EXPECT_THROW(writes.drain(), dx::UserError);
    EXPECT_THROW(writes.push([] {}), dx::UserError);
  }
  EXPECT_EQ(seen.size(), 50u);  // nothing after the failed write ran
}

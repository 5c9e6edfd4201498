#include <gtest/gtest.h>

#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "data/image_folder.h"
#include "base/progress.h"
#include "data/source_factory.h"
#include "temp_dir.h"

using dx::test::TempDir;
namespace fs = std::filesystem;

namespace {

void writeImage(const std::string& path, int type = CV_8UC3) {
  fs::create_directories(fs::path(path).parent_path());
  cv::Mat img(6, 5, type, cv::Scalar::all(100));
  ASSERT_TRUE(cv::imwrite(path, img)) << path;
}

}  // namespace

TEST(ImageFolder, ClassSubfoldersBecomeSortedLabels) {
  TempDir d;
  writeImage(d / "zebra/1.png");
  writeImage(d / "apple/2.jpg");
  writeImage(d / "apple/nested/3.bmp", CV_8UC1);
  writeImage(d / "apple/4.png", CV_16UC1);
  std::ofstream(d / "apple/notes.txt") << "not an image";
  std::ofstream(d / "stray.txt") << "outside";
  fs::create_directories(d / "empty");
  dx::ImageFolder f(d.path());
  EXPECT_EQ(f.classNames(), (std::vector<std::string>{"apple", "zebra"}));
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f.itemName(0), "apple/2.jpg");
  EXPECT_EQ(f.label(0), 0);
  EXPECT_EQ(f.label(3), 1);
  EXPECT_EQ(f.itemName(1), "apple/4.png");
  EXPECT_EQ(f.load(1).depth(), CV_16U);  // bit depth kept for preprocessing
  ASSERT_EQ(f.skipped().size(), 3u);     // notes.txt, stray.txt, empty/
}

TEST(ImageFolder, FlatFolderHasNoLabels) {
  TempDir d;
  writeImage(d / "a.png");
  writeImage(d / "b.png", CV_8UC4);
  dx::ImageFolder f(d.path());
  EXPECT_TRUE(f.classNames().empty());
  EXPECT_EQ(f.label(1), -1);
  EXPECT_EQ(f.load(1).channels(), 4);
}

TEST(ImageFolder, CorruptFileDecodesEmptyInsteadOfThrowing) {
  TempDir d;
  writeImage(d / "good.png");
  std::string bytes = "\x89PNG\r\n\x1a\n garbage that is not a PNG body";
  std::ofstream(d / "bad.png", std::ios::binary) << bytes;
  dx::ImageFolder f(d.path());
  ASSERT_EQ(f.size(), 2u);  // the header looks like PNG, so it is found...
  EXPECT_TRUE(f.load(0).empty());  // ...and fails to decode, to be skipped at extraction
}

TEST(ImageFolder, EmptyOrMissingFolderIsAClearError) {
  TempDir d;
  std::ofstream(d / "readme.md") << "hi";
  try {
    dx::ImageFolder f(d.path());
    FAIL() << "expected an error";
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no image"), std::string::npos);
  }
  EXPECT_THROW(dx::ImageFolder(d / "missing"), dx::UserError);
}

TEST(ImageFolder, FingerprintChangesWhenAFileChanges) {
  TempDir d;
  writeImage(d / "a.png");
  std::string before = dx::ImageFolder(d.path()).fingerprint();
  EXPECT_EQ(before, dx::ImageFolder(d.path()).fingerprint());
  writeImage(d / "b.png");
  std::string added = dx::ImageFolder(d.path()).fingerprint();
  EXPECT_NE(before, added);
  cv::imwrite(d / "a.png", cv::Mat(9, 9, CV_8UC3, cv::Scalar::all(1)));  // new size
  EXPECT_NE(added, dx::ImageFolder(d.path()).fingerprint());
}

TEST(FashionMnist, ReadsTheDebianTestSplit) {
  auto src = dx::openImageSource("fashion-mnist:test");
  ASSERT_EQ(src->size(), 10000u);
  EXPECT_EQ(src->classNames().size(), 10u);
  EXPECT_EQ(src->label(0), 9);  // the first test image is an ankle boot
  cv::Mat img = src->load(0);
  EXPECT_EQ(img.size(), cv::Size(28, 28));
  EXPECT_EQ(img.type(), CV_8UC1);
  EXPECT_GT(cv::countNonZero(img), 100);
  EXPECT_EQ(src->itemName(7), "test/00007");
}

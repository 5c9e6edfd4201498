#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "model/preprocess.h"

using dx::ColourMode;
using dx::InputSpec;

namespace {

InputSpec spec(ColourMode mode, int size, int resize, float mean = 0, float std = 1) {
  InputSpec s;
  s.colourMode = mode;
  s.height = s.width = size;
  s.resize = resize;
  s.mean.assign(size_t(s.channels()), mean);
  s.std.assign(size_t(s.channels()), std);
  return s;
}

std::vector<float> run(const cv::Mat& img, const InputSpec& s) {
  std::vector<float> out(size_t(s.channels() * s.height * s.width), -99.f);
  EXPECT_EQ(dx::preprocessImage(img, s, out.data()), "");
  return out;
}

}  // namespace

TEST(Preprocess, BgrBecomesRgbPlanesNormalised) {
  cv::Mat img(4, 4, CV_8UC3, cv::Scalar(255, 0, 51));  // B=255, G=0, R=51
  auto out = run(img, spec(ColourMode::Rgb, 4, 4, 0.5f, 0.5f));
  EXPECT_NEAR(out[0], (51 / 255.f - 0.5f) / 0.5f, 1e-6);   // R plane first
  EXPECT_NEAR(out[16], -1.f, 1e-6);                         // G plane
  EXPECT_NEAR(out[32], 1.f, 1e-6);                          // B plane
}

TEST(Preprocess, SixteenBitScalesByItsOwnRange) {
  cv::Mat img(2, 2, CV_16UC1, cv::Scalar(65535));
  auto out = run(img, spec(ColourMode::Gray, 2, 2));
  EXPECT_NEAR(out[0], 1.f, 1e-6);
}

TEST(Preprocess, RgbaDropsAlphaAndGrayToRgbReplicates) {
  cv::Mat rgba(2, 2, CV_8UC4, cv::Scalar(0, 0, 255, 0));
  auto out = run(rgba, spec(ColourMode::Rgb, 2, 2));
  EXPECT_NEAR(out[0], 1.f, 1e-6);  // red survives although alpha is 0
  cv::Mat gray(2, 2, CV_8UC1, cv::Scalar(255));
  auto rgb = run(gray, spec(ColourMode::Rgb, 2, 2));
  for (float v : rgb) EXPECT_NEAR(v, 1.f, 1e-6);
}

TEST(Preprocess, ResizesShorterSideThenCentreCrops) {
  // 8 x 16 image: left half black, right half white; shorter side 8 -> 4, so 4 x 8, crop 4 x 4
  // takes columns 2..5, half black and half white.
  cv::Mat img(8, 16, CV_8UC1, cv::Scalar(0));
  img(cv::Rect(8, 0, 8, 8)).setTo(255);
  auto out = run(img, spec(ColourMode::Gray, 4, 4));
  EXPECT_NEAR(out[0], 0.f, 1e-6);
  EXPECT_NEAR(out[3], 1.f, 1e-6);
  auto view = dx::networkView(img, spec(ColourMode::Gray, 4, 4));
  EXPECT_EQ(view.size(), cv::Size(4, 4));
  EXPECT_EQ(view.type(), CV_8UC1);
}

TEST(Preprocess, SmallImagesArePaddedLikeTorchvision) {
  cv::Mat img(2, 2, CV_8UC1, cv::Scalar(255));
  auto s = spec(ColourMode::Gray, 4, 2);
  auto out = run(img, s);
  EXPECT_NEAR(out[0], 0.f, 1e-6);     // padding corner
  EXPECT_NEAR(out[5], 1.f, 1e-6);     // inside the original
}

TEST(Preprocess, ExplainsUnusableImages) {
  auto s = spec(ColourMode::Rgb, 2, 2);
  std::vector<float> out(12);
  EXPECT_NE(dx::preprocessImage(cv::Mat(), s, out.data()).find("decoded"), std::string::npos);
  cv::Mat twoChannels(2, 2, CV_8UC2, cv::Scalar(1, 2));
  EXPECT_NE(dx::preprocessImage(twoChannels, s, out.data()).find("channel"), std::string::npos);
  cv::Mat nan(2, 2, CV_32FC3, cv::Scalar(std::nanf(""), 0, 0));
  EXPECT_NE(dx::preprocessImage(nan, s, out.data()).find("NaN"), std::string::npos);
}

TEST(Preprocess, DescriptionChangesWithEveryParameter) {
  auto a = spec(ColourMode::Rgb, 4, 4, 0.5f, 0.2f);
  auto b = a;
  b.std[2] = 0.21f;
  auto c = a;
  c.resize = 5;
  EXPECT_NE(dx::describePreprocessing(a), dx::describePreprocessing(b));
  EXPECT_NE(dx::describePreprocessing(a), dx::describePreprocessing(c));
}

#include "model/preprocess.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace dx {
namespace {

// Scales pixel values to [0, 1] as float, by the range of the stored type.
bool toUnitFloat(const cv::Mat& in, cv::Mat& out) {
  switch (in.depth()) {
    case CV_8U: in.convertTo(out, CV_32F, 1.0 / 255.0); return true;
    case CV_16U: in.convertTo(out, CV_32F, 1.0 / 65535.0); return true;
    case CV_32F:
    case CV_64F: in.convertTo(out, CV_32F); return true;
    default: return false;
  }
}

bool convertColour(const cv::Mat& in, ColourMode mode, cv::Mat& out) {
  int ch = in.channels();
  if (mode == ColourMode::Gray) {
    if (ch == 1) out = in;
    else if (ch == 3) cv::cvtColor(in, out, cv::COLOR_BGR2GRAY);
    else if (ch == 4) cv::cvtColor(in, out, cv::COLOR_BGRA2GRAY);
    else return false;
  } else {
    if (ch == 1) cv::cvtColor(in, out, cv::COLOR_GRAY2RGB);
    else if (ch == 3) cv::cvtColor(in, out, cv::COLOR_BGR2RGB);
    else if (ch == 4) cv::cvtColor(in, out, cv::COLOR_BGRA2RGB);
    else return false;
  }
  return true;
}

cv::Mat resizeShorterSide(const cv::Mat& in, int target) {
  int shorter = std::min(in.rows, in.cols);
  if (shorter == target) return in;
  double scale = static_cast<double>(target) / shorter;
  cv::Size size = in.rows <= in.cols
                      ? cv::Size(std::max(1, static_cast<int>(in.cols * scale)), target)
                      : cv::Size(target, std::max(1, static_cast<int>(in.rows * scale)));
  cv::Mat out;
  // Area averaging when shrinking avoids aliasing (like torchvision's antialiased resize).
  cv::resize(in, out, size, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// Centre crop; pads with zeros when the image is smaller than the crop (as torchvision does).
cv::Mat centreCrop(const cv::Mat& in, int height, int width) {
  int padY = std::max(0, height - in.rows), padX = std::max(0, width - in.cols);
  cv::Mat src = in;
  if (padY || padX)
    cv::copyMakeBorder(in, src, padY / 2, padY - padY / 2, padX / 2, padX - padX / 2,
                       cv::BORDER_CONSTANT, cv::Scalar::all(0));
  int top = static_cast<int>(std::lround((src.rows - height) / 2.0));
  int left = static_cast<int>(std::lround((src.cols - width) / 2.0));
  return src(cv::Rect(left, top, width, height));
}

std::string cropToUnitFloat(const cv::Mat& image, const InputSpec& spec, cv::Mat& crop) {
  if (image.empty()) return "the file could not be decoded (corrupt or truncated?)";
  if (image.dims != 2 || image.rows < 1 || image.cols < 1) return "the image has no pixels";
  cv::Mat unit, colour;
  if (!toUnitFloat(image, unit)) return "unsupported pixel type (use 8-bit, 16-bit or float)";
  if (!convertColour(unit, spec.colourMode, colour))
    return "unsupported channel count " + std::to_string(image.channels());
  crop = centreCrop(resizeShorterSide(colour, spec.resize), spec.height, spec.width);
  return {};
}

}  // namespace

std::string preprocessImage(const cv::Mat& image, const InputSpec& spec, float* dst) {
  cv::Mat crop;
  std::string why = cropToUnitFloat(image, spec, crop);
  if (!why.empty()) return why;
  int c = spec.channels();
  std::vector<cv::Mat> planes;
  cv::split(crop, planes);
  size_t plane = static_cast<size_t>(spec.height) * spec.width;
  for (int k = 0; k < c; ++k) {
    // (x - mean) / std written straight into the k-th CHW plane of dst.
    cv::Mat out(spec.height, spec.width, CV_32F, dst + k * plane);
    planes[k].convertTo(out, CV_32F, 1.0 / spec.std[k], -spec.mean[k] / spec.std[k]);
    if (!cv::checkRange(out)) return "the image contains NaN or infinite values";
  }
  return {};
}

cv::Mat networkView(const cv::Mat& image, const InputSpec& spec) {
  cv::Mat crop, out;
  if (!cropToUnitFloat(image, spec, crop).empty()) return {};
  crop.convertTo(out, CV_8U, 255.0);
  if (out.channels() == 3) cv::cvtColor(out, out, cv::COLOR_RGB2BGR);
  return out;
}

std::string describePreprocessing(const InputSpec& spec) {
  std::ostringstream s;
  s.precision(9);
  s << "colour=" << (spec.colourMode == ColourMode::Gray ? "gray" : "rgb") << " resize="
    << spec.resize << " crop=" << spec.height << "x" << spec.width << " mean=";
  for (float m : spec.mean) s << m << ",";
  s << " std=";
  for (float v : spec.std) s << v << ",";
  return s.str();
}

}  // namespace dx

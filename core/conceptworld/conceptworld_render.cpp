#include "conceptworld/conceptworld_render.h"

#include <cmath>

#include <opencv2/imgproc.hpp>

namespace dx {
namespace {

constexpr int N = cw::kImageSize;
// Vertices and centres in 1/16 pixel (OpenCV's `shift` argument), so small shapes keep their
// proportions instead of snapping to the pixel grid.
constexpr int kShift = 4;
constexpr float kSubPixel = 1 << kShift;
// The watermark: an 8x8 black-and-white checker with 2-pixel cells, 2 pixels from the
// bottom-right corner. Small, fixed and unlike anything else in the images, so a CNN can pick it
// up as a shortcut.
constexpr int kWatermarkSize = 8, kWatermarkCell = 2, kWatermarkMargin = 2;

cv::Point subPixel(float x, float y) { return {cvRound(x * kSubPixel), cvRound(y * kSubPixel)}; }

// Base colours (BGR), chosen far apart in hue and bright enough to stand out on bg_dark.
cv::Scalar baseColour(int colour) {
  switch (colour) {
    case cw::Red: return {40, 40, 210};
    case cw::Green: return {40, 180, 40};
    case cw::Blue: return {210, 90, 30};
    default: return {30, 210, 225};  // yellow
  }
}

cv::Scalar jitter(cv::Scalar c, cv::RNG& rng, int amount) {
  for (int k = 0; k < 3; ++k) c[k] += rng.uniform(-amount, amount + 1);
  return c;
}

// Adds Gaussian noise to a CV_32FC3 image and saturates it to CV_8UC3.
cv::Mat withNoise(cv::Mat base, cv::RNG& rng, double sigma) {
  cv::Mat noise(base.size(), CV_32FC3);
  rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
  cv::Mat out;
  cv::Mat(base + noise).convertTo(out, CV_8UC3);
  return out;
}

cv::Mat plainBackground(cv::RNG& rng, int low, int high) {
  double level = rng.uniform(low, high + 1);
  cv::Scalar c = jitter(cv::Scalar::all(level), rng, 8);
  return withNoise(cv::Mat(N, N, CV_32FC3, c), rng, 3);
}

// A linear ramp between two mid-tone colours in a random direction; mid-tones keep it apart
// from bg_light and bg_dark.
cv::Mat gradientBackground(cv::RNG& rng) {
  cv::Vec3f a, b;
  for (int k = 0; k < 3; ++k) {
    a[k] = float(rng.uniform(70, 201));
    b[k] = float(rng.uniform(70, 201));
  }
  float angle = rng.uniform(0.0f, float(2 * CV_PI)), dx = std::cos(angle), dy = std::sin(angle);
  float c = (N - 1) / 2.0f, half = c * (std::abs(dx) + std::abs(dy));
  cv::Mat base(N, N, CV_32FC3);
  for (int y = 0; y < N; ++y)
    for (int x = 0; x < N; ++x) {
      float t = 0.5f + 0.5f * ((x - c) * dx + (y - c) * dy) / half;
      base.at<cv::Vec3f>(y, x) = a * (1 - t) + b * t;
    }
  return withNoise(base, rng, 3);
}

// Mottled green-brown noise with short, mostly vertical blades.
cv::Mat grassBackground(cv::RNG& rng) {
  cv::Scalar base(rng.uniform(25, 51), rng.uniform(95, 131), rng.uniform(55, 86));
  cv::Mat image = withNoise(cv::Mat(N, N, CV_32FC3, base), rng, 14);
  for (int k = 0; k < 150; ++k) {
    float x = rng.uniform(0.0f, float(N)), y = rng.uniform(0.0f, float(N));
    float length = rng.uniform(3.0f, 7.0f), tilt = rng.uniform(-0.4f, 0.4f);
    double g = base[1] + rng.uniform(-45, 46);
    cv::line(image, subPixel(x, y),
             subPixel(x + length * std::sin(tilt), y - length * std::cos(tilt)),
             cv::Scalar(base[0], g, base[2] * g / base[1]), 1, cv::LINE_8, kShift);
  }
  return image;
}

cv::Mat background(int kind, cv::RNG& rng) {
  switch (kind) {
    case cw::BgLight: return plainBackground(rng, 185, 235);
    case cw::BgDark: return plainBackground(rng, 15, 55);
    case cw::BgGradient: return gradientBackground(rng);
    default: return grassBackground(rng);
  }
}

// Regular polygon (square, triangle) or five-pointed star around the object's centre.
std::vector<cv::Point> outline(const ConceptWorldObject& o) {
  int corners = o.shape == cw::Square ? 4 : o.shape == cw::Triangle ? 3 : 10;
  std::vector<cv::Point> points;
  for (int k = 0; k < corners; ++k) {
    float r = (o.shape == cw::Star && k % 2 == 1) ? 0.5f * o.radius : o.radius;
    float a = o.angle + float(2 * CV_PI) * float(k) / float(corners);
    points.push_back(subPixel(o.x + r * std::cos(a), o.y + r * std::sin(a)));
  }
  return points;
}

cv::Mat objectMask(const ConceptWorldObject& o) {
  cv::Mat mask = cv::Mat::zeros(N, N, CV_8UC1);
  if (o.shape == cw::Circle) {
    cv::circle(mask, subPixel(o.x, o.y), cvRound(o.radius * kSubPixel), 255, cv::FILLED,
               cv::LINE_8, kShift);
  } else {
    std::vector<std::vector<cv::Point>> polygons{outline(o)};
    cv::fillPoly(mask, polygons, 255, cv::LINE_8, kShift);
  }
  return mask;
}

// The object's colour over the whole frame with its texture in a dark shade of that colour
// (the colour stays recognisable under any texture); the caller paints it through the mask.
cv::Mat objectLayer(const ConceptWorldObject& o, cv::RNG& rng) {
  cv::Scalar colour = jitter(baseColour(o.colour), rng, 20), shade = colour * 0.35;
  cv::Mat layer(N, N, CV_8UC3, colour);
  if (o.texture == cw::Striped) {
    int period = rng.uniform(4, 7);
    float angle = rng.uniform(0.0f, float(CV_PI)), nx = std::cos(angle), ny = std::sin(angle);
    for (int k = -N; k <= N; k += period) {
      float qx = o.x + float(k) * nx, qy = o.y + float(k) * ny;
      cv::line(layer, subPixel(qx - 2 * N * ny, qy + 2 * N * nx),
               subPixel(qx + 2 * N * ny, qy - 2 * N * nx), shade, 2, cv::LINE_8, kShift);
    }
  } else if (o.texture == cw::Dotted) {
    int spacing = rng.uniform(5, 7), ox = rng.uniform(0, spacing), oy = rng.uniform(0, spacing);
    for (int y = oy; y < N; y += spacing)
      for (int x = ox; x < N; x += spacing) cv::circle(layer, {x, y}, 1, shade, cv::FILLED);
  }
  return layer;
}

cv::Rect watermarkRect() {
  int at = N - kWatermarkMargin - kWatermarkSize;
  return {at, at, kWatermarkSize, kWatermarkSize};
}

void drawWatermark(cv::Mat& image) {
  cv::Rect r = watermarkRect();
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x) {
      bool white = ((x / kWatermarkCell) + (y / kWatermarkCell)) % 2 == 0;
      image.at<cv::Vec3b>(r.y + y, r.x + x) = cv::Vec3b::all(white ? 255 : 0);
    }
}

}  // namespace

ConceptWorldSample renderConceptWorld(const ConceptWorldScene& scene) {
  cv::RNG rng(scene.detailSeed == 0 ? 1 : scene.detailSeed);
  ConceptWorldSample out;
  out.image = background(scene.background, rng);
  for (int c = 0; c < cw::ConceptCount; ++c) out.masks.push_back(cv::Mat::zeros(N, N, CV_8UC1));
  cv::Mat objects = cv::Mat::zeros(N, N, CV_8UC1);
  for (const auto& o : scene.objects) {
    cv::Mat mask = objectMask(o);
    objectLayer(o, rng).copyTo(out.image, mask);
    for (int c : {o.shape, o.colour, o.texture}) out.masks[size_t(c)] |= mask;
    objects |= mask;
  }
  out.masks[size_t(scene.background)] = ~objects;
  if (scene.watermark) {
    drawWatermark(out.image);
    cv::Mat covered = out.masks[cw::Watermark];
    covered(watermarkRect()).setTo(255);
    for (int c = 0; c < cw::Watermark; ++c) out.masks[size_t(c)].setTo(0, covered);
  }
  return out;
}

}  // namespace dx

#pragma once
// Turns a decoded image into the network input the model's metadata asks for, in the order
// torchvision's classification transforms use: colour conversion, resize of the shorter side,
// centre crop, scaling to [0, 1], per-channel normalisation (x - mean) / std, CHW layout.
#include <string>

#include <opencv2/core.hpp>

#include "model/model_meta.h"

namespace dx {

// Writes spec.channels() x spec.height x spec.width floats to `dst`. Accepts 8/16-bit and float
// images with 1, 3 (BGR) or 4 (BGRA, alpha dropped) channels. Returns an empty string on success,
// otherwise why the image cannot be used (the caller skips and lists it).
std::string preprocessImage(const cv::Mat& image, const InputSpec& spec, float* dst);

// The same, stopping before normalisation: an 8-bit image of the crop the network sees (for
// thumbnails and overlays), gray or in OpenCV's BGR order like every cv::Mat of the app.
cv::Mat networkView(const cv::Mat& image, const InputSpec& spec);

// Text describing every parameter of the preprocessing, part of the activation-cache key.
std::string describePreprocessing(const InputSpec& spec);

}  // namespace dx

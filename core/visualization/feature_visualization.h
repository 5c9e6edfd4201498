#pragma once
// Feature visualisation of a concept direction: the input image that drives a linear functional of
// one layer's activations, found by gradient ascent through features_L (docs/methods.md 1.8).
//
// Standard practice (Olah et al. 2017, "Feature Visualization"; Lucid/Lucent; MaCo, Fel et al.
// 2023), as used here:
// - The image is parametrised in a Fourier basis whose coefficients are scaled by 1/frequency, so
//   gradient steps move all frequencies at comparable speed instead of piling up high-frequency
//   noise; colour goes through the square root of the data's channel covariance (decorrelated
//   colour), then a sigmoid keeps pixels in [0, 1] before the model's own normalisation.
// - Every step applies a random affine transform (jitter, scale, rotation): only patterns that
//   keep driving the objective under small moves survive, which removes adversarial texture.
// - The objective is direction . z_p - offset at one patch p of the layer's grid, the centre by
//   default (Lucid's "neuron" objective): for a detector (w_i, b_i) the detector's response; for
//   an encoding direction s_i the movement of the patch along s_hat_i. Measured on the demo's 16
//   concepts (detector reached / strongest real patch): the centre reached >= 1 for 15 of 16;
//   the position of each concept's strongest real patch 13 of 16; a smooth maximum over all
//   positions (logsumexp at temperatures 0.1, 1, 10) 9-11 of 16.
// Deterministic for a seed on the CPU.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "base/progress.h"

namespace dx {

class ConceptModel;
class ImageSource;

struct RenderOptions {
  // 512 as Lucid's default: at 256, 2 of the demo's 16 EDDP concepts stopped below their
  // strongest real patch (0.78, 0.86); at 512 all exceed it (docs/methods.md 1.8).
  int steps = 512;
  int size = 0;             // rendered side in pixels; 0 = the model's input size
  uint64_t seed = 0;
  double learningRate = 0.05;
  double frequencyDecay = 1.0;  // spectrum scale 1 / f^decay
  double jitter = 0.035;        // largest translation, as a fraction of the side
  double scale = 0.1;           // scales drawn from [1 - scale, 1 + scale]
  double rotationDegrees = 10;  // rotations drawn from [-r, r]
  int row = -1, col = -1;       // the grid position p to drive; -1: the centre
  // Channel covariance of the data's pixels in [0, 1] (Cin x Cin); undefined = channels treated
  // as uncorrelated (colourCovariance() estimates it from images).
  at::Tensor colourCovariance;
  ProgressSink progress;
  CancelToken cancel;
};

struct Rendering {
  cv::Mat image;          // 8-bit, gray or BGR (like every cv::Mat of the app), size x size
  at::Tensor input;       // 1 x Cin x size x size, normalised as the model expects (CPU)
  double objective = 0;   // direction . z_p - offset on the final image, untransformed
  double seconds = 0;
};

// Maximises direction . z_p - offset at position p (options.row, options.col; the centre by
// default) of `layer` (direction: C floats). Throws UserError for a position off the grid.
// Throws UserError for a direction of the wrong width, Cancelled when cancelled.
Rendering renderDirection(const ConceptModel& model, const std::string& layer,
                          const at::Tensor& direction, double offset,
                          const RenderOptions& options = {});

// The Cin x Cin covariance of pixel values (in [0, 1], the model's channel order) over `images`
// (8-bit gray or BGR), after the model's preprocessing without normalisation.
at::Tensor colourCovariance(const ConceptModel& model, const std::vector<cv::Mat>& images);

// Up to `count` images of `source`, evenly spaced over it (for colour statistics).
std::vector<cv::Mat> sampleImages(const ImageSource& source, size_t count);

// w . z_p - b at position p (options.row, options.col; the centre by default) of `layer` for one
// normalised input (1 x Cin x H x W).
double detectorAt(const ConceptModel& model, const std::string& layer, const at::Tensor& input,
                  const at::Tensor& w, double b, const RenderOptions& options);



}  // namespace dx

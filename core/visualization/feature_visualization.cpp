#include "visualization/feature_visualization.h"

#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <random>

#include <opencv2/imgproc.hpp>

#include "base/stopwatch.h"
#include "model/concept_model.h"
#include "data/image_source.h"
#include "model/preprocess.h"

namespace dx {
namespace {

namespace F = torch::nn::functional;

// Pixels are sigmoid(slope * image). A steep sigmoid saturates within a few dozen Adam steps and
// its gradient vanishes: measured with bench/visualization_bench (16 EDDP concepts, 256 steps),
// the lowest decoder rendering / strongest real patch ratio on the demo was 0.29 at slope 4,
// 0.75 at 1, 1.36 at 0.5 and 1.55 at 0.25 (ConceptWorld: 2.46 at 0.5, 3.00 at 0.25).
constexpr double kSigmoidSlope = 0.25;

// 1 / max(f, 1/side)^decay for the frequencies of a side x side real FFT (irfft2 layout, cycles
// per pixel): with the orthonormal inverse FFT, unit coefficients then give an image whose
// lowest frequencies dominate and whose scale does not depend on the side.
at::Tensor spectrumScale(int64_t side, double decay) {
  auto fy = torch::fft::fftfreq(side, 1.0, torch::kFloat).unsqueeze(1);
  auto fx = torch::fft::rfftfreq(side, 1.0, torch::kFloat).unsqueeze(0);
  auto f = (fy * fy + fx * fx).sqrt().clamp_min(1.0 / double(side));
  return f.pow(-decay);
}

// The square root of the channel covariance, normalised to unit largest column norm: a colour
// basis in which the parameters are decorrelated (identity when no covariance is known).
at::Tensor colourBasis(const at::Tensor& covariance, int64_t channels) {
  if (!covariance.defined() || channels == 1) return torch::eye(channels);
  auto [values, vectors] = torch::linalg::eigh(covariance.to(torch::kDouble), "L");
  auto root = vectors.matmul(torch::diag(values.clamp_min(0).sqrt())).matmul(vectors.t());
  auto norm = root.norm(2, {0}).max().clamp_min(1e-12);
  return (root / norm).to(torch::kFloat);
}

// A random affine transform (scale, rotation, translation) as a 1 x 2 x 3 grid_sample matrix.
at::Tensor randomAffine(std::mt19937_64& rng, const RenderOptions& o) {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  double scale = 1.0 + o.scale * unit(rng);
  double angle = o.rotationDegrees * unit(rng) * M_PI / 180.0;
  double tx = 2.0 * o.jitter * unit(rng), ty = 2.0 * o.jitter * unit(rng);  // [-1, 1] coordinates
  double c = std::cos(angle) / scale, s = std::sin(angle) / scale;
  return torch::tensor({c, -s, tx, s, c, ty}, torch::kFloat).view({1, 2, 3});
}

at::Tensor transformed(const at::Tensor& pixels, const at::Tensor& affine) {
  auto grid = F::affine_grid(affine, pixels.sizes(), /*align_corners=*/false);
  return F::grid_sample(pixels, grid, F::GridSampleFuncOptions()
                                          .mode(torch::kBilinear)
                                          .padding_mode(torch::kReflection)
                                          .align_corners(false));
}

class FourierImage {
 public:
  FourierImage(int64_t channels, int64_t side, const RenderOptions& o)
      : mSide(side), mScale(spectrumScale(side, o.frequencyDecay)),
        mColour(colourBasis(o.colourCovariance, channels)) {
    auto gen = at::detail::createCPUGenerator(o.seed);
    mCoefficients = (torch::randn({channels, side, side / 2 + 1, 2}, gen) * 0.01).requires_grad_();
  }
  at::Tensor& parameters() { return mCoefficients; }
  // 1 x Cin x side x side pixels in [0, 1].
  at::Tensor pixels() const {
    auto spectrum = torch::view_as_complex(mCoefficients) * mScale;
    auto image = torch::fft::irfft2(spectrum, c10::IntArrayRef{mSide, mSide}, {-2, -1}, "ortho");
    int64_t c = image.size(0);
    auto coloured = mColour.matmul(image.reshape({c, -1})).reshape({1, c, mSide, mSide});
    return torch::sigmoid(coloured * kSigmoidSlope);  // the slope keeps mid-grey reachable at small scale
  }

 private:
  int64_t mSide;
  at::Tensor mScale, mColour, mCoefficients;
};

at::Tensor normalise(const at::Tensor& pixels, const InputSpec& spec) {
  auto c = pixels.size(1);
  auto mean = torch::tensor(spec.mean).view({1, c, 1, 1});
  auto std = torch::tensor(spec.std).view({1, c, 1, 1});
  return (pixels - mean) / std;
}

at::Tensor toModelSize(const at::Tensor& pixels, const InputSpec& spec) {
  if (pixels.size(2) == spec.height && pixels.size(3) == spec.width) return pixels;
  return F::interpolate(pixels, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{spec.height, spec.width})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

// direction . z at the asked position of the layer's grid (the centre by default), per image.
at::Tensor responseAt(const at::Tensor& z, const at::Tensor& direction, const RenderOptions& o) {
  int64_t row = o.row < 0 ? z.size(2) / 2 : o.row, col = o.col < 0 ? z.size(3) / 2 : o.col;
  if (row >= z.size(2) || col >= z.size(3))
    throw UserError("position (" + std::to_string(row) + ", " + std::to_string(col) +
                    ") lies outside the layer's " + std::to_string(z.size(2)) + " x " +
                    std::to_string(z.size(3)) + " grid.");
  using torch::indexing::Slice;
  return z.index({Slice(), Slice(), row, col}).matmul(direction.to(z.device(), torch::kFloat));
}

cv::Mat toMat(const at::Tensor& pixels) {
  auto hwc = (pixels[0].permute({1, 2, 0}).clamp(0, 1) * 255.0).round().to(torch::kUInt8).contiguous();
  int c = int(hwc.size(2));
  cv::Mat image(int(hwc.size(0)), int(hwc.size(1)), c == 1 ? CV_8UC1 : CV_8UC3);
  std::memcpy(image.data, hwc.data_ptr(), size_t(hwc.numel()));
  if (c == 3) cv::cvtColor(image, image, cv::COLOR_RGB2BGR);
  return image;
}

}  // namespace

Rendering renderDirection(const ConceptModel& model, const std::string& layerName,
                          const at::Tensor& direction, double offset, const RenderOptions& o) {
  const auto& spec = model.meta().input;
  const auto& layer = model.layer(layerName);
  if (direction.numel() != layer.channels)
    throw UserError("the direction has " + std::to_string(direction.numel()) + " values, layer " +
                    layer.name + " of " + model.path() + " has " + std::to_string(layer.channels) +
                    " channels: use the concept set discovered at this layer.");
  if (o.steps < 1) throw UserError("feature visualisation needs at least one step (--steps).");
  Stopwatch clock;
  torch::NoGradGuard outer;  // gradients only where asked for below
  int64_t side = o.size > 0 ? o.size : std::max(spec.height, spec.width);
  FourierImage image(spec.channels(), side, o);
  torch::optim::Adam adam({image.parameters()}, torch::optim::AdamOptions(o.learningRate));
  std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ULL);
  auto device = torch::Device(model.deviceName());
  auto dir = direction.flatten().to(torch::kFloat);
  for (int step = 0; step < o.steps; ++step) {
    if (o.cancel.cancelled()) throw Cancelled();
    torch::AutoGradMode withGrad(true);
    auto pixels = image.pixels();
    auto moved = transformed(pixels, randomAffine(rng, o));
    auto x = normalise(toModelSize(moved, spec), spec).to(device);
    auto objective = responseAt(model.featuresWithGrad(layer.name, x), dir, o).sum();
    adam.zero_grad();
    // Gradients for the image only: the model's own parameters (when freezing fell back to the
    // plain module) must not collect .grad on a model other views share.
    (-objective).backward({}, c10::nullopt, false, at::TensorList(image.parameters()));
    adam.step();
    if (o.progress && (step % 8 == 7 || step + 1 == o.steps))
      o.progress(clock.progress("render", step + 1, o.steps));
  }
  Rendering r;
  auto pixels = image.pixels();
  r.input = normalise(toModelSize(pixels, spec), spec).contiguous();
  r.objective = responseAt(model.features(layer.name, r.input), dir, o).item<double>() - offset;
  r.image = toMat(pixels);
  r.seconds = clock.seconds();
  return r;
}

std::vector<cv::Mat> sampleImages(const ImageSource& source, size_t count) {
  std::vector<cv::Mat> images;
  size_t n = source.size();
  count = std::min(count, n);
  for (size_t k = 0; k < count; ++k) images.push_back(source.load(k * n / count));
  return images;
}

double detectorAt(const ConceptModel& model, const std::string& layer, const at::Tensor& input,
                  const at::Tensor& w, double b, const RenderOptions& options) {
  auto z = model.features(layer, input);
  return responseAt(z, w.flatten(), options).item<double>() - b;
}

at::Tensor colourCovariance(const ConceptModel& model, const std::vector<cv::Mat>& images) {
  const auto& spec = model.meta().input;
  int64_t c = spec.channels(), stride = c * spec.height * spec.width;
  std::vector<float> buffer(static_cast<size_t>(stride));
  auto sum = torch::zeros({c, c}, torch::kDouble);
  auto first = torch::zeros({c}, torch::kDouble);
  int64_t count = 0;
  for (const auto& img : images) {
    if (!preprocessImage(img, spec, buffer.data()).empty()) continue;
    auto x = torch::from_blob(buffer.data(), {c, spec.height * spec.width}).to(torch::kDouble);
    auto mean = torch::tensor(std::vector<double>(spec.mean.begin(), spec.mean.end())).view({c, 1});
    auto sd = torch::tensor(std::vector<double>(spec.std.begin(), spec.std.end())).view({c, 1});
    auto p = x * sd + mean;  // back to [0, 1] pixels
    sum += p.matmul(p.t());
    first += p.sum(1);
    count += p.size(1);
  }
  if (count == 0) return {};
  auto m = first / double(count);
  return (sum / double(count) - torch::outer(m, m)).to(torch::kFloat);
}

}  // namespace dx

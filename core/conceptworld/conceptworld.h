#pragma once
// ConceptWorld: a synthetic image dataset whose concepts are known for every pixel, so that
// concept-discovery methods can be scored against ground truth (as the synthetic benchmark of
// docs/methods.md 1.7 does on latent vectors, but on images a CNN has to learn).
//
// Each 64x64 BGR image (CV_8UC3) has one background and one or two non-overlapping objects.
// Concepts (16): shapes circle, square, triangle, star; colours red, green, blue, yellow;
// object textures plain, striped, dotted; backgrounds bg_light, bg_dark, bg_gradient, bg_grass;
// and watermark, a fixed 8x8 checker in the bottom-right corner drawn over everything.
//
// Classes are concept combinations; an image matches exactly one of the first four rules, or
// none (then it is "other"). Scenes that would match two rules are never generated.
//   red_circle       some object is a red circle                       (shape + colour)
//   blue_square      some object is a blue square                      (shape + colour)
//   striped_on_dark  the background is bg_dark and some object is striped (texture + background)
//   dotted_triangle  some object is a dotted triangle                  (shape + texture)
//   other            none of the above (near misses such as red squares or striped objects on
//                    light backgrounds land here, so every rule needs both of its concepts)
//
// The watermark is a spurious cue: in the train split it is on ~95% of the images of one class
// (red_circle by default) and ~2% of the rest; in the test split it is on ~50% of the images of
// every class. A model that learned the shortcut predicts that class for watermarked test images of
// other classes.
//
// Images are generated on demand and deterministic: image i of a split with a seed is always
// the same (cv::RNG seeded from seed, split and i). Switching the watermark on or off changes
// the watermark only, never the rest of the image (it draws from its own random stream).
#include <cstdint>

#include "data/image_source.h"

namespace dx {

namespace cw {
// Concept indices into ConceptWorld::conceptNames(); object attributes use the same values.
enum Concept : int {
  Circle, Square, Triangle, Star,
  Red, Green, Blue, Yellow,
  Plain, Striped, Dotted,
  BgLight, BgDark, BgGradient, BgGrass,
  Watermark,
  ConceptCount
};
// Class indices into ConceptWorld::classNames().
enum Class : int { RedCircle, BlueSquare, StripedOnDark, DottedTriangle, Other, ClassCount };
constexpr int kImageSize = 64;
}  // namespace cw

struct ConceptWorldSpec {
  enum Split { Train, Test };
  Split split = Test;
  size_t count = 2000;
  uint64_t seed = 0;
  bool watermark = true;
  // red_circle: the class whose real cue a small CNN learns well enough to stay above 90% clean
  // test accuracy despite the shortcut (with blue_square it learned the watermark only).
  int watermarkClass = cw::RedCircle;
  // Train split: P(watermark) for images of watermarkClass and for all other images.
  double trainRateInClass = 0.95;
  double trainRateOthers = 0.02;
  // Test split: P(watermark) for every image, independent of its class.
  double testRate = 0.5;
};

// The built-in splits behind "conceptworld:train" (12000 images) and "conceptworld:test" (2000):
// seed 0, watermark on.
ConceptWorldSpec conceptWorldDefaults(ConceptWorldSpec::Split split);
// "train" or "test".
const char* splitName(ConceptWorldSpec::Split split);

struct ConceptWorldObject {
  int shape = cw::Circle;    // Circle..Star
  int colour = cw::Red;      // Red..Yellow
  int texture = cw::Plain;   // Plain..Dotted
  float x = 0, y = 0;        // centre in pixels
  float radius = 0;          // circumradius in pixels
  float angle = 0;           // rotation in radians
};

// Everything that decides an image; rendering adds only detail (noise, jitter, stripe phase)
// drawn from detailSeed.
struct ConceptWorldScene {
  int background = cw::BgLight;  // BgLight..BgGrass
  std::vector<ConceptWorldObject> objects;
  bool watermark = false;
  int label = cw::Other;
  uint64_t detailSeed = 0;
};

// An image with the pixel mask of every concept (CV_8UC1, 0 or 255; all zero when absent).
// Object and background masks exclude the watermark's pixels, which cover them.
struct ConceptWorldSample {
  cv::Mat image;
  std::vector<cv::Mat> masks;  // cw::ConceptCount entries
};

class ConceptWorld : public ImageSource {
 public:
  // Throws UserError when the spec is invalid (zero images, unknown class, rate outside [0, 1]).
  explicit ConceptWorld(const ConceptWorldSpec& spec);

  size_t size() const override { return mSpec.count; }
  std::string itemName(size_t i) const override;  // "train/00042"
  int label(size_t i) const override { return scene(i).label; }
  const std::vector<std::string>& classNames() const override;
  cv::Mat load(size_t i) const override { return sample(i).image; }
  std::string fingerprint() const override { return mFingerprint; }
  std::string description() const override;

  const ConceptWorldSpec& spec() const { return mSpec; }
  ConceptWorldScene scene(size_t i) const;
  // Image and all masks from one rendering; cheaper than load() plus mask() per concept.
  ConceptWorldSample sample(size_t i) const;
  cv::Mat mask(size_t i, int concept) const;
  const std::vector<std::string>& conceptNames() const;
  // Concepts with a non-empty mask in image i, in increasing index order.
  std::vector<int> conceptsPresent(size_t i) const;

 private:
  ConceptWorldSpec mSpec;
  std::string mFingerprint;
};

}  // namespace dx

#include "conceptworld/conceptworld.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "conceptworld/conceptworld_render.h"
#include "base/hash.h"
#include "base/progress.h"

namespace dx {
namespace {

// Bump when the generator or the renderer changes, so caches keyed by fingerprint() are redone.
constexpr int kGeneratorVersion = 1;

// Independent random streams of one image: scene layout, rendering detail, watermark.
enum Stream : uint64_t { SceneStream = 1, DetailStream = 2, WatermarkStream = 3 };

// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014; constants of Vigna's splitmix64.c): neighbouring indices give unrelated seeds,
// unlike seed + i, which cv::RNG's multiply-with-carry would turn into correlated streams.
uint64_t splitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t streamSeed(const ConceptWorldSpec& s, size_t i, Stream stream) {
  uint64_t h = splitMix(s.seed);
  h = splitMix(h ^ (static_cast<uint64_t>(s.split) + 1));
  h = splitMix(h ^ static_cast<uint64_t>(i));
  h = splitMix(h ^ stream);
  return h == 0 ? 1 : h;  // cv::RNG replaces a zero state by a fixed constant
}

bool hasObject(const ConceptWorldScene& s, int shape, int colour, int texture) {
  for (const auto& o : s.objects)
    if ((shape < 0 || o.shape == shape) && (colour < 0 || o.colour == colour) &&
        (texture < 0 || o.texture == texture))
      return true;
  return false;
}

// The class whose rule the scene satisfies, Other when none, -1 when several (never generated).
int matchingClass(const ConceptWorldScene& s) {
  bool rules[cw::Other] = {
      hasObject(s, cw::Circle, cw::Red, -1),
      hasObject(s, cw::Square, cw::Blue, -1),
      s.background == cw::BgDark && hasObject(s, -1, -1, cw::Striped),
      hasObject(s, cw::Triangle, -1, cw::Dotted)};
  int found = cw::Other;
  for (int c = 0; c < cw::Other; ++c) {
    if (!rules[c]) continue;
    if (found != cw::Other) return -1;
    found = c;
  }
  return found;
}

// Makes object 0 (and the background) satisfy the rule of `label`; other attributes stay random.
void imposeClass(ConceptWorldScene& s, int label) {
  auto& key = s.objects.front();
  switch (label) {
    case cw::RedCircle: key.shape = cw::Circle, key.colour = cw::Red; break;
    case cw::BlueSquare: key.shape = cw::Square, key.colour = cw::Blue; break;
    case cw::StripedOnDark: s.background = cw::BgDark, key.texture = cw::Striped; break;
    case cw::DottedTriangle: key.shape = cw::Triangle, key.texture = cw::Dotted; break;
    default: break;
  }
}

ConceptWorldObject randomAttributes(cv::RNG& rng) {
  ConceptWorldObject o;
  o.shape = cw::Circle + rng.uniform(0, 4);
  o.colour = cw::Red + rng.uniform(0, 4);
  o.texture = cw::Plain + rng.uniform(0, 3);
  return o;
}

// Rejection sampling: random attributes with the class's rule imposed, redrawn until no other
// rule matches too. Acceptance is above 60% for every class, so the loop ends within a few draws.
ConceptWorldScene sampleAttributes(cv::RNG& rng, int label) {
  for (int attempt = 0; attempt < 10000; ++attempt) {
    ConceptWorldScene s;
    s.label = label;
    s.background = cw::BgLight + rng.uniform(0, 4);
    int objects = rng.uniform(1, 3);
    for (int k = 0; k < objects; ++k) s.objects.push_back(randomAttributes(rng));
    imposeClass(s, label);
    if (matchingClass(s) == label) return s;
  }
  throw std::logic_error("ConceptWorld: no scene found for class " + std::to_string(label));
}

bool overlaps(const ConceptWorldObject& a, const ConceptWorldObject& b) {
  return std::hypot(a.x - b.x, a.y - b.y) <= a.radius + b.radius + 2.0f;
}

// Sizes keep textures readable (a stripe period of 4-6 px needs a few periods per object);
// objects stay inside the image and apart from each other, so their masks never overlap.
void placeObjects(cv::RNG& rng, ConceptWorldScene& s) {
  bool pair = s.objects.size() == 2;
  const float n = static_cast<float>(cw::kImageSize);
  for (size_t k = 0; k < s.objects.size(); ++k) {
    auto& o = s.objects[k];
    o.radius = pair ? rng.uniform(9.0f, 14.0f) : rng.uniform(11.0f, 18.0f);
    o.angle = rng.uniform(0.0f, static_cast<float>(2 * CV_PI));
    for (int attempt = 0; attempt < 200; ++attempt) {
      o.x = rng.uniform(o.radius + 1, n - 1 - o.radius);
      o.y = rng.uniform(o.radius + 1, n - 1 - o.radius);
      if (k == 0 || !overlaps(o, s.objects[0])) break;
    }
  }
  // Dropping the second object cannot change the class: object 0 carries the rule's concepts,
  // and "other" scenes match no rule with fewer objects either.
  if (pair && overlaps(s.objects[0], s.objects[1])) s.objects.pop_back();
}

double watermarkRate(const ConceptWorldSpec& spec, int label) {
  if (!spec.watermark) return 0;
  if (spec.split == ConceptWorldSpec::Test) return spec.testRate;
  return label == spec.watermarkClass ? spec.trainRateInClass : spec.trainRateOthers;
}

void checkRate(double rate, const char* name) {
  if (!(rate >= 0 && rate <= 1))
    throw UserError(std::string("ConceptWorld: ") + name + " is " + std::to_string(rate) +
                    "; give a probability between 0 and 1.");
}

std::string specFingerprint(const ConceptWorldSpec& s) {
  Hasher h;
  h.update("conceptworld").update(std::to_string(kGeneratorVersion));
  h.update(std::to_string(s.split)).update(std::to_string(s.count)).update(std::to_string(s.seed));
  h.update(std::to_string(s.watermark)).update(std::to_string(s.watermarkClass));
  char rates[96];
  std::snprintf(rates, sizeof rates, "%.17g %.17g %.17g", s.trainRateInClass, s.trainRateOthers,
                s.testRate);
  h.update(rates);
  return std::string("conceptworld:") + splitName(s.split) + ":" + h.hex();
}

}  // namespace

const char* splitName(ConceptWorldSpec::Split split) {
  return split == ConceptWorldSpec::Train ? "train" : "test";
}

ConceptWorldSpec conceptWorldDefaults(ConceptWorldSpec::Split split) {
  ConceptWorldSpec s;
  s.split = split;
  s.count = split == ConceptWorldSpec::Train ? 12000 : 2000;
  return s;
}

ConceptWorld::ConceptWorld(const ConceptWorldSpec& spec) : mSpec(spec) {
  if (spec.count == 0) throw UserError("ConceptWorld: the image count is 0; give at least 1.");
  if (spec.watermarkClass < 0 || spec.watermarkClass >= cw::ClassCount)
    throw UserError("ConceptWorld: watermark class " + std::to_string(spec.watermarkClass) +
                    " does not exist; give 0.." + std::to_string(cw::ClassCount - 1) + ".");
  checkRate(spec.trainRateInClass, "trainRateInClass");
  checkRate(spec.trainRateOthers, "trainRateOthers");
  checkRate(spec.testRate, "testRate");
  mFingerprint = specFingerprint(spec);
}

std::string ConceptWorld::itemName(size_t i) const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s/%05zu", splitName(mSpec.split), i);
  return buf;
}

const std::vector<std::string>& ConceptWorld::classNames() const {
  static const std::vector<std::string> names = {"red_circle", "blue_square", "striped_on_dark",
                                                 "dotted_triangle", "other"};
  return names;
}

const std::vector<std::string>& ConceptWorld::conceptNames() const {
  static const std::vector<std::string> names = {
      "circle",   "square",  "triangle", "star",     "red",         "green",
      "blue",     "yellow",  "plain",    "striped",  "dotted",      "bg_light",
      "bg_dark",  "bg_gradient", "bg_grass", "watermark"};
  return names;
}

std::string ConceptWorld::description() const {
  std::string d = std::string("ConceptWorld ") + splitName(mSpec.split) + " (" +
                  std::to_string(size()) + " synthetic 64x64 images, 5 classes, 16 concepts, " +
                  "seed " + std::to_string(mSpec.seed);
  if (mSpec.watermark && mSpec.split == ConceptWorldSpec::Train)
    d += ", watermark cue for " + classNames()[size_t(mSpec.watermarkClass)];
  else if (mSpec.watermark)
    d += ", watermark on " + std::to_string(int(std::lround(mSpec.testRate * 100))) +
         "% of every class";
  return d + ")";
}

ConceptWorldScene ConceptWorld::scene(size_t i) const {
  cv::RNG rng(streamSeed(mSpec, i, SceneStream));
  int label = rng.uniform(0, static_cast<int>(cw::ClassCount));
  ConceptWorldScene s = sampleAttributes(rng, label);
  placeObjects(rng, s);
  s.detailSeed = streamSeed(mSpec, i, DetailStream);
  cv::RNG watermarkRng(streamSeed(mSpec, i, WatermarkStream));
  s.watermark = watermarkRng.uniform(0.0, 1.0) < watermarkRate(mSpec, label);
  return s;
}

ConceptWorldSample ConceptWorld::sample(size_t i) const { return renderConceptWorld(scene(i)); }

cv::Mat ConceptWorld::mask(size_t i, int concept) const {
  if (concept < 0 || concept >= cw::ConceptCount)
    throw UserError("ConceptWorld: concept " + std::to_string(concept) +
                    " does not exist; give 0.." + std::to_string(cw::ConceptCount - 1) + ".");
  return sample(i).masks[size_t(concept)];
}

std::vector<int> ConceptWorld::conceptsPresent(size_t i) const {
  ConceptWorldScene s = scene(i);
  std::vector<bool> present(cw::ConceptCount, false);
  present[size_t(s.background)] = true;
  for (const auto& o : s.objects)
    present[size_t(o.shape)] = present[size_t(o.colour)] = present[size_t(o.texture)] = true;
  present[cw::Watermark] = s.watermark;
  std::vector<int> out;
  for (int c = 0; c < cw::ConceptCount; ++c)
    if (present[size_t(c)]) out.push_back(c);
  return out;
}

}  // namespace dx

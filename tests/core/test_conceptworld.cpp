#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "conceptworld/conceptworld.h"
#include "conceptworld/conceptworld_export.h"
#include "data/source_factory.h"
#include "temp_dir.h"

using dx::ConceptWorld;
using dx::ConceptWorldSpec;
using dx::test::TempDir;
namespace cw = dx::cw;
namespace fs = std::filesystem;

namespace {

ConceptWorldSpec smallSpec(ConceptWorldSpec::Split split, size_t count) {
  ConceptWorldSpec s = dx::conceptWorldDefaults(split);
  s.count = count;
  return s;
}

bool identical(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

bool overlap(const cv::Mat& a, const cv::Mat& b) { return cv::countNonZero(a & b) > 0; }

// The class of an image from its masks alone, by the definitions in conceptworld.h (objects
// never overlap, so "some object is a red circle" means the red and circle masks intersect).
// -1 when two definitions hold.
int classFromMasks(const std::vector<cv::Mat>& m) {
  bool rules[] = {overlap(m[cw::Red], m[cw::Circle]), overlap(m[cw::Blue], m[cw::Square]),
                  cv::countNonZero(m[cw::BgDark]) > 0 && cv::countNonZero(m[cw::Striped]) > 0,
                  overlap(m[cw::Triangle], m[cw::Dotted])};
  int n = int(std::count(std::begin(rules), std::end(rules), true));
  if (n > 1) return -1;
  return n == 0 ? int(cw::Other) : int(std::find(std::begin(rules), std::end(rules), true) -
                                       std::begin(rules));
}

cv::Mat unionOf(const std::vector<cv::Mat>& masks, int first, int last) {
  cv::Mat u = cv::Mat::zeros(cw::kImageSize, cw::kImageSize, CV_8UC1);
  for (int c = first; c <= last; ++c) u |= masks[size_t(c)];
  return u;
}

double watermarkRate(const ConceptWorld& w, const std::function<bool(int)>& classFilter) {
  int n = 0, marked = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!classFilter(w.label(i))) continue;
    ++n;
    marked += w.scene(i).watermark;
  }
  return n ? double(marked) / n : -1;
}

}  // namespace

TEST(ConceptWorld, ImagesAndMasksAreDeterministic) {
  ConceptWorld a(smallSpec(ConceptWorldSpec::Test, 50)), b(smallSpec(ConceptWorldSpec::Test, 50));
  for (size_t i : {0, 7, 49}) {
    auto sa = a.sample(i), sb = b.sample(i);
    EXPECT_TRUE(identical(sa.image, sb.image)) << i;
    for (size_t c = 0; c < sa.masks.size(); ++c) EXPECT_TRUE(identical(sa.masks[c], sb.masks[c]));
    EXPECT_TRUE(identical(a.load(i), sa.image));  // load() is the same rendering
  }
  EXPECT_FALSE(identical(a.load(3), a.load(4)));
  ConceptWorldSpec other = smallSpec(ConceptWorldSpec::Test, 50);
  other.seed = 1;
  EXPECT_FALSE(identical(a.load(3), ConceptWorld(other).load(3)));
  EXPECT_FALSE(identical(a.load(3), ConceptWorld(smallSpec(ConceptWorldSpec::Train, 50)).load(3)));
  // The image does not depend on how many images the split has.
  EXPECT_TRUE(identical(a.load(3), ConceptWorld(smallSpec(ConceptWorldSpec::Test, 9)).load(3)));
}

TEST(ConceptWorld, ImagesAndMasksHaveTheDocumentedFormat) {
  ConceptWorld w(smallSpec(ConceptWorldSpec::Test, 20));
  EXPECT_EQ(w.conceptNames().size(), size_t(cw::ConceptCount));
  EXPECT_EQ(w.classNames().size(), size_t(cw::ClassCount));
  EXPECT_EQ(w.itemName(12), "test/00012");
  auto s = w.sample(5);
  EXPECT_EQ(s.image.type(), CV_8UC3);
  EXPECT_EQ(s.image.size(), cv::Size(64, 64));
  ASSERT_EQ(s.masks.size(), size_t(cw::ConceptCount));
  for (const auto& m : s.masks) {
    ASSERT_EQ(m.type(), CV_8UC1);
    EXPECT_EQ(m.size(), cv::Size(64, 64));
    EXPECT_EQ(cv::countNonZero(m == 0) + cv::countNonZero(m == 255), 64 * 64);
  }
  EXPECT_TRUE(identical(w.mask(5, cw::Watermark), s.masks[cw::Watermark]));
  EXPECT_THROW(w.mask(5, cw::ConceptCount), dx::UserError);
}

TEST(ConceptWorld, MasksAreNonEmptyExactlyForConceptsPresent) {
  ConceptWorld w(smallSpec(ConceptWorldSpec::Test, 300));
  for (size_t i = 0; i < w.size(); ++i) {
    auto s = w.sample(i);
    auto present = w.conceptsPresent(i);
    for (int c = 0; c < cw::ConceptCount; ++c) {
      bool listed = std::find(present.begin(), present.end(), c) != present.end();
      ASSERT_EQ(cv::countNonZero(s.masks[size_t(c)]) > 0, listed)
          << "image " << i << " concept " << w.conceptNames()[size_t(c)];
    }
  }
}

TEST(ConceptWorld, MasksPartitionTheImage) {
  ConceptWorld w(smallSpec(ConceptWorldSpec::Test, 100));
  for (size_t i = 0; i < w.size(); ++i) {
    auto m = w.sample(i).masks;
    cv::Mat shapes = unionOf(m, cw::Circle, cw::Star);
    // Every object pixel has exactly one shape, colour and texture.
    EXPECT_TRUE(identical(shapes, unionOf(m, cw::Red, cw::Yellow))) << i;
    EXPECT_TRUE(identical(shapes, unionOf(m, cw::Plain, cw::Dotted))) << i;
    cv::Mat count = cv::Mat::zeros(64, 64, CV_8UC1);
    for (int c : {0, 1, 2, 3, 11, 12, 13, 14, 15}) count += m[size_t(c)] / 255;
    ASSERT_EQ(cv::countNonZero(count != 1), 0) << "image " << i << ": a pixel is not exactly one "
                                                  "of shape, background, watermark";
  }
}

TEST(ConceptWorld, EveryClassIsReachableAndRoughlyBalanced) {
  ConceptWorld w(smallSpec(ConceptWorldSpec::Train, 500));
  std::vector<int> counts(cw::ClassCount, 0);
  for (size_t i = 0; i < w.size(); ++i) ++counts[size_t(w.label(i))];
  for (int c = 0; c < cw::ClassCount; ++c) {
    EXPECT_GT(counts[size_t(c)], 60) << w.classNames()[size_t(c)];
    EXPECT_LT(counts[size_t(c)], 140) << w.classNames()[size_t(c)];
  }
}

TEST(ConceptWorld, LabelsFollowTheClassDefinitions) {
  ConceptWorld w(smallSpec(ConceptWorldSpec::Test, 400));
  std::set<int> objectCounts;
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_EQ(classFromMasks(w.sample(i).masks), w.label(i))
        << "image " << i << " labelled " << w.classNames()[size_t(w.label(i))];
    objectCounts.insert(int(w.scene(i).objects.size()));
  }
  EXPECT_EQ(objectCounts, (std::set<int>{1, 2}));
}

TEST(ConceptWorld, WatermarkIsSpuriousInTrainAndIndependentOfClassInTest) {
  ConceptWorld train(smallSpec(ConceptWorldSpec::Train, 800));
  int wc = train.spec().watermarkClass;
  EXPECT_NEAR(watermarkRate(train, [&](int c) { return c == wc; }), 0.95, 0.05);
  EXPECT_NEAR(watermarkRate(train, [&](int c) { return c != wc; }), 0.02, 0.02);
  ConceptWorld test(smallSpec(ConceptWorldSpec::Test, 800));
  EXPECT_NEAR(watermarkRate(test, [](int) { return true; }), 0.5, 0.06);
  for (int c = 0; c < cw::ClassCount; ++c)
    EXPECT_NEAR(watermarkRate(test, [&](int l) { return l == c; }), 0.5, 0.15)
        << test.classNames()[size_t(c)];
  ConceptWorldSpec off = smallSpec(ConceptWorldSpec::Train, 200);
  off.watermark = false;
  EXPECT_EQ(watermarkRate(ConceptWorld(off), [](int) { return true; }), 0.0);
}

TEST(ConceptWorld, WatermarkChangesOnlyItsCorner) {
  ConceptWorldSpec on = smallSpec(ConceptWorldSpec::Test, 40), off = on;
  off.watermark = false;
  ConceptWorld a(on), b(off);
  int marked = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    auto sa = a.sample(i), sb = b.sample(i);
    cv::Mat mark = sa.masks[cw::Watermark];
    EXPECT_EQ(a.label(i), b.label(i));
    if (!a.scene(i).watermark) {
      EXPECT_EQ(cv::countNonZero(mark), 0);
      EXPECT_TRUE(identical(sa.image, sb.image));
      continue;
    }
    ++marked;
    EXPECT_EQ(cv::countNonZero(mark), 64);
    EXPECT_EQ(cv::countNonZero(mark(cv::Rect(54, 54, 8, 8))), 64);  // bottom-right corner
    cv::Mat diff, channels[3];
    cv::absdiff(sa.image, sb.image, diff);
    cv::split(diff, channels);
    cv::Mat changed = (channels[0] | channels[1] | channels[2]) > 0;
    EXPECT_GT(cv::countNonZero(changed), 0);
    EXPECT_EQ(cv::countNonZero(changed & ~mark), 0) << "image " << i;
  }
  EXPECT_GT(marked, 5);
}

TEST(ConceptWorld, FingerprintChangesWithEverySpecField) {
  std::vector<ConceptWorldSpec> specs(9, dx::conceptWorldDefaults(ConceptWorldSpec::Train));
  specs[1].split = ConceptWorldSpec::Test;
  specs[2].count = 11999;
  specs[3].seed = 1;
  specs[4].watermark = false;
  specs[5].watermarkClass = cw::BlueSquare;
  specs[6].trainRateInClass = 0.9;
  specs[7].trainRateOthers = 0.03;
  specs[8].testRate = 0.4;
  std::set<std::string> fingerprints;
  for (const auto& s : specs) fingerprints.insert(ConceptWorld(s).fingerprint());
  EXPECT_EQ(fingerprints.size(), specs.size());
  EXPECT_EQ(ConceptWorld(specs[0]).fingerprint(), ConceptWorld(specs[0]).fingerprint());
}

TEST(ConceptWorld, InvalidSpecsAreUserErrors) {
  ConceptWorldSpec s = smallSpec(ConceptWorldSpec::Test, 0);
  EXPECT_THROW(ConceptWorld{s}, dx::UserError);
  s.count = 10;
  s.watermarkClass = cw::ClassCount;
  EXPECT_THROW(ConceptWorld{s}, dx::UserError);
  s.watermarkClass = 0;
  s.testRate = 1.5;
  EXPECT_THROW(ConceptWorld{s}, dx::UserError);
}

TEST(ConceptWorld, OpensByNameWithTheDefaultSplits) {
  auto train = dx::openImageSource("conceptworld:train");
  auto test = dx::openImageSource("conceptworld:test");
  auto* w = dynamic_cast<const ConceptWorld*>(train.get());
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(train->size(), 12000u);
  EXPECT_EQ(test->size(), 2000u);
  EXPECT_TRUE(w->spec().watermark);
  EXPECT_EQ(w->spec().split, ConceptWorldSpec::Train);
  EXPECT_NE(train->fingerprint(), test->fingerprint());
}

TEST(ConceptWorldExport, WritesImagesMasksAndConceptTable) {
  TempDir d;
  ConceptWorld w(smallSpec(ConceptWorldSpec::Test, 12));
  long long lastDone = -1, total = 0;
  dx::writeConceptWorld(w, d / "out", [&](const dx::Progress& p) {
    lastDone = p.done;
    total = p.total;
  });
  EXPECT_EQ(lastDone, 12);
  EXPECT_EQ(total, 12);
  std::ifstream csv(d / "out/concepts.csv");
  std::string line;
  std::getline(csv, line);
  std::string header = "image";
  for (const auto& c : w.conceptNames()) header += "," + c;
  EXPECT_EQ(line, header);
  for (size_t i = 0; i < w.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%05zu.png", i);
    std::string image = "images/" + w.classNames()[size_t(w.label(i))] + "/" + name;
    cv::Mat read = cv::imread(d / ("out/" + image), cv::IMREAD_UNCHANGED);
    EXPECT_TRUE(identical(read, w.load(i))) << image;  // PNG is lossless
    auto present = w.conceptsPresent(i);
    std::string row = image;
    for (int c = 0; c < cw::ConceptCount; ++c) {
      bool listed = std::find(present.begin(), present.end(), c) != present.end();
      row += listed ? ",1" : ",0";
      std::string mask = d / ("out/masks/" + w.conceptNames()[size_t(c)] + "/" + name);
      ASSERT_EQ(fs::exists(mask), listed) << mask;
      if (listed) {
        EXPECT_TRUE(identical(cv::imread(mask, cv::IMREAD_UNCHANGED), w.mask(i, c)));
      }
    }
    ASSERT_TRUE(std::getline(csv, line));
    EXPECT_EQ(line, row);
  }
  EXPECT_FALSE(std::getline(csv, line)) << "extra row: " << line;
  std::ifstream json(d / "out/conceptworld.json");
  std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"watermark_class\": \"red_circle\""), std::string::npos) << text;
  EXPECT_NE(text.find(w.fingerprint()), std::string::npos);
}

TEST(ConceptWorldExport, RefusesANonEmptyFolderAndStopsWhenCancelled) {
  TempDir d;
  ConceptWorld w(smallSpec(ConceptWorldSpec::Test, 3));
  std::ofstream(d / "stale.txt") << "left over";
  EXPECT_THROW(dx::writeConceptWorld(w, d.path().string()), dx::UserError);
  dx::CancelToken cancel;
  cancel.cancel();
  EXPECT_THROW(dx::writeConceptWorld(w, d / "new", {}, cancel), dx::Cancelled);
  EXPECT_FALSE(fs::exists(d / "new/concepts.csv"));
}

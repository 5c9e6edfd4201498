// The audit's target / context / bias rule (analysis/audit_categories.h) on planted data: which
// concepts co-occur with which class, which drive it, and how the label decides target vs bias.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "analysis/audit_categories.h"

using namespace dx;

TEST(AuditCategories, LabelWordsSkipConnectivesAndNegatedWords) {
  EXPECT_EQ(labelWords("(red AND circle) OR NOT watermark"),
            (std::vector<std::string>{"red", "circle"}));
  EXPECT_EQ(labelWords("NOT watermark"), std::vector<std::string>{});
  EXPECT_EQ(labelWords("sea shore OR sky"), (std::vector<std::string>{"sea shore", "sky"}));
  EXPECT_EQ(labelWords(""), std::vector<std::string>{});
}

TEST(AuditCategories, LabelIsPartOfAClassByNameByWordOrByTheUsersList) {
  const std::vector<std::string> world = {"red_circle", "blue_square", "striped_on_dark", "other"};
  auto part = [&](const std::string& label, size_t k) { return labelIsPartOfClass(label, k, world); };
  EXPECT_TRUE(part("red", 0));
  EXPECT_TRUE(part("red_circle", 0));
  EXPECT_TRUE(part("bg_dark", 2));
  EXPECT_TRUE(part("red AND NOT dotted", 0));
  EXPECT_TRUE(part("red OR circle", 0));
  EXPECT_TRUE(part("other", 3));
  // Shared with other classes: still the class's own.
  EXPECT_TRUE(part("red_circle OR blue_square", 0));
  EXPECT_TRUE(labelIsPartOfClass("Sandal OR Sneaker OR Ankle boot", 0,
                                 {"Sandal", "Sneaker", "Ankle boot", "Bag"}));
  // Narrowed by a word of no class: it still needs the class.
  EXPECT_TRUE(part("red_circle AND bg_grass", 0));
  EXPECT_TRUE(part("(red OR blue_square) AND bg_grass", 0));
  EXPECT_FALSE(part("(red AND bg_grass) OR watermark", 0));
  // Mixed with a word of no class: the concept also fires on the watermark alone.
  EXPECT_FALSE(part("watermark OR red_circle", 0));
  EXPECT_FALSE(part("(red_circle OR watermark) AND NOT striped", 0));
  EXPECT_FALSE(part("watermark", 0));
  EXPECT_FALSE(part("blue_square", 0));  // another class's only
  // Needs another class's object: where the two meet, not a part of this class.
  EXPECT_FALSE(part("red AND blue_square", 0));
  EXPECT_FALSE(part("watermark AND red AND blue_square", 0));
  EXPECT_TRUE(part("red AND NOT blue_square", 0));
  EXPECT_FALSE(labelIsPartOfClass("blue_circle", 0, {"red_circle", "blue_circle"}));
  EXPECT_FALSE(part("red OR bg_dark", 0));  // holds on any dark background
  EXPECT_FALSE(part("NOT red", 0));
  EXPECT_FALSE(part("on", 2));  // short words carry no meaning
  EXPECT_FALSE(part("", 0));
  EXPECT_FALSE(labelIsPartOfClass("wheel", 0, {"car", "bus"}));
  EXPECT_TRUE(labelIsPartOfClass("Wheel", 0, {"car", "bus"}, {{"wheel", "door"}, {}}));
  EXPECT_TRUE(wordIsPartOfClass("bg_dark", "striped_on_dark"));
  EXPECT_FALSE(wordIsPartOfClass("wheel", "car"));
}

TEST(AuditCategories, FisherTailMatchesScipy) {
  // scipy.stats.hypergeom.sf(k - 1, M, n, N)
  EXPECT_NEAR(fisherGreaterP(100, 30, 20, 12), 0.0018306094247240055, 1e-12);
  EXPECT_NEAR(fisherGreaterP(100000, 30000, 10000, 3000), 0.5040987796704346, 1e-9);
  EXPECT_NEAR(fisherGreaterP(100000, 30000, 10000, 3200), 2.4935050116233875e-06, 1e-12);
  // Below the mean the lower tail is summed: its far end would underflow to p = 0.
  EXPECT_NEAR(fisherGreaterP(60000, 12000, 6000, 100), 1.0, 1e-12);
  EXPECT_NEAR(fisherGreaterP(10000, 5000, 5000, 100), 1.0, 1e-12);
  EXPECT_NEAR(fisherGreaterP(60000, 12000, 6000, 1190), 0.6386438580241369, 1e-9);
  EXPECT_NEAR(fisherGreaterP(100, 30, 80, 25), 0.4009887932548527, 1e-12);
  EXPECT_EQ(fisherGreaterP(100, 30, 20, 0), 1.0);
  EXPECT_EQ(fisherGreaterP(100, 30, 20, 21), 0.0);
}

namespace {

// 3 classes of 100 images. Concepts: 0 "red" in 90% of red_circle and 5% elsewhere, drives it;
// 1 "watermark" the same, drives it; 2 unlabelled, the same, drives it; 3 "circle", the same,
// switching it off does nothing on average; 4 "grass" in half of every class (no class);
// 5 "square" in blue_square only, drives it.
struct Planted {
  AuditInputs inputs;
  int switchOffCalls = 0;
  bool onlyPresentImagesOfTheClass = true;
};

std::unique_ptr<Planted> planted() {
  auto p = std::make_unique<Planted>();
  AuditInputs& in = p->inputs;
  in.classes = {"red_circle", "blue_square", "other"};
  in.labels = {"red", "watermark", "", "circle", "grass", "square"};
  in.concepts = 6;
  std::mt19937 random(7);
  std::uniform_real_distribution<double> u(0, 1);
  const int n = 300;
  for (int img = 0; img < n; ++img) {
    int k = img % 3;
    in.trueClass.push_back(k);
    in.predictedClass.push_back(k);
    for (int i = 0; i < in.concepts; ++i) {
      double rate = i <= 3 ? (k == 0 ? 0.9 : 0.05) : i == 4 ? 0.5 : (k == 1 ? 0.9 : 0.05);
      in.present.push_back(u(random) < rate);
    }
  }
  Planted* raw = p.get();
  in.switchOff = [raw](int concept, int cls, const std::vector<int64_t>& images) {
    ++raw->switchOffCalls;
    std::mt19937 noise(uint32_t(concept * 10 + cls));
    std::normal_distribution<double> g(0, 0.3);
    std::vector<double> change;
    for (int64_t img : images) {
      if (raw->inputs.trueClass[size_t(img)] != cls || !raw->inputs.present[size_t(img) * 6 + size_t(concept)])
        raw->onlyPresentImagesOfTheClass = false;
      change.push_back((concept == 3 ? 0.0 : -1.0) + g(noise));
    }
    return change;
  };
  return p;
}

const AuditCell* find(const AuditResult& r, int concept, int cls) {
  for (const auto& c : r.cells)
    if (c.concept == concept && c.cls == cls) return &c;
  return nullptr;
}

}  // namespace

TEST(AuditCategories, PlantedConceptsFallIntoTheirCategories) {
  auto p = planted();
  AuditResult r = categorizeConcepts(p->inputs);
  EXPECT_EQ(r.classSource, "true");
  EXPECT_EQ(r.imagesWithClass, 300);
  ASSERT_TRUE(find(r, 0, 0));
  EXPECT_EQ(find(r, 0, 0)->category, AuditCategory::Target);
  ASSERT_TRUE(find(r, 1, 0));
  EXPECT_EQ(find(r, 1, 0)->category, AuditCategory::Bias);
  EXPECT_GT(find(r, 1, 0)->meanDrop, 0.8);
  EXPECT_LT(find(r, 1, 0)->dropP, 1e-6);
  ASSERT_TRUE(find(r, 2, 0));
  EXPECT_EQ(find(r, 2, 0)->category, AuditCategory::Unnamed);
  ASSERT_TRUE(find(r, 3, 0));
  EXPECT_EQ(find(r, 3, 0)->category, AuditCategory::Context);
  EXPECT_FALSE(find(r, 3, 0)->drives);
  ASSERT_TRUE(find(r, 5, 1));
  EXPECT_EQ(find(r, 5, 1)->category, AuditCategory::Target);
  for (int k = 0; k < 3; ++k) EXPECT_FALSE(find(r, 4, k)) << "present everywhere: no class's";
  EXPECT_FALSE(find(r, 0, 1));
  EXPECT_EQ(p->switchOffCalls, int(r.cells.size())) << "switch-off only on co-occurring cells";
  EXPECT_TRUE(p->onlyPresentImagesOfTheClass);
  // Sorted by class, then target, bias, unnamed, context.
  EXPECT_EQ(r.cells.front().concept, 0);
  EXPECT_EQ(r.cells[size_t(r.cells.size() - 1)].cls, 1);
}

TEST(AuditCategories, ThresholdsAndClassPartsChangeTheVerdict) {
  auto p = planted();
  AuditOptions strict;
  strict.minEffect = 5;  // no drop of 5 logits: everything co-occurring is context
  auto strictCells = categorizeConcepts(p->inputs, strict).cells;
  ASSERT_GE(strictCells.size(), 5u);
  for (const auto& c : strictCells) EXPECT_EQ(c.category, AuditCategory::Context);
  AuditOptions parts;
  parts.classParts = {{"watermark"}, {}, {}};
  auto r = categorizeConcepts(p->inputs, parts);
  ASSERT_TRUE(find(r, 1, 0));
  EXPECT_EQ(find(r, 1, 0)->category, AuditCategory::Target);
  AuditOptions rare;
  rare.minShareInClass = 0.95;  // present in 90% only
  EXPECT_TRUE(categorizeConcepts(p->inputs, rare).cells.empty());
}

TEST(AuditCategories, WithoutTrueClassesThePredictionsGroupTheImages) {
  auto p = planted();
  for (auto& k : p->inputs.trueClass) k = -1;
  auto r = categorizeConcepts(p->inputs);
  EXPECT_EQ(r.classSource, "predicted");
  ASSERT_TRUE(find(r, 1, 0));
  EXPECT_EQ(find(r, 1, 0)->category, AuditCategory::Bias);
}

TEST(AuditCategories, RenamingRedoesTheVerdictsWithoutTestingAgain) {
  auto p = planted();
  auto r = categorizeConcepts(p->inputs);
  const int calls = p->switchOffCalls;
  auto renamed = p->inputs.labels;
  renamed[1] = "red";       // the watermark concept renamed as part of the class
  renamed[0] = "";          // the red concept's name removed
  applyLabels(r, renamed, p->inputs.classes);
  EXPECT_EQ(p->switchOffCalls, calls);
  ASSERT_TRUE(find(r, 1, 0) && find(r, 0, 0));
  EXPECT_EQ(find(r, 1, 0)->category, AuditCategory::Target);
  EXPECT_EQ(find(r, 0, 0)->category, AuditCategory::Unnamed);
}

TEST(AuditCategories, BadSizesAndCancelAreReported) {
  auto p = planted();
  AuditInputs bad = p->inputs;
  bad.labels.pop_back();
  EXPECT_THROW(categorizeConcepts(bad), UserError);
  AuditOptions o;
  o.cancel.cancel();
  EXPECT_THROW(categorizeConcepts(p->inputs, o), Cancelled);
}

TEST(AuditCategories, JsonAndCsvCarryEveryCellAndTheRule) {
  auto p = planted();
  auto r = categorizeConcepts(p->inputs);
  std::vector<std::string> names = {"red", "watermark", "concept 2", "circle", "grass", "square"};
  auto j = auditJson(r, p->inputs.classes, names);
  EXPECT_EQ(j["cells"].size(), r.cells.size());
  EXPECT_NE(j["rule"].get<std::string>().find("Fisher"), std::string::npos);
  EXPECT_EQ(j["cells"][0]["category"], "target");
  std::string csv = auditCsv(r, p->inputs.classes, names);
  EXPECT_EQ(size_t(std::count(csv.begin(), csv.end(), '\n')), r.cells.size() + 1);
  EXPECT_NE(csv.find("\"red_circle\",1,\"watermark\",bias,"), std::string::npos);
}

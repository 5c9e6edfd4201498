// INVERT labeling (docs/methods.md 2): rank statistics against scipy/sklearn, the beam search on
// planted formulas, its options, and the label inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "labeling/concept_scalars.h"
#include "labeling/image_tags.h"
#include "labeling/invert.h"
#include "base/progress.h"
#include "temp_dir.h"

using dx::test::TempDir;

namespace {

// tests/data, from the build (CMake passes the folder) or from this file's location.
std::string testData(const std::string& name) {
#ifdef DIRECTRIX_TEST_DATA
  std::filesystem::path root = DIRECTRIX_TEST_DATA;
#else
  std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path() / "data";
#endif
  return (root / name).string();
}

// Platform-independent uniform [0, 1) from a seeded mt19937 (the std distributions differ
// between standard libraries).
struct Random {
  std::mt19937 engine;
  explicit Random(unsigned seed) : engine(seed) {}
  double uniform() { return (engine() >> 8) * (1.0 / 16777216.0); }
  bool bernoulli(double p) { return uniform() < p; }
};

// Random labels, concept j present with probability rates[j].
dx::LabelMatrix randomLabels(size_t images, const std::vector<std::string>& names,
                             const std::vector<double>& rates, Random& random) {
  dx::LabelMatrix labels(images, names);
  for (size_t i = 0; i < images; ++i)
    for (size_t j = 0; j < names.size(); ++j)
      if (random.bernoulli(rates[j])) labels.set(i, j);
  return labels;
}

bool bit(const std::vector<uint64_t>& bits, size_t i) { return (bits[i / 64] >> (i % 64)) & 1u; }

// Score 1 + noise where `target` holds, noise elsewhere: AUC(target) = 1 exactly.
std::vector<float> plantedScores(const std::vector<uint64_t>& target, size_t images,
                                 Random& random, float sign = 1) {
  std::vector<float> s(images);
  for (size_t i = 0; i < images; ++i)
    s[i] = sign * (static_cast<float>(bit(target, i)) + static_cast<float>(random.uniform()));
  return s;
}

dx::Formula parseChain(std::initializer_list<std::pair<dx::Connective, dx::Literal>> rest,
                       dx::Literal first) {
  dx::Formula f(first);
  for (const auto& [c, l] : rest) f = f.extended(c, l);
  return f;
}

void expectClose(double expected, double actual, double relative, const std::string& what) {
  EXPECT_NEAR(expected, actual, relative * std::max(std::abs(expected), 1e-300)) << what;
}

}  // namespace

// Differential test: ranks, AUC, U and the three p-values against scipy 1.10 / sklearn 1.2,
// computed by tests/support/make_invert_reference.py on samples with ties.
TEST(RankStatistics, MatchScipyAndSklearnOnSamplesWithTies) {
  std::ifstream in(testData("invert/mann_whitney.json"));
  ASSERT_TRUE(in) << testData("invert/mann_whitney.json");
  auto doc = nlohmann::json::parse(in);
  ASSERT_GE(doc["cases"].size(), 4u);
  for (const auto& c : doc["cases"]) {
    std::string name = c["name"];
    auto scores = c["scores"].get<std::vector<double>>();
    auto labels = c["labels"].get<std::vector<uint8_t>>();
    EXPECT_EQ(dx::averageRanks(scores), c["ranks"].get<std::vector<double>>()) << name;
    EXPECT_NEAR(dx::rocAuc(scores, labels), c["auc"].get<double>(), 1e-12) << name;
    std::vector<double> pos, neg;
    for (size_t i = 0; i < scores.size(); ++i) (labels[i] ? pos : neg).push_back(scores[i]);
    const std::pair<const char*, dx::Alternative> sides[] = {
        {"p_two_sided", dx::Alternative::TwoSided},
        {"p_greater", dx::Alternative::Greater},
        {"p_less", dx::Alternative::Less}};
    for (const auto& [key, alternative] : sides) {
      auto r = dx::mannWhitneyU(pos, neg, alternative);
      EXPECT_DOUBLE_EQ(r.u1, c["u1"].get<double>()) << name;
      expectClose(c[key].get<double>(), r.pValue, 1e-9, name + " " + key);
    }
  }
}

TEST(RankStatistics, DoubledRanksAreExactAndCountTies) {
  const float v[] = {3, 1, 3, 2, 3, 1};  // sorted: 1 1 2 3 3 3 -> ranks 1.5 1.5 3 5 5 5
  double tieTerm = 0;
  auto d = dx::doubledRanks(v, 6, 1, &tieTerm);
  EXPECT_EQ(d, (std::vector<int64_t>{10, 3, 10, 6, 10, 3}));
  EXPECT_DOUBLE_EQ(tieTerm, (8 - 2) + (27 - 3));
  // Strided: every second value of the same data.
  auto s = dx::doubledRanks(v, 3, 2);
  EXPECT_EQ(s, (std::vector<int64_t>{4, 4, 4}));
}

TEST(RankStatistics, AllTiedSamplesGivePOne) {
  // Zero variance: z = -inf and p = 1 after clipping, as scipy returns.
  auto r = dx::mannWhitneyU({1, 1, 1}, {1, 1}, dx::Alternative::TwoSided);
  EXPECT_DOUBLE_EQ(r.u1, 3.0);
  EXPECT_DOUBLE_EQ(r.pValue, 1.0);
}

TEST(Formula, PrintsInWordsWithParenthesesWhereTheConnectiveChanges) {
  std::vector<std::string> names{"sandal", "sneaker", "bag"};
  using C = dx::Connective;
  auto f = parseChain({{C::And, {1, true}}, {C::Or, {2, false}}}, {0, false});
  EXPECT_EQ(f.text(names), "(sandal AND NOT sneaker) OR bag");
  EXPECT_EQ(f.length(), 3u);
  EXPECT_EQ(parseChain({{C::And, {1, false}}, {C::And, {2, true}}}, {0, false}).text(names),
            "sandal AND sneaker AND NOT bag");
  EXPECT_EQ(parseChain({{C::Or, {1, false}}, {C::And, {2, false}}, {C::Or, {0, true}}},
                       {0, false}).text(names),
            "((sandal OR sneaker) AND bag) OR NOT sandal");
  EXPECT_EQ(dx::Formula({2, true}).text(names), "NOT bag");
}

TEST(LabelMatrix, NegationAndFormulasKeepPaddingBitsZero) {
  dx::LabelMatrix labels(70, {"a", "b"});  // 2 words, 58 padding bits
  for (size_t i = 0; i < 70; i += 3) labels.set(i, 0);
  labels.set(69, 1);
  auto negated = labels.negated();
  EXPECT_EQ(negated.positives(0), 70 - labels.positives(0));
  EXPECT_EQ(negated.positives(1), 69u);
  auto notA = dx::evaluate(dx::Formula({0, true}), labels);
  EXPECT_EQ(dx::popcount(notA.data(), notA.size()), 70 - labels.positives(0));
  auto f = dx::Formula({0, true}).extended(dx::Connective::Or, {1, true});
  auto bits = dx::evaluate(f, labels);
  EXPECT_EQ(dx::popcount(bits.data(), bits.size()), 69u);  // all but image 69, which has both
  EXPECT_EQ(bits[1] >> 6, 0u);  // images 64..69 only
}

// The search's rank-sum AUC, fraction and p-value of every reported formula equal a direct
// computation on the formula's positive set.
TEST(Invert, ReportedStatisticsMatchDirectComputation) {
  Random random(7);
  size_t n = 500;
  auto labels = randomLabels(n, {"a", "b", "c", "d", "e"}, {0.3, 0.2, 0.4, 0.1, 0.25}, random);
  std::vector<float> scores(n);
  for (size_t i = 0; i < n; ++i)  // coarse values: many ties
    scores[i] = std::round(4 * random.uniform() + 2.0 * labels.test(i, 0) - labels.test(i, 3));
  dx::InvertOptions options;
  options.beam = 8;
  options.length = 3;
  auto beam = dx::labelRepresentation(scores.data(), 1, labels, options);
  ASSERT_EQ(beam.size(), 8u);
  for (size_t k = 0; k < beam.size(); ++k) {
    const auto& f = beam[k];
    if (k > 0) {
      EXPECT_GE(beam[k - 1].auc, f.auc);
    }
    auto bits = dx::evaluate(f.formula, labels);
    std::vector<double> all(scores.begin(), scores.end()), pos, neg;
    std::vector<uint8_t> positive(n);
    for (size_t i = 0; i < n; ++i) {
      positive[i] = bit(bits, i);
      (positive[i] ? pos : neg).push_back(scores[i]);
    }
    std::string text = f.formula.text(labels.names());
    EXPECT_EQ(f.positives, pos.size()) << text;
    EXPECT_DOUBLE_EQ(f.fraction, double(pos.size()) / double(n)) << text;
    EXPECT_NEAR(f.auc, dx::rocAuc(all, positive), 1e-12) << text;
    expectClose(dx::mannWhitneyU(pos, neg).pValue, f.pValue, 1e-9, text);
    EXPECT_LE(f.fraction, 0.5) << text;
  }
}

TEST(Invert, RecoversPlantedFormula) {
  Random random(11);
  size_t n = 3000;
  std::vector<std::string> names{"strap", "sandal", "heel", "sneaker", "lace", "bag", "sole"};
  auto labels = randomLabels(n, names, {0.3, 0.3, 0.2, 0.3, 0.25, 0.15, 0.35}, random);
  using C = dx::Connective;
  auto planted = parseChain({{C::And, {3, true}}, {C::Or, {5, false}}}, {1, false});
  ASSERT_EQ(planted.text(names), "(sandal AND NOT sneaker) OR bag");
  auto target = dx::evaluate(planted, labels);
  auto scores = plantedScores(target, n, random);
  dx::InvertOptions options;
  options.length = 3;
  options.beam = 5;
  auto beam = dx::labelRepresentation(scores.data(), 1, labels, options);
  ASSERT_FALSE(beam.empty());
  const auto& best = beam[0];
  EXPECT_EQ(dx::evaluate(best.formula, labels), target) << best.formula.text(names);
  EXPECT_DOUBLE_EQ(best.auc, 1.0);
  const std::set<std::string> spellings{"(sandal AND NOT sneaker) OR bag",
                                        "(NOT sneaker AND sandal) OR bag"};
  EXPECT_TRUE(spellings.count(best.formula.text(names))) << best.formula.text(names);
  EXPECT_LT(best.pValue, 1e-100);
  // With L = 2 the planted formula is out of reach.
  options.length = 2;
  auto shorter = dx::labelRepresentation(scores.data(), 1, labels, options);
  EXPECT_LT(shorter[0].auc, 1.0);
  EXPECT_LE(shorter[0].formula.length(), 2u);
}

TEST(Invert, ShorterFormulasCompeteWithLongerOnes) {
  Random random(3);
  size_t n = 400;
  auto labels = randomLabels(n, {"a", "b", "c", "d"}, {0.3, 0.4, 0.2, 0.3}, random);
  auto scores = plantedScores(dx::evaluate(dx::Formula({2, false}), labels), n, random);
  dx::InvertOptions options;
  options.length = 3;
  auto beam = dx::labelRepresentation(scores.data(), 1, labels, options);
  ASSERT_FALSE(beam.empty());
  EXPECT_EQ(beam[0].formula.text(labels.names()), "c");  // no extension beats AUC 1
}

TEST(Invert, DeduplicatesFormulasWithTheSamePositiveSet) {
  Random random(5);
  size_t n = 600;
  auto labels = randomLabels(n, {"a", "a_copy", "b", "c", "d"}, {0.3, 0, 0.3, 0.2, 0.3}, random);
  for (size_t i = 0; i < n; ++i) labels.set(i, 1, labels.test(i, 0));  // a_copy == a
  auto scores = plantedScores(dx::evaluate(dx::Formula({0, false}), labels), n, random);
  for (size_t length : {1, 2, 3}) {
    dx::InvertOptions options;
    options.length = length;
    options.beam = 10;
    auto beam = dx::labelRepresentation(scores.data(), 1, labels, options);
    // Length 1: a, b, c, d (a_copy is a; the negations have fractions above 0.5).
    ASSERT_EQ(beam.size(), length == 1 ? 4u : 10u);
    EXPECT_EQ(beam[0].formula.text(labels.names()), "a");  // found first, the copy is dropped
    std::set<std::vector<uint64_t>> sets;
    for (const auto& f : beam) {
      EXPECT_NE(f.formula.text(labels.names()), "a_copy");
      EXPECT_TRUE(sets.insert(dx::evaluate(f.formula, labels)).second)
          << "duplicate positive set: " << f.formula.text(labels.names());
    }
  }
}

TEST(Invert, RespectsFractionBounds) {
  Random random(9);
  size_t n = 1000;
  auto labels = randomLabels(n, {"common", "b", "c", "d"}, {0.7, 0.3, 0.2, 0.4}, random);
  auto scores = plantedScores(dx::evaluate(dx::Formula({0, false}), labels), n, random);
  dx::InvertOptions options;
  options.beam = 6;
  for (const auto& f : dx::labelRepresentation(scores.data(), 1, labels, options)) {
    EXPECT_LE(f.fraction, 0.5) << f.formula.text(labels.names());
    EXPECT_NE(f.formula.text(labels.names()), "common");
  }
  options.maxFraction = 1.0;
  auto unbounded = dx::labelRepresentation(scores.data(), 1, labels, options);
  EXPECT_EQ(unbounded[0].formula.text(labels.names()), "common");
  EXPECT_DOUBLE_EQ(unbounded[0].auc, 1.0);
  options.minFraction = 0.15;
  options.maxFraction = 0.25;
  for (const auto& f : dx::labelRepresentation(scores.data(), 1, labels, options)) {
    EXPECT_GE(f.fraction, 0.15) << f.formula.text(labels.names());
    EXPECT_LE(f.fraction, 0.25) << f.formula.text(labels.names());
  }
  options.minFraction = 0.9;  // nothing fits: an empty beam, not an error
  options.maxFraction = 0.95;
  EXPECT_TRUE(dx::labelRepresentation(scores.data(), 1, labels, options).empty());
}

TEST(Invert, NegativeModeFindsTheLowestScoringImages) {
  Random random(13);
  size_t n = 800;
  auto labels = randomLabels(n, {"a", "b", "c"}, {0.3, 0.3, 0.3}, random);
  auto scores = plantedScores(dx::evaluate(dx::Formula({1, false}), labels), n, random, -1);
  dx::InvertOptions options;
  options.mode = dx::InvertMode::Negative;
  options.beam = 4;
  auto beam = dx::labelRepresentation(scores.data(), 1, labels, options);
  ASSERT_EQ(beam.size(), 4u);
  EXPECT_EQ(beam[0].formula.text(labels.names()), "b");
  EXPECT_DOUBLE_EQ(beam[0].auc, 0.0);
  for (size_t k = 1; k < beam.size(); ++k) EXPECT_LE(beam[k - 1].auc, beam[k].auc);
  // Positive mode cannot use NOT b (fraction ~0.7 > 0.5) and finds nothing that strong.
  options.mode = dx::InvertMode::Positive;
  EXPECT_LT(dx::labelRepresentation(scores.data(), 1, labels, options)[0].auc, 0.9);
}

TEST(Invert, AllRepresentationsInParallelMatchOneByOne) {
  Random random(17);
  size_t n = 500, reps = 7;
  auto labels = randomLabels(n, {"a", "b", "c", "d", "e", "f"},
                             {0.3, 0.2, 0.4, 0.1, 0.25, 0.3}, random);
  std::vector<float> scores(n * reps);
  for (auto& s : scores) s = static_cast<float>(std::round(8 * random.uniform()));
  for (size_t i = 0; i < n; ++i)
    for (size_t r = 0; r < reps; ++r) scores[i * reps + r] += float(labels.test(i, r % 6)) * 3;
  dx::InvertOptions options;
  options.threads = 3;
  std::vector<long long> seen;
  options.progress = [&](const dx::Progress& p) {
    EXPECT_EQ(p.total, static_cast<long long>(reps));
    seen.push_back(p.done);
  };
  auto all = dx::labelRepresentations(scores.data(), reps, labels, options);
  ASSERT_EQ(all.size(), reps);
  EXPECT_EQ(seen, (std::vector<long long>{1, 2, 3, 4, 5, 6, 7}));
  options.progress = {};
  for (size_t r = 0; r < reps; ++r) {
    auto one = dx::labelRepresentation(scores.data() + r, reps, labels, options);
    ASSERT_EQ(one.size(), all[r].size());
    for (size_t k = 0; k < one.size(); ++k) {
      EXPECT_EQ(one[k].formula, all[r][k].formula);
      EXPECT_EQ(one[k].auc, all[r][k].auc);
      EXPECT_EQ(one[k].pValue, all[r][k].pValue);
    }
    const auto& literals = all[r][0].formula.literals();  // the planted concept is used
    EXPECT_NE(std::find(literals.begin(), literals.end(), dx::Literal{r % 6, false}),
              literals.end()) << all[r][0].formula.text(labels.names());
  }
}

TEST(Invert, CancelStopsTheJob) {
  Random random(19);
  size_t n = 200, reps = 6;
  auto labels = randomLabels(n, {"a", "b", "c"}, {0.3, 0.3, 0.3}, random);
  std::vector<float> scores(n * reps);
  for (auto& s : scores) s = static_cast<float>(random.uniform());
  dx::InvertOptions options;
  options.cancel.cancel();
  EXPECT_THROW(dx::labelRepresentation(scores.data(), reps, labels, options), dx::Cancelled);
  EXPECT_THROW(dx::labelRepresentations(scores.data(), reps, labels, options), dx::Cancelled);
  // Cancelled from the progress sink after the first representation: stops before the rest.
  dx::InvertOptions midway;
  midway.threads = 1;
  int calls = 0;
  midway.progress = [&](const dx::Progress&) {
    ++calls;
    midway.cancel.cancel();
  };
  EXPECT_THROW(dx::labelRepresentations(scores.data(), reps, labels, midway), dx::Cancelled);
  EXPECT_EQ(calls, 1);
}

TEST(Invert, RejectsNaNScoresAndBadOptions) {
  dx::LabelMatrix labels(4, {"a"});
  labels.set(0, 0);
  std::vector<float> scores{1, 2, 3, 4, 5, NAN, 7, 8};  // 4 x 2, NaN in representation 1
  try {
    dx::labelRepresentations(scores.data(), 2, labels, {});
    FAIL() << "NaN accepted";
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("representation 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
  dx::InvertOptions bad;
  bad.length = 0;
  EXPECT_THROW(dx::labelRepresentation(scores.data(), 2, labels, bad), dx::UserError);
  bad.length = 2;
  bad.minFraction = 0.6;
  EXPECT_THROW(dx::labelRepresentation(scores.data(), 2, labels, bad), dx::UserError);
}

TEST(ConceptScalars, MaxAndMeanOverSpace) {
  // 2 images x 2 concepts x 1 x 3
  const float maps[] = {1, 5, 3, -1, -2, -3, 0, 0, 6, 2, 2, 2};
  EXPECT_EQ(dx::reduceConceptMaps(maps, 2, 2, 1, 3, dx::SpatialReduction::Max),
            (std::vector<float>{5, -1, 6, 2}));
  EXPECT_EQ(dx::reduceConceptMaps(maps, 2, 2, 1, 3, dx::SpatialReduction::Mean),
            (std::vector<float>{3, -2, 2, 2}));
}

TEST(ImageTags, ReadsTagsAlignedToTheImageList) {
  TempDir dir;
  std::ofstream(dir / "tags.csv") << "image,tags\n"
                                     "# comment\n"
                                     "b.png, sandal , strap\n"
                                     "\n"
                                     "a.png,bag\n"
                                     "stray.png,bag\n"
                                     "d.png\n";
  auto t = dx::readImageTags(dir / "tags.csv", {"a.png", "b.png", "c.png", "d.png"});
  EXPECT_EQ(t.labels.names(), (std::vector<std::string>{"bag", "sandal", "strap"}));
  EXPECT_EQ(t.labels.images(), 4u);
  EXPECT_TRUE(t.labels.test(0, 0));
  EXPECT_TRUE(t.labels.test(1, 1) && t.labels.test(1, 2) && !t.labels.test(1, 0));
  EXPECT_EQ(t.labels.positives(0), 1u);
  EXPECT_EQ(t.unknownImages, (std::vector<std::string>{"stray.png"}));
  EXPECT_EQ(t.untaggedImages, (std::vector<std::string>{"c.png"}));
}

TEST(ImageTags, ErrorsNameTheFileAndLine) {
  TempDir dir;
  auto expectError = [&](const std::string& text, const std::string& fragment) {
    std::ofstream(dir / "tags.csv") << text;
    try {
      dx::readImageTags(dir / "tags.csv", {"a.png", "b.png"});
      ADD_FAILURE() << "accepted: " << text;
    } catch (const dx::UserError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("tags.csv"), std::string::npos) << m;
      EXPECT_NE(m.find(fragment), std::string::npos) << m;
    }
  };
  expectError("a.png,x\n,y\n", "tags.csv:2: ");
  expectError("a.png,x\nb.png,y\na.png,z\n", "tags.csv:3: image \"a.png\" is listed again "
                                             "(first on line 1)");
  expectError("a.png,x,,y\n", "tags.csv:1: tag 2 is empty");
  expectError("\"a.png\",x\n", "quoted");
  expectError("z.png,x\n", "no line names one of the 2 images");
  EXPECT_THROW(dx::readImageTags(dir / "missing.csv", {"a.png"}), dx::UserError);
}

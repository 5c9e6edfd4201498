// Seed stability (discovery/concept_stability.h): the one-to-one matching of two fits' detectors
// by firing IoU, the median over refits, and the seeded patch sample it is measured on.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "base/tensor_io.h"
#include "discovery/concept_stability.h"
#include "discovery/synthetic_pairs.h"
#include "temp_dir.h"

using namespace dx;

namespace {

ConceptBasis basisOf(const at::Tensor& decoders, const at::Tensor& biases) {
  ConceptBasis b;
  b.method = "test";
  b.decoders = decoders;
  b.biases = biases;
  b.encoders = decoders;
  return b;
}

ConceptBasis permuted(const ConceptBasis& b, const std::vector<int64_t>& order) {
  auto index = torch::tensor(order, torch::kLong);
  return basisOf(b.decoders.index_select(0, index), b.biases.index_select(0, index));
}

SyntheticPairs pairs() {
  SyntheticPairsSpec spec;
  spec.concepts = 6, spec.dims = 32, spec.distractors = 2, spec.height = spec.width = 2;
  spec.imagesPerClass = 300;
  return makeSyntheticPairs(spec);
}

}  // namespace

TEST(ConceptStability, AssignmentMaximisesTheTotalNotEachRowGreedily) {
  // Greedy takes (0, 0) = 0.9 and then (1, 1) = 0.1; the best total is 0.8 + 0.85.
  auto w = torch::tensor({0.9, 0.8, 0.0, 0.85, 0.1, 0.0}).view({2, 3});
  EXPECT_EQ(maxWeightAssignment(w), (std::vector<int64_t>{1, 0}));
  EXPECT_THROW(maxWeightAssignment(w.t()), std::invalid_argument);
  // Ties (all zero) still give a one-to-one assignment; no rows, none; NaN is refused.
  auto zeros = maxWeightAssignment(torch::zeros({3, 4}));
  EXPECT_EQ(std::set<int64_t>(zeros.begin(), zeros.end()).size(), 3u);
  EXPECT_TRUE(maxWeightAssignment(torch::zeros({0, 4})).empty());
  auto nan = w.clone();
  nan[1][1] = NAN;
  EXPECT_THROW(maxWeightAssignment(nan), std::invalid_argument);
}

TEST(ConceptStability, APermutedCopyMatchesEveryConceptExactly) {
  auto data = pairs();
  auto truth = basisOf(data.decoders, data.biases);
  auto patches = patchesOf(data.activations);
  auto copy = permuted(truth, {3, 5, 0, 1, 4, 2});
  for (double v : matchedFiringIou(truth, copy, patches)) EXPECT_DOUBLE_EQ(v, 1.0);
  for (double v : conceptStability(truth, {copy, copy}, patches)) EXPECT_DOUBLE_EQ(v, 1.0);
}

TEST(ConceptStability, RandomDetectorsAreUnstableAndTheTrueOnesAreNot) {
  // Random hyperplanes that each fire on a sixth of the patches, as the six true concepts do:
  // another draw finds other patches.
  auto data = pairs();
  auto patches = patchesOf(data.activations);
  auto randomBasis = [&](uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    auto w = torch::randn({6, patches.size(1)}, gen);
    return basisOf(w, torch::quantile(patches.matmul(w.t()), 5.0 / 6, 0));
  };
  auto reference = randomBasis(1);
  auto stability = conceptStability(reference, {randomBasis(2), randomBasis(3), randomBasis(4)},
                                    patches);
  EXPECT_LT(*std::max_element(stability.begin(), stability.end()), kUnstableBelow);
  // The true detectors against refits in which concepts 0 and 1 are lost (their detectors
  // duplicate concepts 2 and 3; one concept per patch, so those fire elsewhere): the median over
  // three refits ignores one bad refit and not two.
  auto truth = basisOf(data.decoders, data.biases);
  auto broken = basisOf(data.decoders.clone(), data.biases.clone());
  broken.decoders.slice(0, 0, 2).copy_(data.decoders.slice(0, 2, 4));
  broken.biases.slice(0, 0, 2).copy_(data.biases.slice(0, 2, 4));
  auto mixed = conceptStability(truth, {truth, broken, truth}, patches);
  for (double v : mixed) EXPECT_DOUBLE_EQ(v, 1.0);
  auto mostlyBroken = conceptStability(truth, {broken, broken, truth}, patches);
  EXPECT_EQ(mostlyBroken[0], 0.0);
  EXPECT_EQ(mostlyBroken[1], 0.0);
  for (size_t i = 2; i < 6; ++i) EXPECT_DOUBLE_EQ(mostlyBroken[i], 1.0);
  // Two refits, one of which loses the concept: the lower median is 0, not the mean 0.5, which
  // would pass as stable.
  auto halfFound = conceptStability(truth, {truth, broken}, patches);
  EXPECT_EQ(halfFound[0], 0.0);
  EXPECT_DOUBLE_EQ(halfFound[2], 1.0);
}

TEST(ConceptStability, ADetectorThatNeverFiresMatchesWithIouZero) {
  auto data = pairs();
  auto patches = patchesOf(data.activations);
  auto truth = basisOf(data.decoders, data.biases);
  auto dead = basisOf(data.decoders.clone(), data.biases.clone());
  dead.biases[0] = 1e9;  // fires nowhere, in neither fit below
  auto values = matchedFiringIou(dead, dead, patches);
  EXPECT_EQ(values[0], 0.0);
  EXPECT_DOUBLE_EQ(values[1], 1.0);
  EXPECT_THROW(matchedFiringIou(truth, basisOf(data.decoders.slice(0, 0, 3),
                                               data.biases.slice(0, 0, 3)), patches),
               UserError);
}

TEST(ConceptStability, SamplesSeededPatchesFromAMappedCache) {
  auto data = pairs();
  test::TempDir d;
  writeNpyTensor(d / "a.npy", data.activations);
  auto mapped = mapNpyTensor(d / "a.npy");
  auto all = patchesOf(data.activations);
  auto sample = stabilitySample(mapped, 500, 7);
  ASSERT_EQ(sample.size(0), 500);
  EXPECT_TRUE(stabilitySample(mapped, 500, 7).equal(sample));
  EXPECT_FALSE(stabilitySample(mapped, 500, 8).equal(sample));
  // Every sampled row is one of the patches, and no patch is drawn twice.
  auto distance = torch::cdist(sample, all, 2, /*donot_use_mm_for_euclid_dist*/ 2);
  auto [nearest, which] = distance.min(1);
  EXPECT_LT(nearest.max().item<double>(), 1e-4);
  std::set<int64_t> rows;
  for (int64_t i = 0; i < which.size(0); ++i) rows.insert(which[i].item<int64_t>());
  EXPECT_EQ(rows.size(), 500u);
  EXPECT_TRUE(stabilitySample(mapped, all.size(0) + 10, 7).equal(all));
}

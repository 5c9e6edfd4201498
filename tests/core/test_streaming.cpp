// Fits stream their patches from a memory-mapped cache (discovery/patches.h): the same result
// as with every patch in memory, for every method, from float32 and from float16 files.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "base/npy.h"
#include "base/tensor_io.h"
#include "discovery/concept_method.h"
#include "discovery/method_registry.h"
#include "discovery/patches.h"
#include "basis_difference.h"
#include "temp_dir.h"

using dx::test::TempDir;
using dx::test::largestDifference;

namespace {

// 300 images of 12 channels on a 4 x 4 grid (4,800 patches: several 1,024-row blocks):
// ReLU of sparse codes on 5 directions plus noise, so every method (NMF included) applies.
at::Tensor activations() {
  auto gen = at::detail::createCPUGenerator(5);
  auto codes = torch::relu(torch::randn({300 * 16, 5}, gen) - 0.5);
  auto dictionary = torch::rand({5, 12}, gen);
  auto patches = torch::relu(codes.matmul(dictionary) + 0.05 * torch::randn({300 * 16, 12}, gen));
  return patches.view({300, 4, 4, 12}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace

TEST(Streaming, PatchesReadInBlocksEqualTheMatrix) {
  auto z = activations();
  TempDir d;
  dx::writeNpyTensor(d / "a.npy", z);
  dx::Patches kept(z, int64_t(1) << 40), streamed(dx::mapNpyTensor(d / "a.npy"), 0, 1000);
  ASSERT_TRUE(kept.kept());
  ASSERT_FALSE(streamed.kept());
  EXPECT_GT(streamed.blocks(), 1);
  auto matrix = dx::patchesOf(z);
  EXPECT_TRUE(torch::equal(streamed.block(1000, 2000), matrix.slice(0, 1000, 3000)));
  auto rows = torch::tensor({4799, 0, 17, 2048}, torch::kLong);
  EXPECT_TRUE(torch::equal(streamed.at(rows), matrix.index_select(0, rows)));
  EXPECT_TRUE(torch::allclose(streamed.mean(), matrix.mean(0), 1e-5, 1e-6));
  auto doubled = streamed.mapped([](const at::Tensor& x) { return 2 * x; });
  EXPECT_TRUE(torch::equal(doubled.at(rows), 2 * matrix.index_select(0, rows)));
}

TEST(Streaming, AMatrixIsReadInPlaceNotCopied) {
  // Samples handed to k-means and the signal vectors are read where they are: a copy of EDDP's
  // 100,000-patch sample is 0.8 GB at 2,048 channels.
  auto matrix = dx::patchesOf(activations());
  auto patches = dx::Patches::ofMatrix(matrix);
  ASSERT_TRUE(patches.kept());
  EXPECT_EQ(patches.block(0, 10).data_ptr(), matrix.data_ptr());
  EXPECT_TRUE(torch::equal(patches.block(100, 50), matrix.slice(0, 100, 150)));
  EXPECT_EQ(patches.rows(), matrix.size(0));
}

TEST(Streaming, EveryMethodFitsAMappedCacheAsItFitsMemory) {
  auto z = activations();
  TempDir d;
  dx::writeNpyTensor(d / "a.npy", z);
  auto mapped = dx::mapNpyTensor(d / "a.npy");
  for (const auto& name : dx::conceptMethodNames()) {
    auto method = dx::makeConceptMethod(name);
    dx::FitOptions o;
    o.concepts = 4;
    o.seed = 3;
    o.preset = "quick";
    o.keepPatchesBytes = int64_t(1) << 40;
    o.patchBlockRows = 1000;  // several blocks, cutting through images
    auto inMemory = method->fit(z, o);
    o.keepPatchesBytes = 0;  // stream every block from the file
    auto streamed = method->fit(mapped, o);
    // Streamed blocks cut through images where kept ones do not, so block sums round apart: the
    // SAE's thousands of Adam steps amplify that to about 0.6%; the other fits agree to 1e-4.
    EXPECT_LT(largestDifference(streamed, inMemory), name == "sae" ? 2e-2 : 1e-4) << name;
  }
}

TEST(Streaming, Float16CacheFitsLikeItsFloat32Values) {
  auto z = activations().to(torch::kHalf);
  TempDir d;
  std::vector<size_t> shape(z.sizes().begin(), z.sizes().end());
  dx::writeNpy(d / "h.npy", dx::npy::float16, shape, z.data_ptr());
  dx::FitOptions o;
  o.concepts = 4;
  o.keepPatchesBytes = 0;
  auto method = dx::makeConceptMethod("pca");
  auto streamed = method->fit(dx::mapNpyTensor(d / "h.npy"), o);
  auto reference = method->fit(z.to(torch::kFloat), o);
  EXPECT_LT(largestDifference(streamed, reference), 1e-4);
}

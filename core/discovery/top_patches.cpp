#include "discovery/top_patches.h"

#include <torch/torch.h>

#include "base/stopwatch.h"
#include "base/tensor_io.h"

namespace dx {

TopPatchCollector::TopPatchCollector(int concepts, int k, int mapHeight, int mapWidth)
    : mConcepts(concepts), mK(k), mHeight(mapHeight), mWidth(mapWidth),
      mScores(torch::empty({0, concepts})), mIndex(torch::empty({0, concepts}, torch::kLong)) {}

void TopPatchCollector::add(const at::Tensor& scores, int64_t firstImage) {
  auto cpu = scores.to(torch::kCPU, torch::kFloat);
  auto local = cpu.topk(std::min<int64_t>(mK, cpu.size(0)), 0);
  auto candidates = torch::cat({mScores, std::get<0>(local)});
  auto indices = torch::cat({mIndex, std::get<1>(local) + firstImage * mHeight * mWidth});
  auto merged = candidates.topk(std::min<int64_t>(mK, candidates.size(0)), 0);
  mScores = std::get<0>(merged);
  mIndex = indices.gather(0, std::get<1>(merged));
}

std::vector<std::vector<TopPatch>> TopPatchCollector::result() const {
  const int64_t perImage = int64_t(mHeight) * mWidth;
  std::vector<std::vector<TopPatch>> out(static_cast<size_t>(mConcepts));
  auto s = mScores.accessor<float, 2>();
  auto idx = mIndex.accessor<int64_t, 2>();
  for (int64_t i = 0; i < mConcepts; ++i)
    for (int64_t r = 0; r < mScores.size(0); ++r) {
      int64_t p = idx[r][i];
      out[size_t(i)].push_back({p / perImage, int((p % perImage) / mWidth), int(p % mWidth), s[r][i]});
    }
  return out;
}

std::vector<std::vector<TopPatch>> topPatches(const ConceptBasis& basis, const NpyMap& activations,
                                              int k, const ProgressSink& progress,
                                              const CancelToken& cancel) {
  torch::NoGradGuard noGrad;
  const auto& shape = activations.shape();
  int64_t n = int64_t(shape[0]), h = int64_t(shape[2]), w = int64_t(shape[3]);
  auto decoders = basis.decoders.to(torch::kCPU), biases = basis.biases.to(torch::kCPU);
  TopPatchCollector collector(basis.concepts(), k, int(h), int(w));
  const int64_t chunkImages = std::max<int64_t>(1, 65536 / (h * w));
  Stopwatch clock;
  for (int64_t start = 0; start < n; start += chunkImages) {
    if (cancel.cancelled()) throw Cancelled();
    int64_t count = std::min(chunkImages, n - start);
    auto z = npyRows(activations, size_t(start), size_t(count));
    collector.add(patchesOf(z).matmul(decoders.t()) - biases, start);
    if (progress) progress(clock.progress("top patches", start + count, n));
  }
  return collector.result();
}

}  // namespace dx

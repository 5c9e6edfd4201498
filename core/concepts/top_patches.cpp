#include "top_patches.h"

#include <torch/torch.h>

#include "stopwatch.h"
#include "tensor_io.h"

namespace cs {

std::vector<std::vector<TopPatch>> topPatches(const ConceptBasis& basis, const NpyMap& activations,
                                              int k, const ProgressSink& progress,
                                              const CancelToken& cancel) {
  torch::NoGradGuard noGrad;
  const auto& shape = activations.shape();
  int64_t n = int64_t(shape[0]), h = int64_t(shape[2]), w = int64_t(shape[3]);
  int64_t perImage = h * w, concepts = basis.concepts();
  auto decoders = basis.decoders.to(torch::kCPU), biases = basis.biases.to(torch::kCPU);
  at::Tensor bestScores = torch::empty({0, concepts}), bestIndex = torch::empty({0, concepts}, torch::kLong);
  const int64_t chunkImages = std::max<int64_t>(1, 65536 / perImage);
  Stopwatch clock;
  for (int64_t start = 0; start < n; start += chunkImages) {
    if (cancel.cancelled()) throw Cancelled();
    int64_t count = std::min(chunkImages, n - start);
    auto z = npyRows(activations, size_t(start), size_t(count));
    auto scores = patchesOf(z).matmul(decoders.t()) - biases;  // P x I
    auto local = scores.topk(std::min<int64_t>(k, scores.size(0)), 0);
    auto candidates = torch::cat({bestScores, std::get<0>(local)});
    auto indices = torch::cat({bestIndex, std::get<1>(local) + start * perImage});
    auto merged = candidates.topk(std::min<int64_t>(k, candidates.size(0)), 0);
    bestScores = std::get<0>(merged);
    bestIndex = indices.gather(0, std::get<1>(merged));
    if (progress) progress(clock.progress("top patches", start + count, n));
  }
  std::vector<std::vector<TopPatch>> out(static_cast<size_t>(concepts));
  auto s = bestScores.accessor<float, 2>();
  auto idx = bestIndex.accessor<int64_t, 2>();
  for (int64_t i = 0; i < concepts; ++i)
    for (int64_t r = 0; r < bestScores.size(0); ++r) {
      int64_t p = idx[r][i];
      out[size_t(i)].push_back({p / perImage, int((p % perImage) / w), int(p % w), s[r][i]});
    }
  return out;
}

}  // namespace cs

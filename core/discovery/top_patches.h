#pragma once
// The highest-scoring patches of every concept over a whole activation cache, in one streaming
// pass: each chunk's candidates (torch::topk) are merged into the running best k, so memory is
// O(chunk + I k) whatever the dataset size.
#include <vector>

#include "activations/activation_cache.h"
#include "discovery/concept_maps.h"
#include "discovery/concept_method.h"

namespace dx {

struct TopPatch {
  int64_t image = 0;  // row of the cache
  int row = 0, col = 0;
  float score = 0;    // w_i . x - b_i
};

// Merges chunks of patch scores into the best k per concept.
class TopPatchCollector {
 public:
  TopPatchCollector(int concepts, int k, int mapHeight, int mapWidth);
  // scores: P x I for the patches of whole images, the first belonging to image `firstImage`.
  void add(const at::Tensor& scores, int64_t firstImage);
  std::vector<std::vector<TopPatch>> result() const;  // per concept, decreasing score

 private:
  int mConcepts, mK, mHeight, mWidth;
  at::Tensor mScores, mIndex;  // k' x I, patch indices over the dataset
};

// Returns, per concept, up to k patches in decreasing score. Reports progress and can be
// cancelled between chunks.
std::vector<std::vector<TopPatch>> topPatches(const ConceptBasis& basis, const NpyMap& activations,
                                              int k, const ProgressSink& progress = {},
                                              const CancelToken& cancel = {});

}  // namespace dx

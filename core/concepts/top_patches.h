#pragma once
// The highest-scoring patches of every concept over a whole activation cache, in one streaming
// pass: each chunk's candidates (torch::topk) are merged into the running best k, so memory is
// O(chunk + I k) whatever the dataset size.
#include <vector>

#include "activation_cache.h"
#include "concept_maps.h"
#include "concept_method.h"

namespace cs {

struct TopPatch {
  int64_t image = 0;  // row of the cache
  int row = 0, col = 0;
  float score = 0;    // w_i . x - b_i
};

// Returns, per concept, up to k patches in decreasing score. Reports progress and can be
// cancelled between chunks.
std::vector<std::vector<TopPatch>> topPatches(const ConceptBasis& basis, const NpyMap& activations,
                                              int k, const ProgressSink& progress = {},
                                              const CancelToken& cancel = {});

}  // namespace cs

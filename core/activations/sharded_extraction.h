#pragma once
// Extraction by several processes (docs/architecture.md "Several processes"): every rank runs
// the same request; rank r extracts a contiguous run of whole batches into its own shard cache
// beside the output, and rank 0 merges the shards, in order, into the cache one process would
// have written, byte for byte (the same batches meet the model, so the same rounding). Shards
// are caches with their own keys: a rerun after a failure keeps the complete ones.
#include <chrono>

#include "activations/extractor.h"
#include "distributed/launch.h"
#include "distributed/process_group.h"

namespace dx {

// The images [begin, end) rank `rank` extracts: its share of the batches of `batchSize`.
Share extractionShard(size_t listedImages, size_t batchSize, int rank, int worldSize);

// Called by every rank with the same request. `silence`: how long a rank may go without a sign
// of life before the job fails with a message naming it and its shard. Rank 0's result describes
// the merged cache; the other ranks' carry its folder and key only.
// `result.keptShards` counts the shards an earlier run had finished (not extracted again).
struct ShardedExtractionResult : ExtractionResult {
  int keptShards = 0;
};
ShardedExtractionResult extractSharded(const ExtractionRequest& request, ProcessGroup& group,
                                std::chrono::milliseconds silence,
                                const ProgressSink& progress = {},
                                const CancelToken& cancel = {});

}  // namespace dx

#include "activations/sharded_extraction.h"

#include <filesystem>

#include "activations/cache_merge.h"
#include "base/stopwatch.h"
#include "distributed/rank_watch.h"

namespace dx {
namespace fs = std::filesystem;

namespace {

std::string describeShard(const Share& s, int rank) {
  return "shard " + std::to_string(rank) + ": images " + std::to_string(s.begin) + "-" +
         std::to_string(s.end == 0 ? 0 : s.end - 1);
}

std::string shardFolder(const std::string& outDir, const std::string& key, const Share& s) {
  return cacheShardsFolder(outDir) + "/" + key.substr(0, 16) + "-images-" +
         std::to_string(s.begin) + "-" + std::to_string(s.end);
}

// Rank 0, once every shard is complete: the merged cache, then the shards go.
void mergeShards(const ExtractionRequest& r, const std::string& key, int worldSize,
                 double seconds) {
  size_t listed = listedImageCount(r);
  CacheMergeRequest merge;
  for (int rank = 0; rank < worldSize; ++rank) {
    Share s = extractionShard(listed, size_t(r.batchSize), rank, worldSize);
    if (s.size() > 0) merge.shardDirs.push_back(shardFolder(r.outDir, key, s));
  }
  merge.outDir = r.outDir;
  merge.key = key;
  merge.listedImages = listed;
  merge.seconds = seconds;
  mergeCacheShards(merge);
  std::error_code ignored;
  fs::remove_all(cacheShardsFolder(r.outDir), ignored);
}

}  // namespace

Share extractionShard(size_t listedImages, size_t batchSize, int rank, int worldSize) {
  batchSize = std::max<size_t>(1, batchSize);
  Share batches = shareOf((listedImages + batchSize - 1) / batchSize, rank, worldSize);
  return {std::min(listedImages, batches.begin * batchSize),
          std::min(listedImages, batches.end * batchSize)};
}

ShardedExtractionResult extractSharded(const ExtractionRequest& r, ProcessGroup& group,
                                std::chrono::milliseconds silence, const ProgressSink& progress,
                                const CancelToken& cancel) {
  if (!r.model || !r.source) throw UserError("extraction needs a model and an image source.");
  if (r.outDir.empty()) throw UserError("extraction needs an output folder (--out).");
  const std::string key = extractionKey(r);
  Stopwatch clock;
  if (group.rank() == 0) recoverInterruptedCacheWrite(r.outDir);
  group.barrier();
  ShardedExtractionResult result;
  result.dir = fs::absolute(r.outDir).string();
  result.key = key;
  if (r.reuse && cacheIsComplete(r.outDir, key)) {
    result.reused = true;
    result.images = ActivationCache(r.outDir).size();
    return result;
  }
  checkCacheDestination(r.outDir);
  const size_t listed = listedImageCount(r);
  const int world = group.size();
  auto describe = [&](int rank) {
    return describeShard(extractionShard(listed, size_t(r.batchSize), rank, world), rank);
  };
  RankWatch watch(group, "extract/" + key, silence);
  const Share mine = extractionShard(listed, size_t(r.batchSize), group.rank(), world);
  try {
    bool kept = false;
    if (mine.size() > 0) {
      ExtractionRequest shard = r;
      shard.first = mine.begin;
      shard.count = mine.size();
      shard.outDir = shardFolder(r.outDir, key, mine);
      shard.reuse = r.reuse;  // a shard finished by an earlier run is kept
      fs::create_directories(cacheShardsFolder(r.outDir));
      kept = extractActivations(shard, progress, cancel).reused;
    }
    watch.done(kept ? "kept" : "extracted");
    if (group.rank() == 0) {
      for (const auto& note : watch.awaitEveryRank(describe, cancel))
        result.keptShards += note == "kept";
      mergeShards(r, key, world, clock.seconds());
      watch.finish("");
    } else {
      watch.awaitOutcome(cancel);
    }
  } catch (const std::exception& e) {
    std::string message = dynamic_cast<const Cancelled*>(&e)
                              ? group.launch().describe() + " was cancelled"
                              : std::string(e.what());
    watch.failed(message);
    if (group.rank() == 0) watch.finish(message);
    throw;
  }
  result.images = ActivationCache(r.outDir).size();
  result.skipped = ActivationCache(r.outDir).skipped().size();
  result.seconds = clock.seconds();
  return result;
}

}  // namespace dx

#include "activations/sharded_extraction.h"

#include <filesystem>

#include "activations/cache_merge.h"
#include "base/stopwatch.h"
#include "distributed/rank_watch.h"

namespace dx {
namespace fs = std::filesystem;

namespace {

std::string describeShard(const Share& s, int rank) {
  if (s.size() == 0) return "shard " + std::to_string(rank) + ": no images";
  return "shard " + std::to_string(rank) + ": images " + std::to_string(s.begin) + "-" +
         std::to_string(s.end - 1);
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
  merge.source = r.source->description();
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

namespace {

// This rank's shard (nothing for an empty share); true when an earlier run had finished it.
bool extractOwnShard(const ExtractionRequest& r, const std::string& key, const Share& mine,
                     const ProgressSink& progress, const CancelToken& cancel) {
  if (mine.size() == 0) return false;
  ExtractionRequest shard = r;
  shard.first = mine.begin;
  shard.count = mine.size();
  shard.outDir = shardFolder(r.outDir, key, mine);
  shard.reuse = r.reuse;  // a shard finished by an earlier run is kept
  fs::create_directories(cacheShardsFolder(r.outDir));
  return extractActivations(shard, progress, cancel).reused;
}

// Every rank must extract the same list with the same model: rank 0 publishes its key and the
// others compare before any work starts.
void checkSameKey(ProcessGroup& group, const std::string& key) {
  if (group.rank() == 0) group.set("extract/key", key);
  group.barrier();
  auto leader = group.read("extract/key");
  if (leader && *leader != key)
    throw UserError(group.launch().describe() + " computed another cache key (" + key +
                    ") than rank 0 (" + *leader + "): the model file, the image folder's listing "
                    "or the options differ between the ranks. Give every rank the same files "
                    "and command line.");
}

}  // namespace

ShardedExtractionResult extractSharded(const ExtractionRequest& r, ProcessGroup& group,
                                       std::chrono::milliseconds silence,
                                       const ProgressSink& progress, const CancelToken& cancel) {
  if (!r.model || !r.source) throw UserError("extraction needs a model and an image source.");
  if (r.outDir.empty()) throw UserError("extraction needs an output folder (--out).");
  const std::string key = extractionKey(r);
  Stopwatch clock;
  if (group.rank() == 0) recoverInterruptedCacheWrite(r.outDir);
  ShardedExtractionResult result;
  result.dir = fs::absolute(r.outDir).string();
  result.key = key;
  std::string keyProblem;
  try {
    checkSameKey(group, key);
  } catch (const UserError& e) {
    keyProblem = e.what();
  }
  if (keyProblem.empty() && r.reuse && cacheIsComplete(r.outDir, key)) {
    result.reused = true;
    result.images = ActivationCache(r.outDir).size();
    return result;
  }
  const size_t listed = listedImageCount(r);
  const int world = group.size();
  auto describe = [&](int rank) {
    return describeShard(extractionShard(listed, size_t(r.batchSize), rank, world), rank);
  };
  // Statuses live under rank 0's key, so a rank that disagrees can still say so.
  RankWatch watch(group, "extract/" + group.read("extract/key").value_or(key), silence, cancel);
  try {
    if (!keyProblem.empty()) throw UserError(keyProblem);
    checkCacheDestination(r.outDir);
    const Share mine = extractionShard(listed, size_t(r.batchSize), group.rank(), world);
    bool kept = extractOwnShard(r, key, mine, progress, watch.token());
    watch.done(kept ? "kept" : "extracted");
    if (group.rank() != 0) {
      watch.awaitOutcome();
      return result;  // rank 0 reports the merged cache
    }
    for (const auto& note : watch.awaitEveryRank(describe)) result.keptShards += note == "kept";
    mergeShards(r, key, world, clock.seconds());
    watch.finish("");
  } catch (const std::exception& e) {
    std::string reason = watch.stopReason();
    bool cancelled = dynamic_cast<const Cancelled*>(&e) != nullptr;
    std::string message = cancelled && reason.empty() ? group.launch().describe() + " was cancelled"
                          : cancelled                 ? reason
                                                      : std::string(e.what());
    watch.failed(message);
    if (group.rank() == 0) watch.finish(message);
    if (cancelled && !reason.empty()) throw UserError(reason);
    throw;
  }
  ActivationCache cache(r.outDir);
  result.images = cache.size();
  result.skipped = cache.skipped().size();
  result.seconds = clock.seconds();
  return result;
}

}  // namespace dx

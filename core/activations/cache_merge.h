#pragma once
// Joins the caches of the shards of one extraction (images [first, first + count) each, written
// by the ranks of a multi-process job) into the cache a single process would have written: the
// arrays, files.txt and skipped.tsv concatenated in shard order, byte for byte, and cache.json
// with the whole extraction's key. Reads and writes a block of rows at a time.
#include <string>
#include <vector>

namespace dx {

struct CacheMergeRequest {
  std::vector<std::string> shardDirs;  // complete shard caches, in image order
  std::string outDir;                  // the cache to write (atomically, as extractActivations)
  std::string key;                     // the whole extraction's key
  size_t listedImages = 0;             // images the whole extraction looked at (usable or not)
  double seconds = 0;                  // wall time of the whole job, for cache.json
  std::string source;                  // the image source's description, for messages
};

// Throws UserError naming the shard when shards do not fit together (another layer, dtype,
// class list or shape) or a shard is not a complete cache, and, as one process would, when no
// shard holds a usable image (a shard may be empty: every file of its range corrupt).
void mergeCacheShards(const CacheMergeRequest& request);

}  // namespace dx

#include "activations/cache_merge.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "activations/activation_cache.h"
#include "base/atomic_file.h"
#include "base/npy.h"
#include "base/progress.h"

namespace dx {

namespace {

constexpr size_t kCopyBytes = size_t(64) << 20;  // rows copied per write, about this many bytes

std::string fileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": could not be read; rerun the extraction.");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json cacheJson(const std::string& dir) {
  try {
    return nlohmann::json::parse(fileBytes(dir + "/cache.json"));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(dir + "/cache.json: " + e.what() + "; rerun the extraction.");
  }
}

// The shards must be parts of one extraction: same layer, dtype, per-image shape and classes.
void checkShardsFit(const std::vector<std::unique_ptr<ActivationCache>>& shards,
                    const std::vector<std::string>& dirs) {
  const ActivationCache& first = *shards.front();
  for (size_t s = 1; s < shards.size(); ++s) {
    const ActivationCache& c = *shards[s];
    auto tail = [](const NpyMap& m) {
      return std::vector<size_t>(m.shape().begin() + 1, m.shape().end());
    };
    bool fits = c.layer() == first.layer() && c.classes() == first.classes() &&
                c.labelClasses() == first.labelClasses() &&
                c.activations().descr() == first.activations().descr() &&
                tail(c.activations()) == tail(first.activations()) &&
                (c.classTokens() == nullptr) == (first.classTokens() == nullptr);
    if (!fits)
      throw UserError(dirs[s] + ": this shard was extracted with other settings than " +
                      dirs[0] + " (layer, dtype, shape or classes differ); remove both and "
                      "rerun the same command on every rank.");
  }
}

// Concatenates one array of every shard into `path` (capacity: the header a single process
// would have written, which sized it for every listed image).
void concatenate(const std::vector<const NpyMap*>& parts, const std::string& path,
                 size_t capacity) {
  std::vector<size_t> shape = parts.front()->shape();
  size_t rows = 0;
  for (const NpyMap* p : parts) rows += p->rows();
  shape[0] = std::max(capacity, rows);
  NpyWriter out(path, parts.front()->descr(), shape);
  size_t at = 0;
  for (const NpyMap* p : parts) {
    const size_t step = std::max<size_t>(1, kCopyBytes / std::max<size_t>(1, p->rowBytes()));
    for (size_t r = 0; r < p->rows(); r += step) {
      size_t n = std::min(step, p->rows() - r);
      out.writeRows(at + r, n, p->row(r));
    }
    at += p->rows();
  }
  out.finish(rows);
}

// predictions.npy and labels.npy are not exposed by ActivationCache as maps; open them here.
std::vector<std::unique_ptr<NpyMap>> mapEach(const std::vector<std::string>& dirs,
                                             const std::string& name) {
  std::vector<std::unique_ptr<NpyMap>> maps;
  for (const auto& d : dirs) maps.push_back(std::make_unique<NpyMap>(d + "/" + name));
  return maps;
}

std::vector<const NpyMap*> pointers(const std::vector<std::unique_ptr<NpyMap>>& maps) {
  std::vector<const NpyMap*> p;
  for (const auto& m : maps) p.push_back(m.get());
  return p;
}

}  // namespace

void mergeCacheShards(const CacheMergeRequest& r) {
  if (r.shardDirs.empty()) throw UserError(r.outDir + ": no shards to merge.");
  std::vector<std::unique_ptr<ActivationCache>> shards;
  for (const auto& d : r.shardDirs) shards.push_back(std::make_unique<ActivationCache>(d));
  checkShardsFit(shards, r.shardDirs);
  size_t rows = 0;
  for (const auto& s : shards) rows += s->size();
  if (rows == 0)  // the single-process message (extractor.cpp)
    throw UserError((r.source.empty() ? r.outDir : r.source) + ": none of the " +
                    std::to_string(r.listedImages) +
                    " images could be used (see the skipped list); check the files.");

  CacheStaging staging(r.outDir);
  const std::string& out = staging.dir();
  auto each = [&](auto member) {
    std::vector<const NpyMap*> parts;
    for (const auto& s : shards) parts.push_back(member(*s));
    return parts;
  };
  concatenate(each([](const ActivationCache& c) { return &c.activations(); }),
              out + "/activations.npy", r.listedImages);
  concatenate(each([](const ActivationCache& c) { return &c.logits(); }), out + "/logits.npy",
              r.listedImages);
  if (shards.front()->classTokens())
    concatenate(each([](const ActivationCache& c) { return c.classTokens(); }),
                out + "/class_tokens.npy", r.listedImages);
  // A single process writes these whole, sized by their rows.
  concatenate(pointers(mapEach(r.shardDirs, "predictions.npy")), out + "/predictions.npy", rows);
  concatenate(pointers(mapEach(r.shardDirs, "labels.npy")), out + "/labels.npy", rows);

  std::string files, skipped;
  for (const auto& d : r.shardDirs) {
    files += fileBytes(d + "/files.txt");
    skipped += fileBytes(d + "/skipped.tsv");
  }
  writeFileAtomically(out + "/files.txt", files);
  writeFileAtomically(out + "/skipped.tsv", skipped);
  writeFileAtomically(out + "/classes.txt", fileBytes(r.shardDirs[0] + "/classes.txt"));
  writeFileAtomically(out + "/label_classes.txt",
                      fileBytes(r.shardDirs[0] + "/label_classes.txt"));

  nlohmann::json json = cacheJson(r.shardDirs[0]);
  json["key"] = r.key;
  json["shape"][0] = rows;
  json["images"] = rows;
  json["seconds"] = r.seconds;
  json["shards"] = r.shardDirs.size();
  writeFileAtomically(out + "/cache.json", json.dump(2) + "\n");
  shards.clear();
  staging.commit();
}

}  // namespace dx

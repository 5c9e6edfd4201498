#pragma once
// On-disk cache of one extraction: activations of a layer for every usable image, with logits,
// predictions, labels and the file list. Every array is a plain .npy file, so numpy can open it
// with mmap_mode='r':
//   activations.npy  N x C x h x w  float32 (or float16 on request)
//   logits.npy       N x K          float32
//   class_tokens.npy N x p x C      float32  only at a transformer layer with class tokens
//   predictions.npy  N              int64    argmax of the logits
//   labels.npy       N              int64    index into label_classes.txt, -1 when unlabelled
//   files.txt        N lines        item names (paths relative to the image folder)
//   classes.txt      the model's class names (what predictions index)
//   label_classes.txt  the image source's class names (sub-folders), which labels index
// skipped.tsv (path <TAB> reason), cache.json (key and provenance)
// A cache is written to a sibling ".partial" folder and renamed into place only when complete,
// so an interrupted run never leaves a folder that looks finished.
#include <memory>
#include <string>
#include <vector>

#include "data/image_source.h"
#include "base/npy.h"

namespace dx {

struct CacheKeyParts {
  std::string modelHash, layer, sourceFingerprint, preprocessing, dtype;
  size_t limit = 0;
  std::string shard;  // empty for a whole extraction; "first+count" for one shard of it
};

// The key: any change to the model file, layer, file list (names, sizes, times), preprocessing,
// dtype or limit gives another key and invalidates the cache.
std::string cacheKey(const CacheKeyParts& parts);

// ~/.cache/directrix (or $XDG_CACHE_HOME/directrix): where the GUI keeps caches.
std::string defaultCacheRoot();

// True when `dir` holds a complete cache written for `key`.
bool cacheIsComplete(const std::string& dir, const std::string& key);

// Read-only view of a complete cache folder; throws UserError when it is incomplete or broken.
class ActivationCache {
 public:
  explicit ActivationCache(const std::string& dir);

  const std::string& dir() const { return mDir; }
  const std::string& key() const { return mKey; }
  const std::string& layer() const { return mLayer; }
  // The model file the activations came from, as recorded at extraction (may have moved since).
  const std::string& modelPath() const { return mModelPath; }
  // The network's input size (0 for caches written before it was recorded).
  int inputHeight() const { return mInputHeight; }
  int inputWidth() const { return mInputWidth; }
  size_t size() const { return mFiles.size(); }
  const std::vector<std::string>& files() const { return mFiles; }
  const std::vector<std::string>& classes() const { return mClasses; }
  const std::vector<std::string>& labelClasses() const { return mLabelClasses; }
  const std::vector<SkippedFile>& skipped() const { return mSkipped; }
  const NpyMap& activations() const { return *mActivations; }
  const NpyMap& logits() const { return *mLogits; }
  // N x p x C float32 at a transformer layer with class tokens (which its head reads), else null.
  const NpyMap* classTokens() const { return mClassTokens.get(); }
  int64_t prediction(size_t i) const;
  int64_t label(size_t i) const;
  // Per index of labelClasses(): the model class of the same name, or -1 (matched by name).
  std::vector<int64_t> labelToModelClass() const;

 private:
  void validateArrays() const;

  std::string mDir, mKey, mLayer, mModelPath;
  int mInputHeight = 0, mInputWidth = 0;
  std::vector<std::string> mFiles, mClasses, mLabelClasses;
  std::vector<SkippedFile> mSkipped;
  std::unique_ptr<NpyMap> mActivations, mLogits, mPredictions, mLabels, mClassTokens;
};

// Staging folder for a cache being written. commit() swaps it with `finalDir` in one atomic
// rename; destroying an uncommitted writer removes the staging folder (cancel, error), leaving
// any old cache intact. Leftovers of writers that were killed are cleaned up (or, for a
// previous cache set aside, put back) by the next writer.
// Removes the staging folders of dead writers of `dir` and restores a cache one of them set
// aside; called before writing and before reuse, so a killed extraction costs nothing.
void recoverInterruptedCacheWrite(const std::string& dir);

// Throws UserError unless `dir` is missing, empty or a cache: a commit replaces what is there
// (only ever an earlier cache).
void checkCacheDestination(const std::string& dir);

// ".<dir>.directrix-shards" beside the cache `dir`: where the ranks of a multi-process
// extraction keep their shards until rank 0 merges them (same filesystem as the cache).
std::string cacheShardsFolder(const std::string& dir);

class CacheStaging {
 public:
  explicit CacheStaging(const std::string& finalDir);
  ~CacheStaging();
  const std::string& dir() const { return mStaging; }
  void commit();

 private:
  std::string mFinal, mStaging;
  bool mCommitted = false;
};

}  // namespace dx

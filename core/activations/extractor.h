#pragma once
// Batched extraction of one layer's activations (and the logits) over an image source, streamed
// into an ActivationCache folder. Images are decoded and preprocessed on loader threads while
// the model runs, batches are staged in pinned memory for a CUDA model, and the files are written
// behind the next forward pass, so extraction runs at nearly the speed of plain forward passes.
#include <memory>
#include <string>

#include "activations/activation_cache.h"
#include "model/concept_model.h"
#include "data/image_source.h"
#include "base/progress.h"

namespace dx {

struct ExtractionRequest {
  std::shared_ptr<const ConceptModel> model;
  ImageSourcePtr source;
  std::string layer;       // name or node; empty = deepest offered layer
  std::string outDir;      // cache folder; must not lie inside an image folder
  size_t limit = 0;        // 0 = every image
  // One shard of a multi-process extraction: the images [first, first + count) of the (limited)
  // list; count 0 = to the end. A shard's cache has its own key; a shard with no usable image
  // is written empty (0 rows) and the merge decides (cache_merge.h).
  size_t first = 0, count = 0;
  bool float16 = false;    // store activations as float16 (half the disk)
  int batchSize = 64;
  size_t decodeWorkers = 0;  // image decoding threads; 0 = BatchLoader::defaultDecodeWorkers()
  bool reuse = true;       // keep an existing complete cache with the same key
};

struct ExtractionResult {
  std::string dir, key;
  size_t images = 0;       // rows in the cache
  size_t skipped = 0;      // files that could not be used
  bool reused = false;     // the cache was already complete
  double seconds = 0;
};

// Throws Cancelled when `cancel` fires (the previous cache, if any, stays as it was) and
// UserError on bad input. Progress is reported after every batch.
ExtractionResult extractActivations(const ExtractionRequest& request,
                                    const ProgressSink& progress = {},
                                    const CancelToken& cancel = {});

// The images the request's whole list holds (its limit applied, its shard ignored).
size_t listedImageCount(const ExtractionRequest& request);

// The key extractActivations would use for `request`.
std::string extractionKey(const ExtractionRequest& request);

}  // namespace dx

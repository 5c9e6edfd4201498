// An activation cache folder (core/activations/activation_cache.h): cache.json, the text files
// and the arrays from the input's records; what opens must answer every question a view asks.
#include <cstdlib>

#include "activations/activation_cache.h"
#include "base/progress.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* kFiles[] = {"cache.json",      "files.txt",      "classes.txt",
                                 "label_classes.txt", "skipped.tsv",  "activations.npy",
                                 "logits.npy",      "predictions.npy", "labels.npy",
                                 "class_tokens.npy"};
  const size_t count = sizeof(kFiles) / sizeof(kFiles[0]);
  auto parts = dx::fuzz::records(data, size, count);
  auto dir = dx::fuzz::scratchFolder("cache") / "cache";
  std::filesystem::create_directories(dir);
  for (size_t i = 0; i < count; ++i)
    if (!parts[i].empty()) dx::fuzz::writeFile(dir / kFiles[i], parts[i]);
  try {
    (void)dx::cacheIsComplete(dir.string(), "key");
    dx::ActivationCache cache(dir.string());
    auto map = cache.labelToModelClass();
    for (size_t i = 0; i < cache.size(); ++i) {
      int64_t p = cache.prediction(i), l = cache.label(i);
      if (p < 0 || size_t(p) >= cache.classes().size()) std::abort();
      if (l >= 0 && map.at(size_t(l)) >= int64_t(cache.classes().size())) std::abort();
      (void)cache.files().at(i);
    }
  } catch (const dx::UserError&) {
  }
  return 0;
}

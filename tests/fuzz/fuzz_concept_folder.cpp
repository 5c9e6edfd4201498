// A concept folder (core/analysis/concept_folder.h): concepts.json, the arrays and a save
// journal from the input's records, checked against a cache whose sizes the first record
// picks; recovery may only touch the folder's own files.
#include "analysis/concept_folder.h"
#include "base/progress.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* kFiles[] = {"concepts.json",      "decoders.npy",       "biases.npy",
                                 "encoders.npy",       "image_strength.npy", "label_positives.npy",
                                 ".save-journal.json", "decoders.npy.tmp",   "concepts.json.tmp"};
  const size_t count = sizeof(kFiles) / sizeof(kFiles[0]);
  auto parts = dx::fuzz::records(data, size, count + 1);
  auto root = dx::fuzz::scratchFolder("concepts");
  auto dir = root / "concepts";
  std::filesystem::create_directories(dir);
  dx::fuzz::writeFile(root / "neighbour.txt", "not the folder's");
  for (size_t i = 0; i < count; ++i)
    if (!parts[i + 1].empty()) dx::fuzz::writeFile(dir / kFiles[i], parts[i + 1]);
  const std::string& sizes = parts[0];
  auto pick = [&](size_t i, size_t fallback) {
    return i < sizes.size() ? size_t(uint8_t(sizes[i]) % 16) + 1 : fallback;
  };
  dx::ConceptFolderExpectation e{pick(0, 4), pick(1, 3), pick(2, 2), pick(3, 2), pick(4, 2)};
  try {
    auto doc = dx::readConceptFolder(dir.string(), e);
    (void)doc.at("concepts").size();
  } catch (const dx::UserError&) {
  }
  if (!std::filesystem::exists(root / "neighbour.txt")) std::abort();
  return 0;
}

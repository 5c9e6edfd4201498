#pragma once
// Writes a ConceptWorld split to disk, so that other tools (the Python trainer, an image-folder
// ImageSource, a concept benchmark) can use it without the generator:
//   dir/images/<class>/<index>.png    the image (8-bit BGR PNG), index zero-padded to 5 digits
//   dir/masks/<concept>/<index>.png   8-bit 0/255 mask, only for concepts present in the image
//   dir/concepts.csv                  header "image,<concept>,...", then one row per image:
//                                     its path relative to dir and 0/1 per concept
//   dir/conceptworld.json             the spec, class and concept names, and fingerprint
#include <string>

#include "conceptworld/conceptworld.h"
#include "base/progress.h"

namespace dx {

// `dir` must not exist or be empty (stale files of a larger set would otherwise remain).
// Reports progress per image and checks `cancel` every 64 images (throws Cancelled).
// Throws UserError when the folder is not empty or a file cannot be written.
void writeConceptWorld(const ConceptWorld& world, const std::string& dir,
                       const ProgressSink& progress = {}, const CancelToken& cancel = {});

}  // namespace dx

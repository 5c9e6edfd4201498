#pragma once
#include <string>

#include "data/image_source.h"

namespace dx {

// Opens what a user typed for --images: a folder, "fashion-mnist[:test|:train]" for the
// built-in Fashion-MNIST splits, or "conceptworld[:test|:train]" for the synthetic ConceptWorld
// splits (2000 / 12000 images, seed 0, watermark on). Throws UserError with the fix.
ImageSourcePtr openImageSource(const std::string& spec);

}  // namespace dx

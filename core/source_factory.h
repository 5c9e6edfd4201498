#pragma once
#include <string>

#include "image_source.h"

namespace cs {

// Opens what a user typed for --images: a folder, or "fashion-mnist[:test|:train]" for the
// built-in Fashion-MNIST splits. Throws UserError with the fix.
ImageSourcePtr openImageSource(const std::string& spec);

}  // namespace cs

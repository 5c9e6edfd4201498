#include "source_factory.h"

#include "fashion_mnist.h"
#include "image_folder.h"

namespace cs {

ImageSourcePtr openImageSource(const std::string& spec) {
  if (spec == "fashion-mnist" || spec == "fashion-mnist:test")
    return std::make_shared<FashionMnist>(FashionMnist::Split::Test);
  if (spec == "fashion-mnist:train")
    return std::make_shared<FashionMnist>(FashionMnist::Split::Train);
  return std::make_shared<ImageFolder>(spec);
}

}  // namespace cs

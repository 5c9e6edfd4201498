#include "data/source_factory.h"

#include "conceptworld/conceptworld.h"
#include "data/fashion_mnist.h"
#include "data/image_folder.h"

namespace dx {

ImageSourcePtr openImageSource(const std::string& spec) {
  if (spec == "fashion-mnist" || spec == "fashion-mnist:test")
    return std::make_shared<FashionMnist>(FashionMnist::Split::Test);
  if (spec == "fashion-mnist:train")
    return std::make_shared<FashionMnist>(FashionMnist::Split::Train);
  if (spec == "conceptworld" || spec == "conceptworld:test")
    return std::make_shared<ConceptWorld>(conceptWorldDefaults(ConceptWorldSpec::Test));
  if (spec == "conceptworld:train")
    return std::make_shared<ConceptWorld>(conceptWorldDefaults(ConceptWorldSpec::Train));
  return std::make_shared<ImageFolder>(spec);
}

}  // namespace dx

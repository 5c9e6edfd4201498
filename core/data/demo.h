#pragma once
// The built-in demo: a small CNN trained on Fashion-MNIST (packaging/train_demo.py) and the
// Fashion-MNIST test images from Debian's dataset-fashion-mnist. Nothing is downloaded.
#include <string>

#include "data/image_source.h"

namespace dx {

// Path of fashion_cnn.pt: $DIRECTRIX_DEMO_MODEL, else next to the installed program
// (../share/directrix/demo), else the source tree it was built from. Throws UserError.
std::string demoModelPath();
// The second demo: the CNN trained on ConceptWorld with a watermark shortcut
// (packaging/train_conceptworld.py), found like fashion_cnn.pt. Throws UserError.
std::string conceptWorldModelPath();
// The Fashion-MNIST test split (10,000 images).
ImageSourcePtr demoImages();

}  // namespace dx

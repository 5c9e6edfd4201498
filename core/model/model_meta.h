#pragma once
// The description a Directrix model carries in its archive as `directrix.json`
// (written by packaging/export_model.py). Parsing is separate from the TorchScript module so it
// can be checked on its own and without LibTorch.
#include <string>
#include <vector>

namespace dx {

enum class ColourMode { Gray, Rgb };

struct InputSpec {
  ColourMode colourMode = ColourMode::Rgb;
  int height = 0, width = 0;  // network input after centre crop
  int resize = 0;             // shorter image side is resized to this before cropping
  std::vector<float> mean, std;  // per input channel, on pixel values scaled to [0, 1]
  int channels() const { return colourMode == ColourMode::Gray ? 1 : 3; }
};

struct LayerSpec {
  std::string name;  // identifier in method names: features_<name>, head_<name>
  std::string node;  // the original module / graph node the user chose
  int channels = 0, height = 0, width = 0;
  bool headStartsWithGlobalAvgPool = false;
  // How the network holds the activations the app sees as C x h x w: "nchw", "nhwc" (Swin) or
  // "tokens" (ViT: N x (p + h*w) x C). The exporter turns each into the N x C x h x w grid.
  std::string layout = "nchw";
  // p > 0: the layer also has p class tokens per image (N x p x C, from
  // features_with_class_tokens_<name>), and head_<name> takes (z, class_tokens).
  int classTokens = 0;
};

struct ModelMeta {
  std::string name;
  std::vector<std::string> classes;
  InputSpec input;
  std::vector<LayerSpec> layers;  // shallow to deep
  double testAccuracy = -1;       // optional, -1 when absent

  // Finds a layer by identifier or by original node name; nullptr when absent.
  const LayerSpec* findLayer(const std::string& nameOrNode) const;
  const LayerSpec& deepestLayer() const { return layers.back(); }
  // The name of the layer just shallower than `name`, or "" when there is none.
  std::string layerBefore(const std::string& name) const {
    for (size_t i = 1; i < layers.size(); ++i)
      if (layers[i].name == name) return layers[i - 1].name;
    return {};
  }
  std::string layerNames() const;  // "block1, block2" for messages
};

// Parses and checks the JSON text; throws UserError naming `source` and what to fix.
ModelMeta parseModelMeta(const std::string& jsonText, const std::string& source);

}  // namespace dx

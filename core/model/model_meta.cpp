#include "model/model_meta.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "base/progress.h"

namespace dx {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw UserError(source + ": directrix.json " + what +
                  ". Re-export the model with packaging/export_model.py.");
}

const json& field(const json& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end()) fail(source, std::string("has no \"") + key + "\" entry");
  return *it;
}

int positiveInt(const json& obj, const char* key, const std::string& source) {
  const json& v = field(obj, key, source);
  if (!v.is_number_integer() || v.get<long long>() <= 0)
    fail(source, std::string("\"") + key + "\" must be a positive integer");
  return v.get<int>();
}

bool validIdentifier(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

InputSpec parseInput(const json& in, const std::string& source) {
  InputSpec spec;
  std::string mode = field(in, "colour_mode", source).get<std::string>();
  if (mode == "gray") spec.colourMode = ColourMode::Gray;
  else if (mode == "rgb") spec.colourMode = ColourMode::Rgb;
  else fail(source, "has colour_mode \"" + mode + "\"; expected \"gray\" or \"rgb\"");
  spec.height = positiveInt(in, "height", source);
  spec.width = positiveInt(in, "width", source);
  spec.resize = in.contains("resize") ? positiveInt(in, "resize", source)
                                      : std::min(spec.height, spec.width);
  spec.mean = field(in, "mean", source).get<std::vector<float>>();
  spec.std = field(in, "std", source).get<std::vector<float>>();
  auto n = static_cast<size_t>(spec.channels());
  if (spec.mean.size() != n || spec.std.size() != n)
    fail(source, "needs " + std::to_string(n) + " mean and std values for colour_mode " + mode);
  for (float s : spec.std)
    if (!(s > 0)) fail(source, "has a non-positive std value");
  return spec;
}

LayerSpec parseLayer(const json& l, const std::string& source) {
  LayerSpec layer;
  layer.name = field(l, "name", source).get<std::string>();
  if (!validIdentifier(layer.name))
    fail(source, "layer name \"" + layer.name + "\" is not an identifier ([A-Za-z0-9_])");
  layer.node = l.value("node", layer.name);
  layer.channels = positiveInt(l, "channels", source);
  layer.height = positiveInt(l, "height", source);
  layer.width = positiveInt(l, "width", source);
  layer.headStartsWithGlobalAvgPool = l.value("head_starts_with_global_avg_pool", false);
  layer.layout = l.value("layout", std::string("nchw"));
  if (layer.layout != "nchw" && layer.layout != "nhwc" && layer.layout != "tokens")
    fail(source, "layer \"" + layer.name + "\" has layout \"" + layer.layout +
                     "\"; expected nchw, nhwc or tokens");
  layer.classTokens = l.value("class_tokens", 0);
  if (layer.classTokens < 0 || (layer.classTokens > 0 && layer.layout != "tokens"))
    fail(source, "layer \"" + layer.name + "\" has class_tokens " +
                     std::to_string(layer.classTokens) + "; only token layers have class tokens");
  return layer;
}

}  // namespace

const LayerSpec* ModelMeta::findLayer(const std::string& nameOrNode) const {
  for (const auto& l : layers)
    if (l.name == nameOrNode || l.node == nameOrNode) return &l;
  return nullptr;
}

std::string ModelMeta::layerNames() const {
  std::string out;
  for (const auto& l : layers) out += (out.empty() ? "" : ", ") + l.name;
  return out;
}

ModelMeta parseModelMeta(const std::string& jsonText, const std::string& source) {
  json doc = json::parse(jsonText, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) fail(source, "is not valid JSON");
  try {
    if (doc.value("format", "") != "directrix-model")
      fail(source, "does not declare \"format\": \"directrix-model\"");
    ModelMeta meta;
    meta.name = doc.value("name", "model");
    meta.classes = field(doc, "classes", source).get<std::vector<std::string>>();
    if (meta.classes.empty()) fail(source, "lists no classes");
    meta.input = parseInput(field(doc, "input", source), source);
    for (const auto& l : field(doc, "layers", source)) meta.layers.push_back(parseLayer(l, source));
    if (meta.layers.empty()) fail(source, "offers no layers");
    if (doc.contains("test_accuracy") && doc["test_accuracy"].is_number())
      meta.testAccuracy = doc["test_accuracy"].get<double>();
    return meta;
  } catch (const nlohmann::json::exception& e) {
    fail(source, std::string("has an entry of the wrong type (") + e.what() + ")");
  }
}

}  // namespace dx

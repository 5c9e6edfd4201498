#include <gtest/gtest.h>

#include "model/model_meta.h"
#include "base/progress.h"

using dx::parseModelMeta;

namespace {

const char* kValid = R"({
  "format": "directrix-model", "version": 1, "name": "tiny",
  "classes": ["a", "b", "c"],
  "input": {"colour_mode": "rgb", "height": 16, "width": 16, "resize": 18,
            "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
  "layers": [{"name": "conv1", "node": "features.1", "channels": 4, "height": 8, "width": 8},
             {"name": "conv2", "channels": 8, "height": 4, "width": 4,
              "head_starts_with_global_avg_pool": true}]
})";

std::string errorOf(const std::string& json) {
  try {
    parseModelMeta(json, "m.pt");
  } catch (const dx::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelMeta, ParsesEveryField) {
  auto m = parseModelMeta(kValid, "m.pt");
  EXPECT_EQ(m.name, "tiny");
  ASSERT_EQ(m.classes.size(), 3u);
  EXPECT_EQ(m.input.channels(), 3);
  EXPECT_EQ(m.input.resize, 18);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].node, "features.1");
  EXPECT_EQ(m.layers[1].node, "conv2");  // node defaults to the name
  EXPECT_TRUE(m.layers[1].headStartsWithGlobalAvgPool);
  EXPECT_EQ(m.deepestLayer().name, "conv2");
  EXPECT_EQ(m.findLayer("features.1"), &m.layers[0]);
  EXPECT_EQ(m.findLayer("nope"), nullptr);
}

TEST(ModelMeta, RejectsBadDocumentsWithTheFileAndTheFix) {
  std::string invalid = errorOf("{not json");
  EXPECT_NE(invalid.find("m.pt"), std::string::npos);
  EXPECT_NE(invalid.find("not valid JSON"), std::string::npos);
  EXPECT_NE(invalid.find("export_model.py"), std::string::npos);

  std::string s = kValid;
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = s;
    t.replace(t.find(from), from.size(), to);
    return errorOf(t);
  };
  EXPECT_NE(replaced("\"rgb\"", "\"cmyk\"").find("colour_mode"), std::string::npos);
  EXPECT_NE(replaced("[0.5, 0.5, 0.5]", "[0.5]").find("mean and std"), std::string::npos);
  EXPECT_NE(replaced("\"conv1\"", "\"conv 1\"").find("identifier"), std::string::npos);
  EXPECT_NE(replaced("\"channels\": 4", "\"channels\": -4").find("channels"), std::string::npos);
  EXPECT_NE(replaced("\"classes\"", "\"labels\"").find("classes"), std::string::npos);
  EXPECT_NE(replaced("directrix-model", "other").find("format"), std::string::npos);
  EXPECT_NE(replaced("\"height\": 16", "\"height\": \"16\"").find("height"), std::string::npos);
}

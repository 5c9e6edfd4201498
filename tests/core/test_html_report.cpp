// The report's building blocks (report/html_report.h); the whole page is checked in a real
// browser by tests/cli/test_report.sh.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "report/html_report.h"

using namespace dx;

TEST(HtmlReport, Base64FollowsRfc4648) {
  auto encode = [](const std::string& s) {
    return base64(std::vector<unsigned char>(s.begin(), s.end()));
  };
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64({0xff, 0xfe, 0x00}), "//4A");
}

TEST(HtmlReport, TextIsEscaped) {
  EXPECT_EQ(htmlEscape("<b a=\"1\">Tom & Jerry's</b>"),
            "&lt;b a=&quot;1&quot;&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;");
}

TEST(HtmlReport, ConceptCardsSayWhatNotToTrust) {
  EXPECT_EQ(conceptTrustNotes(0.2, NAN), "");
  EXPECT_NE(conceptTrustNotes(0.7, NAN).find("degenerate</b>: fires on 70%"), std::string::npos);
  EXPECT_NE(conceptTrustNotes(0.0, NAN).find("never fires"), std::string::npos);
  EXPECT_EQ(conceptTrustNotes(0.2, 0.85), "<br>seed stability 0.85");
  EXPECT_NE(conceptTrustNotes(0.2, 0.31).find("0.31 <b>unstable</b>"), std::string::npos);
}

TEST(HtmlReport, TcavScoresAreReadOrRefusedWithTheFile) {
  auto doc = nlohmann::json::parse(R"({"format": "directrix-tcav", "method": "sacv",
    "class": "cat", "layer": "layer3", "random": {"scores": [0.4, 0.6]},
    "concepts": [{"name": "fur", "mean": 0.8, "std": 0.1, "p_value": 0.01, "significant": true},
                 {"name": "sky", "mean": 0.5, "std": 0.1, "p_value": null}]})");
  ReportTcav t = reportTcavFromJson(doc, "scores.json");
  EXPECT_EQ(t.method, "sacv");
  EXPECT_EQ(t.className, "cat");
  EXPECT_NEAR(t.randomMean, 0.5, 1e-12);
  EXPECT_NEAR(t.randomStd, 0.1414213562, 1e-9);
  ASSERT_EQ(t.concepts.size(), 2u);
  EXPECT_TRUE(t.concepts[0].significant);
  EXPECT_TRUE(std::isnan(t.concepts[1].pValue));
  try {
    reportTcavFromJson(nlohmann::json::parse("[1, 2]"), "other.json");
    FAIL() << "not a scores.json";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("other.json"), std::string::npos);
  }
}

TEST(HtmlReport, TextFilesAreWrittenWholeOrNotAtAll) {
  EXPECT_THROW(writeTextFile("/proc/directrix-cannot-write-here/report.html", "x"), UserError);
}

#include "report/html_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "analysis/concept_session.h"
#include "base/atomic_file.h"
#include "base/hash.h"
#include "discovery/degenerate.h"
#include "tcav/tcav_study.h"

namespace dx {
namespace fs = std::filesystem;

std::string htmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::vector<unsigned char>& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = uint32_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= uint32_t(bytes[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? table[v & 63] : '=';
  }
  return out;
}

ReportTcav reportTcav(const TcavReport& r) {
  ReportTcav t{r.method, r.className, r.layer, r.randomMean, r.randomStd, {}};
  for (const auto& c : r.concepts)
    t.concepts.push_back({c.name, c.mean, c.std, c.pValue, c.significant, c.nearChance});
  return t;
}

ReportTcav reportTcavFromJson(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object() || j.value("format", "") != "directrix-tcav" || !j.contains("concepts"))
    throw UserError(path + " is not a scores.json written by `directrix-cli tcav`; give the "
                    "file from a tcav run's --out folder.");
  ReportTcav t;
  t.method = j.value("method", "tcav");
  t.className = j.value("class", "");
  t.layer = j.value("layer", "");
  std::vector<double> random = j.value("random", nlohmann::json::object())
                                   .value("scores", std::vector<double>{});
  if (!random.empty()) {
    for (double s : random) t.randomMean += s / double(random.size());
    for (double s : random) t.randomStd += (s - t.randomMean) * (s - t.randomMean);
    t.randomStd = random.size() > 1 ? std::sqrt(t.randomStd / double(random.size() - 1)) : 0;
  }
  for (const auto& c : j["concepts"]) {
    ReportTcav::Row row;
    row.name = c.value("name", "");
    row.mean = c.value("mean", 0.0);
    row.std = c.value("std", 0.0);
    row.pValue = c["p_value"].is_number() ? c["p_value"].get<double>() : std::nan("");
    row.significant = c.value("significant", false);
    row.nearChance = c.value("near_chance", false);
    t.concepts.push_back(row);
  }
  return t;
}

void writeTextFile(const std::string& path, const std::string& text) {
  writeFileAtomically(path, text);
}

namespace {

std::string labelOf(const ConceptSession& s, const HtmlReportOptions& o, int i) {
  return size_t(i) < o.labels.size() && o.labels.size() == size_t(s.concepts()) ? o.labels[size_t(i)]
                                                                                 : s.concept(i).label;
}
double labelAucOf(const ConceptSession& s, const HtmlReportOptions& o, int i) {
  return o.labelAucs.size() == size_t(s.concepts()) ? o.labelAucs[size_t(i)] : s.concept(i).labelAuc;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string general(double v) {
  if (std::isnan(v)) return "–";
  std::ostringstream s;
  s << std::setprecision(2) << v;
  return s.str();
}

std::string pngDataUri(const cv::Mat& image) {
  std::vector<unsigned char> png;
  if (image.empty() || !cv::imencode(".png", image, png)) return {};
  return "data:image/png;base64," + base64(png);
}

// The patch with some context around it and the patch outlined (as the app's concept page).
cv::Mat patchCrop(const ConceptSession& s, const TopPatchInfo& t, int pixels) {
  cv::Mat image = s.image(size_t(t.image));
  if (image.empty()) return {};
  if (image.channels() == 1) cv::cvtColor(image, image, cv::COLOR_GRAY2BGR);
  cv::Rect box = s.patchBox(t.row, t.col) & cv::Rect(0, 0, image.cols, image.rows);
  if (box.empty()) return {};
  int side = std::max(box.width, box.height) * 2;
  side = std::min({std::max(side, std::min(image.cols, image.rows) / 2), image.cols, image.rows});
  cv::Rect context(std::clamp(box.x + box.width / 2 - side / 2, 0, image.cols - side),
                   std::clamp(box.y + box.height / 2 - side / 2, 0, image.rows - side), side, side);
  cv::Mat crop;
  cv::resize(image(context), crop, cv::Size(pixels, pixels), 0, 0,
             side * 2 <= pixels ? cv::INTER_NEAREST : cv::INTER_AREA);
  double f = double(pixels) / side;
  cv::rectangle(crop, cv::Rect(int((box.x - context.x) * f), int((box.y - context.y) * f),
                               std::max(1, int(box.width * f) - 1), std::max(1, int(box.height * f) - 1)),
                cv::Scalar(0, 196, 255), std::max(1, pixels / 40));
  return crop;
}

const char kStyle[] = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1d9}nav{padding:8px 28px;background:#fff;border-bottom:1px solid #d0d7de}
nav a{margin-right:18px;color:#0969da;text-decoration:none}main{padding:0 28px 40px}
section{margin-top:28px}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d0d7de;padding:3px 7px;text-align:right}
th{background:#f0f3f6}td.l,th.l{text-align:left}.cards{display:flex;flex-wrap:wrap;gap:14px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px;width:330px}
.card h3{margin:0 0 4px;font-size:15px}.card .meta{color:#57606a;font-size:12px;margin-bottom:6px}
.patches img{width:72px;height:72px;margin:0 3px 3px 0;image-rendering:pixelated}
.render img{width:100px;height:100px;margin-right:6px;image-rendering:pixelated}.render{margin-top:6px;font-size:12px;color:#57606a}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;margin:2px 4px 2px 0;font-size:12px}
.target{background:#dafbe1}.bias{background:#ffd8d3}.unnamed{background:#fff1c5}.context{background:#ddf4ff}
.note{color:#57606a;font-size:12px;max-width:1000px}dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}
dt{color:#57606a}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
)";

const char kImageCheck[] = R"(<script>
window.addEventListener('load', function () {
  var images = document.images, broken = 0;
  for (var i = 0; i < images.length; ++i)
    if (!images[i].complete || images[i].naturalWidth === 0) ++broken;
  var check = document.getElementById('image-check');
  check.setAttribute('data-images', images.length);
  check.setAttribute('data-broken', broken);
  check.textContent = broken ? broken + ' of ' + images.length + ' images could not be shown'
                             : images.length + ' embedded images';
});
</script>)";

void settingsSection(std::ostringstream& h, const ConceptSession& s, const HtmlReportOptions& o) {
  const ActivationCache& cache = s.cache();
  std::string modelHash;
  try {
    modelHash = hashFile(cache.modelPath());
  } catch (const std::exception&) {
    modelHash = "(the model file is no longer at its recorded path)";
  }
  Hasher images;
  for (const auto& f : cache.files()) images.update(f);
  const DiscoverySettings& d = s.settings();
  auto row = [&h](const std::string& name, const std::string& value) {
    h << "<dt>" << htmlEscape(name) << "</dt><dd>" << htmlEscape(value) << "</dd>";
  };
  h << "<section id=\"settings\"><h2>Settings and fingerprints</h2><dl>";
  row("model file", fs::path(cache.modelPath()).filename().string());
  row("model hash (FNV-1a 64 of the file)", modelHash);
  row("layer", cache.layer());
  row("images", std::to_string(cache.size()) +
                    (o.imagesDescription.empty() ? "" : " from " + o.imagesDescription));
  row("image list hash (FNV-1a 64 of the names)", images.hex());
  row("activation cache key (model, layer, files, preprocessing)", cache.key());
  std::string fitted = s.fittedPreset();  // the adaptive preset's choice
  row("method", d.method + (d.method == "eddp" ? " (" + d.preset + " preset" +
                                                     (fitted.empty() ? "" : ": " + fitted) + ")"
                                               : ""));
  row("concepts", std::to_string(s.concepts()) + " (requested " + std::to_string(d.concepts) + ")");
  if (auto ica = s.icaEncoderConcepts(); !ica.empty()) {
    std::string list;  // numbered as the concept cards are
    for (int i : ica) list += (list.empty() ? "#" : ", #") + std::to_string(i);
    row("encoders by ICA within firing groups", list);
  }
  row("seed", std::to_string(d.seed));
  row("influence test", s.influenceTest().description.empty() ? "not run"
                                                              : s.influenceTest().description);
  h << "</dl></section>\n";
}

}  // namespace

std::string conceptTrustNotes(double patchFraction, double stability) {
  std::string notes;
  std::string reason = degeneracyReason(patchFraction);
  if (!reason.empty()) notes += "<br><b>degenerate</b>: " + htmlEscape(reason) + "; not a concept";
  if (!std::isnan(stability))
    notes += "<br>seed stability " + fixed(stability, 2) +
             (stability < kUnstableBelow ? " <b>unstable</b>: refits with other seeds mark other "
                                           "patches (IoU below 0.5)"
                                         : "");
  return notes;
}

namespace {

void conceptCards(std::ostringstream& h, const ConceptSession& s, const HtmlReportOptions& o) {
  h << "<section id=\"concepts\"><h2>Concepts</h2><div class=\"cards\">";
  for (int i = 0; i < s.concepts(); ++i) {
    if (o.cancel.cancelled()) throw Cancelled();
    const ConceptInfo& c = s.concept(i);
    const std::string label = labelOf(s, o, i);
    h << "<div class=\"card\" id=\"concept-" << i << "\"><h3>#" << i << " "
      << htmlEscape(label.empty() ? "(no label)" : label) << "</h3><div class=\"meta\">present in "
      << fixed(100 * c.imageFraction, 1) << "% of images, " << fixed(100 * c.patchFraction, 1)
      << "% of patches";
    if (labelAucOf(s, o, i) >= 0) h << " · label AUC " << fixed(labelAucOf(s, o, i), 3);
    h << conceptTrustNotes(c.patchFraction, c.stability) << "</div><div class=\"patches\">";
    int shown = 0;
    for (const TopPatchInfo& t : c.top) {
      if (shown >= o.patchesPerConcept) break;
      std::string uri = pngDataUri(patchCrop(s, t, o.patchPixels));
      if (uri.empty()) continue;
      h << "<img alt=\"top patch " << shown + 1 << "\" title=\"" << htmlEscape(s.imageName(size_t(t.image)))
        << " (score " << fixed(t.score, 2) << ")\" src=\"" << uri << "\">";
      ++shown;
    }
    if (shown == 0) h << "<span class=\"note\">images not available for top patches</span>";
    h << "</div>";
    for (RenderTarget target : {RenderTarget::Decoder, RenderTarget::Encoder}) {
      ConceptRendering r = s.savedRendering(i, target);
      if (r.image.empty()) continue;
      h << "<div class=\"render\"><img alt=\"rendering\" src=\"" << pngDataUri(r.image) << "\">"
        << (target == RenderTarget::Decoder ? "rendering of the detector" : "rendering of the signal vector")
        << "</div>";
    }
    h << "</div>";
    if (o.progress) o.progress({"report: concept cards", i + 1, s.concepts()});
  }
  h << "</div></section>\n";
}

// Diverging blue (lowers the class) to red (raises it), pale near zero.
std::string cellColour(double v, double scale) {
  double t = scale > 0 ? std::clamp(v / scale, -1.0, 1.0) : 0;
  int r = t >= 0 ? 255 : int(255 + 180 * t), b = t <= 0 ? 255 : int(255 - 180 * t);
  int g = int(255 - 150 * std::abs(t));
  std::ostringstream s;
  s << "rgb(" << r << "," << g << "," << b << ")";
  return s.str();
}

void influenceSection(std::ostringstream& h, const ConceptSession& s, const HtmlReportOptions& o) {
  const auto& classes = s.classes();
  h << "<section id=\"influence\"><h2>Influence of concepts on classes</h2>";
  bool any = false;
  double scale = 0;
  for (int i = 0; i < s.concepts(); ++i)
    for (float v : s.concept(i).influence) {
      any = true;
      scale = std::max(scale, double(std::abs(v)));
    }
  if (!any) {
    h << "<p class=\"note\">Not measured: the concept set has no influence test.</p></section>\n";
    return;
  }
  h << "<p class=\"note\">Mean change of each class logit when the concept is amplified at its "
       "patches; * marks a significant cell. "
    << htmlEscape(s.influenceTest().description) << "</p><table><tr><th class=\"l\">concept</th>";
  for (const auto& k : classes) h << "<th>" << htmlEscape(k) << "</th>";
  h << "</tr>";
  for (int i = 0; i < s.concepts(); ++i) {
    const ConceptInfo& c = s.concept(i);
    h << "<tr><td class=\"l\">#" << i << " " << htmlEscape(labelOf(s, o, i)) << "</td>";
    for (size_t k = 0; k < classes.size(); ++k) {
      double v = k < c.influence.size() ? c.influence[k] : 0;
      bool star = k < c.significant.size() && c.significant[k];
      h << "<td style=\"background:" << cellColour(v, scale) << "\">" << fixed(v, 2)
        << (star ? "*" : "") << "</td>";
    }
    h << "</tr>";
  }
  h << "</table></section>\n";
}

void auditSection(std::ostringstream& h, const ConceptSession& s, const HtmlReportOptions& o) {
  const AuditResult* audit = o.audit;
  h << "<section id=\"audit\"><h2>Audit: target, bias and context per class</h2>";
  if (!audit) {
    h << "<p class=\"note\">Not computed.</p></section>\n";
    return;
  }
  h << "<p class=\"note\">" << htmlEscape(auditRule(audit->options)) << " Classes: the "
    << htmlEscape(audit->classSource) << " classes of " << audit->imagesWithClass
    << " images.</p><table><tr><th class=\"l\">class</th><th class=\"l\">concepts</th></tr>";
  for (size_t k = 0; k < s.classes().size(); ++k) {
    h << "<tr><td class=\"l\">" << htmlEscape(s.classes()[k]) << "</td><td class=\"l\">";
    bool any = false;
    for (const AuditCell& c : audit->cells) {
      if (size_t(c.cls) != k) continue;
      any = true;
      h << "<span class=\"badge " << auditCategoryName(c.category) << "\" title=\"present in "
        << fixed(100 * c.shareInClass, 0) << "% of the class, " << fixed(100 * c.shareElsewhere, 0)
        << "% elsewhere; logit drop when off " << fixed(c.meanDrop, 2) << " (p " << general(c.dropP)
        << ")\">" << auditCategoryName(c.category) << ": #" << c.concept << " "
        << htmlEscape(labelOf(s, o, c.concept)) << "</span>";
    }
    if (!any) h << "<span class=\"note\">no concept co-occurs with it</span>";
    h << "</td></tr>";
  }
  h << "</table></section>\n";
}

void tcavSection(std::ostringstream& h, const std::vector<ReportTcav>& studies) {
  h << "<section id=\"tcav\"><h2>TCAV</h2>";
  if (studies.empty()) h << "<p class=\"note\">No TCAV study was run for this report.</p>";
  for (const ReportTcav& t : studies) {
    h << "<h3>" << htmlEscape(t.method == "sacv" ? "SACV" : "TCAV") << " for class "
      << htmlEscape(t.className) << (t.layer.empty() ? "" : " at " + htmlEscape(t.layer))
      << "</h3><p class=\"note\">random baseline " << fixed(t.randomMean, 3) << " ± "
      << fixed(t.randomStd, 3) << "</p><table><tr><th class=\"l\">concept</th><th>score</th>"
         "<th>±</th><th>p</th><th class=\"l\">verdict</th></tr>";
    for (const auto& r : t.concepts)
      h << "<tr><td class=\"l\">" << htmlEscape(r.name) << "</td><td>" << fixed(r.mean, 3)
        << "</td><td>" << fixed(r.std, 3) << "</td><td>" << general(r.pValue) << "</td><td class=\"l\">"
        << (r.nearChance ? "CAV near chance" : r.significant ? "significant" : "not significant")
        << "</td></tr>";
    h << "</table>";
  }
  h << "</section>\n";
}

std::string now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream s;
  s << std::put_time(&tm, "%Y-%m-%d %H:%M UTC");
  return s.str();
}

}  // namespace

std::string htmlReport(const ConceptSession& s, const HtmlReportOptions& o) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << htmlEscape(o.title) << "</title><style>" << kStyle << "</style></head><body><header><h1>"
    << htmlEscape(o.title) << "</h1><p>" << s.concepts() << " concepts at layer "
    << htmlEscape(s.cache().layer()) << " of " << htmlEscape(fs::path(s.cache().modelPath()).filename().string())
    << ", " << s.images() << " images · made by Directrix on " << now()
    << "</p></header><nav><a href=\"#settings\">Settings</a><a href=\"#concepts\">Concepts</a>"
       "<a href=\"#influence\">Influence</a><a href=\"#audit\">Audit</a><a href=\"#tcav\">TCAV</a>"
       "</nav><main>\n";
  settingsSection(h, s, o);
  conceptCards(h, s, o);
  influenceSection(h, s, o);
  auditSection(h, s, o);
  tcavSection(h, o.tcav);
  h << "<p class=\"note\" id=\"image-check\">images not checked (scripts are off)</p></main>"
    << kImageCheck << "</body></html>\n";
  return h.str();
}

}  // namespace dx

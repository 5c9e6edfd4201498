#pragma once
// One self-contained HTML file that shares a concept study (docs/methods.md 1.10): concept cards
// with their top patches and kept renderings, the influence matrix with its test, the audit
// categories, TCAV results, the discovery settings and the model's and data's fingerprints.
// Every image is embedded as a data: URI and the style sheet is inline, so the file opens in any
// browser without its folder. A short inline script only reports, in the page, whether every
// embedded image decoded (tests read it from a headless browser). No LibTorch here.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "analysis/audit_categories.h"
#include "base/progress.h"

namespace dx {

class ConceptSession;
struct TcavReport;

// One TCAV study as the report shows it (from the app's TcavReport or the CLI's scores.json).
struct ReportTcav {
  std::string method, className, layer;
  double randomMean = 0, randomStd = 0;
  struct Row {
    std::string name;
    double mean = 0, std = 0, pValue = 1;
    bool significant = false, nearChance = false;
  };
  std::vector<Row> concepts;
};
ReportTcav reportTcav(const TcavReport& report);
// scores.json written by `directrix-cli tcav`; throws UserError naming `path` when it is not one.
ReportTcav reportTcavFromJson(const nlohmann::json& scores, const std::string& path);

struct HtmlReportOptions {
  std::string title = "Directrix concept report";
  std::string imagesDescription;  // where the images came from (a folder, a data set)
  const AuditResult* audit = nullptr;  // computed by the caller (ConceptSession::auditCategories)
  std::vector<ReportTcav> tcav;
  // The concepts' labels and INVERT AUCs (< 0: the user's name), one per concept, copied on the
  // thread that owns the session (renaming writes them); empty: read from the session.
  std::vector<std::string> labels;
  std::vector<double> labelAucs;
  int patchesPerConcept = 8;
  int patchPixels = 72;           // side of each embedded patch crop
  ProgressSink progress;
  CancelToken cancel;
};

// The whole page. Images are read through the session (its attached image source); without
// them the cards say so. Throws Cancelled when cancelled.
std::string htmlReport(const ConceptSession& session, const HtmlReportOptions& options);

// Writes `text` to `path` atomically (base/atomic_file.h); UserError names the file and the fix.
void writeTextFile(const std::string& path, const std::string& text);

// Helpers, public for tests.
std::string htmlEscape(const std::string& text);
// The warnings a concept card carries (HTML): degenerate (discovery/degenerate.h) and, where
// measured, its seed stability (discovery/concept_stability.h); empty when there is neither.
std::string conceptTrustNotes(double patchFraction, double stability);
std::string base64(const std::vector<unsigned char>& bytes);

}  // namespace dx

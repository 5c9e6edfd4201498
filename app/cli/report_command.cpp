// directrix-cli audit and report: a concept folder written by discover (or saved by the app),
// reopened over its activation cache, sorted into target / bias / context per class
// (analysis/audit_categories.h) and, for report, written as one self-contained HTML page
// (report/html_report.h).
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "analysis/concept_session.h"
#include "analysis/concept_set_files.h"
#include "arguments.h"
#include "commands.h"
#include "labeling/concept_labeling.h"
#include "model/concept_model.h"
#include "report/html_report.h"
#include "terminal_progress.h"

namespace dx::cli {
namespace {
namespace fs = std::filesystem;

const std::set<std::string> kSessionOptions = {"model", "device", "cache", "concepts", "images",
                                               "tags", "class-parts", "min-effect", "fdr", "out"};

// --cache, or the cache whose activations.npy discover recorded in concepts.json.
std::string cacheDir(const Arguments& a, const std::string& concepts) {
  if (a.has("cache")) return a.value("cache");
  recoverConceptSet(concepts);
  std::ifstream in(concepts + "/concepts.json");
  auto doc = nlohmann::json::parse(in, nullptr, false);
  std::string activations = doc.is_object() && doc.contains("activations") &&
                                    doc["activations"].is_string()
                                ? doc["activations"].get<std::string>()
                                : "";
  fs::path recorded(activations);
  if (recorded.filename() == "activations.npy" && fs::exists(recorded))
    return recorded.parent_path().string();
  throw UserError("give --cache DIR, the activation cache " + concepts + " was discovered on (" +
                  (activations.empty() ? "its concepts.json does not name one"
                                       : "the recorded " + activations + " is not there") +
                  ").");
}

struct OpenedSession {
  std::shared_ptr<ConceptSession> session;
  std::string imagesDescription;
};

OpenedSession openSession(const Arguments& a, TerminalProgress& bar) {
  if (!a.has("concepts")) throw UserError("give --concepts DIR, a folder written by discover.");
  if (!a.has("out")) throw UserError("give --out FILE for the result.");
  std::string concepts = a.value("concepts");
  auto model = openModel(a);
  auto cache = std::make_shared<const ActivationCache>(cacheDir(a, concepts));
  OpenedSession o;
  o.session = ConceptSession::open(model, cache, concepts);
  if (a.has("images") || a.has("demo")) {
    o.session->setImages(openImages(a));
    o.imagesDescription = a.has("images") ? a.value("images") : "the demo's images";
  }
  if (a.has("label")) {
    ConceptLabelingOptions lo;
    lo.tagsCsv = a.value("tags");
    lo.invert.progress = std::ref(bar);
    applyConceptLabels(*o.session, labelConcepts(*o.session, lo));
  }
  return o;
}

AuditOptions auditOptions(const Arguments& a, const ConceptSession& s, TerminalProgress& bar,
                          const CancelToken& cancel) {
  AuditOptions o;
  o.minEffect = a.number("min-effect", o.minEffect, 0, 1e6);
  o.fdr = a.number("fdr", o.fdr, 1e-9, 1);
  if (a.has("class-parts")) o.classParts = readClassParts(a.value("class-parts"), s.classes());
  o.progress = std::ref(bar);
  o.cancel = cancel;
  return o;
}

std::vector<std::string> conceptNames(const ConceptSession& s) {
  std::vector<std::string> names;
  for (int i = 0; i < s.concepts(); ++i) names.push_back(s.conceptName(i));
  return names;
}

// The concept set reopened (openSession) and sorted into categories; Ctrl-C cancels.
struct AuditedSession {
  OpenedSession opened;
  AuditResult audit;
};

AuditedSession openAndAudit(const Arguments& a, TerminalProgress& bar, const CancelToken& cancel) {
  installInterruptHandler(cancel);
  AuditedSession run{openSession(a, bar), {}};
  const ConceptSession& s = *run.opened.session;
  run.audit = s.auditCategories(auditOptions(a, s, bar, cancel));
  return run;
}

void printAudit(const AuditResult& r, const ConceptSession& s) {
  int unlabelled = 0;
  for (int i = 0; i < s.concepts(); ++i) unlabelled += s.concept(i).label.empty();
  std::cout << "audit over the " << r.classSource << " classes of " << r.imagesWithClass
            << " images:\n";
  for (size_t k = 0; k < s.classes().size(); ++k) {
    std::string line;
    for (const AuditCell& c : r.cells)
      if (size_t(c.cls) == k)
        line += std::string("  ") + auditCategoryName(c.category) + " #" + std::to_string(c.concept) +
                (s.concept(c.concept).label.empty() ? "" : " " + s.concept(c.concept).label);
    if (!line.empty()) std::cout << "  " << s.classes()[k] << ":" << line << "\n";
  }
  if (unlabelled > 0)
    std::cout << unlabelled << " concept(s) have no label: give --label (INVERT over the classes, "
                 "ConceptWorld tags or --tags) to tell target from bias.\n";
  std::cout << "rule: " << auditRule(r.options) << "\n";
}

}  // namespace

int runAudit(const std::vector<std::string>& args) {
  Arguments a(args, kSessionOptions, {"demo", "label", "quiet"});
  TerminalProgress bar(!a.has("quiet"));
  AuditedSession run = openAndAudit(a, bar, CancelToken());
  const ConceptSession& s = *run.opened.session;
  const AuditResult& r = run.audit;
  std::string out = a.value("out");
  bool json = fs::path(out).extension() == ".json";
  writeTextFile(out, json ? auditJson(r, s.classes(), conceptNames(s)).dump(2) + "\n"
                          : auditCsv(r, s.classes(), conceptNames(s)));
  printAudit(r, s);
  std::cout << "wrote " << out << "\n";
  return 0;
}

int runReport(const std::vector<std::string>& args) {
  auto valued = kSessionOptions;
  valued.insert({"tcav", "title", "patches"});
  Arguments a(args, valued, {"demo", "label", "quiet"});
  std::vector<ReportTcav> tcav;  // read first: a bad file should not wait for the audit
  for (const std::string& path : a.values("tcav")) {
    std::ifstream in(path);
    if (!in)
      throw UserError("cannot read " + path + ": give --tcav the scores.json of a tcav run.");
    tcav.push_back(reportTcavFromJson(nlohmann::json::parse(in, nullptr, false), path));
  }
  TerminalProgress bar(!a.has("quiet"));
  CancelToken cancel;
  AuditedSession run = openAndAudit(a, bar, cancel);
  const ConceptSession& s = *run.opened.session;
  const AuditResult& audit = run.audit;
  HtmlReportOptions o;
  o.imagesDescription = run.opened.imagesDescription;
  o.audit = &audit;
  if (a.has("title")) o.title = a.value("title");
  o.patchesPerConcept = int(a.count("patches", size_t(o.patchesPerConcept)));
  o.tcav = tcav;
  o.progress = std::ref(bar);
  o.cancel = cancel;
  std::string html = htmlReport(s, o);
  writeTextFile(a.value("out"), html);
  std::cout << "wrote " << a.value("out") << " (" << html.size() / 1024 << " KiB, "
            << s.concepts() << " concepts, " << audit.cells.size() << " audit cells, "
            << o.tcav.size() << " TCAV studies)\n";
  if (run.opened.imagesDescription.empty())
    std::cout << "  no top patches: give --images (the images the cache was made from) to show "
                 "them\n";
  return 0;
}

}  // namespace dx::cli

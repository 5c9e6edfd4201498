#include "analysis/audit_categories.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/multiple_testing.h"
#include "tcav/t_test.h"

namespace dx {

const char* auditCategoryName(AuditCategory c) {
  switch (c) {
    case AuditCategory::Target: return "target";
    case AuditCategory::Context: return "context";
    case AuditCategory::Bias: return "bias";
    case AuditCategory::Unnamed: return "unnamed";
  }
  return "?";
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Words that carry meaning: letters and digits, at least three of them, not a stop word.
std::set<std::string> meaningfulWords(const std::string& text) {
  static const std::set<std::string> stop = {"and", "the", "with", "for", "from", "not", "other"};
  std::set<std::string> words;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 3 && !stop.count(word)) words.insert(word);
    word.clear();
  };
  for (char c : lower(text)) {
    if (std::isalnum(static_cast<unsigned char>(c))) word += c;
    else flush();
  }
  flush();
  return words;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Evenly spaced subset of at most `count` items, in order.
std::vector<int64_t> evenlySpaced(const std::vector<int64_t>& items, int count) {
  if (count <= 0 || items.size() <= size_t(count)) return items;
  std::vector<int64_t> out;
  for (int j = 0; j < count; ++j) out.push_back(items[size_t(double(j) * items.size() / count)]);
  return out;
}

double oneSidedPositiveP(const std::vector<double>& drops) {
  if (drops.size() < 2) return NAN;
  TTestResult t = tTestOneSample(drops, 0);
  return t.t > 0 ? t.pValue / 2 : 1 - t.pValue / 2;
}

int categoryOrder(AuditCategory c) {
  switch (c) {
    case AuditCategory::Target: return 0;
    case AuditCategory::Bias: return 1;
    case AuditCategory::Unnamed: return 2;
    case AuditCategory::Context: return 3;
  }
  return 4;
}

void checkInputs(const AuditInputs& in) {
  size_t n = in.trueClass.size();
  if (in.concepts <= 0 || in.present.size() != n * size_t(in.concepts) ||
      in.predictedClass.size() != n || in.labels.size() != size_t(in.concepts) || !in.switchOff)
    throw UserError("audit categories: the concepts' presence (" + std::to_string(in.present.size()) +
                    " values), " + std::to_string(in.labels.size()) + " labels and " +
                    std::to_string(n) + " images disagree; discover the concepts again");
}

}  // namespace

namespace {

// A label as INVERT writes it (labeling/formula.h): literals joined left to right, parentheses
// only wrapping what came before, so reading it as a left fold is exact.
struct ParsedLabel {
  std::vector<std::string> words;
  std::vector<bool> negated;
  std::vector<bool> conjunction;  // conjunction[k] joins literal k + 1 to what is before it
};

ParsedLabel parseLabel(const std::string& label) {
  std::string text = label;
  for (char& c : text)
    if (c == '(' || c == ')') c = ' ';
  ParsedLabel parsed;
  std::istringstream in(text);
  std::string token, word;
  bool negated = false;
  auto flush = [&] {
    if (word.empty()) return;
    parsed.words.push_back(word);
    parsed.negated.push_back(negated);
    word.clear();
    negated = false;
  };
  while (in >> token) {
    if (token == "AND" || token == "OR") {
      flush();
      if (!parsed.words.empty()) parsed.conjunction.push_back(token == "AND");
    } else if (token == "NOT" && word.empty()) {
      negated = true;
    } else {
      word += (word.empty() ? "" : " ") + token;
    }
  }
  flush();
  parsed.conjunction.resize(parsed.words.empty() ? 0 : parsed.words.size() - 1, false);
  return parsed;
}

bool evaluate(const ParsedLabel& f, const std::vector<bool>& literalValue) {
  bool value = literalValue[0] != f.negated[0];
  for (size_t k = 1; k < f.words.size(); ++k) {
    bool next = literalValue[k] != f.negated[k];
    value = f.conjunction[k - 1] ? (value && next) : (value || next);
  }
  return value;
}

// The label's distinct words, and for each word occurrence the index of its distinct word (a
// word repeated in a formula takes one truth value).
struct WordSlots {
  std::vector<std::string> distinct;
  std::vector<size_t> slot;
};

WordSlots wordSlots(const ParsedLabel& f) {
  WordSlots w;
  for (const auto& word : f.words) {
    auto at = std::find(w.distinct.begin(), w.distinct.end(), word);
    w.slot.push_back(size_t(at - w.distinct.begin()));
    if (at == w.distinct.end()) w.distinct.push_back(word);
  }
  return w;
}

// Whether the label can hold only where one of the words marked in `wordBelongs` holds: every
// assignment of its words that makes it true sets one of them (checked exhaustively; labels have
// a handful of words).
bool impliesSomeClass(const ParsedLabel& f, const std::vector<bool>& wordBelongs) {
  const auto [distinct, slot] = wordSlots(f);
  if (distinct.size() > 16) return std::all_of(wordBelongs.begin(), wordBelongs.end(), [](bool b) { return b; });
  for (uint32_t bits = 0; bits < (1u << distinct.size()); ++bits) {
    std::vector<bool> value(f.words.size());
    bool someClassWordTrue = false;
    for (size_t k = 0; k < f.words.size(); ++k) {
      value[k] = (bits >> slot[k]) & 1u;
      if (value[k] && wordBelongs[k]) someClassWordTrue = true;
    }
    if (evaluate(f, value) && !someClassWordTrue) return false;
  }
  return true;
}

// Whether every assignment of the label's words that makes it true sets `word` (so the concept
// cannot fire without it). Exhaustive, like impliesSomeClass.
bool labelRequires(const ParsedLabel& f, const std::string& word) {
  const auto [distinct, slot] = wordSlots(f);
  auto target = std::find(distinct.begin(), distinct.end(), word);
  if (target == distinct.end() || distinct.size() > 16) return false;
  const size_t targetSlot = size_t(target - distinct.begin());
  for (uint32_t bits = 0; bits < (1u << distinct.size()); ++bits) {
    if ((bits >> targetSlot) & 1u) continue;
    std::vector<bool> value(f.words.size());
    for (size_t k = 0; k < f.words.size(); ++k) value[k] = (bits >> slot[k]) & 1u;
    if (evaluate(f, value)) return false;  // true without the word
  }
  return true;
}

}  // namespace

std::vector<std::string> labelWords(const std::string& label) {
  ParsedLabel parsed = parseLabel(label);
  std::vector<std::string> words;
  for (size_t k = 0; k < parsed.words.size(); ++k)
    if (!parsed.negated[k]) words.push_back(parsed.words[k]);
  return words;
}

bool wordIsPartOfClass(const std::string& word, const std::string& className,
                       const std::vector<std::string>& classParts) {
  if (lower(word) == lower(className)) return true;
  for (const auto& p : classParts)
    if (lower(trim(p)) == lower(word)) return true;
  auto classWords = meaningfulWords(className);
  for (const auto& w : meaningfulWords(word))
    if (classWords.count(w)) return true;
  return false;
}

bool labelIsPartOfClass(const std::string& label, size_t cls, const std::vector<std::string>& classes,
                        const std::vector<std::vector<std::string>>& classParts) {
  auto partsOf = [&](size_t k) {
    return k < classParts.size() ? classParts[k] : std::vector<std::string>{};
  };
  // A word that is exactly a class's name belongs to that class only ("blue_circle" is not part of
  // red_circle although both are circles).
  auto exactClass = [&](const std::string& word) -> int {
    for (size_t k = 0; k < classes.size(); ++k)
      if (lower(word) == lower(classes[k])) return int(k);
    return -1;
  };
  auto belongsToThisClass = [&](const std::string& word) {
    int exact = exactClass(word);
    return exact >= 0 ? size_t(exact) == cls : wordIsPartOfClass(word, classes.at(cls), partsOf(cls));
  };
  auto words = labelWords(label);
  if (std::none_of(words.begin(), words.end(), belongsToThisClass)) return false;
  // The label must not hold without the class: "watermark OR red_circle" (found where the two
  // co-occur) holds on the watermark alone, "red OR bg_dark" on any dark background, while
  // "dotted_triangle AND bg_light" needs a dotted triangle. Another class named outright
  // ("Sandal OR Sneaker OR Ankle boot") only says that the concept is shared.
  ParsedLabel parsed = parseLabel(label);
  // A label that cannot hold without another class's object ("watermark AND red AND
  // blue_square") describes where the two classes meet, not a part of this one.
  for (const auto& w : parsed.words) {
    int other = exactClass(w);
    if (other >= 0 && size_t(other) != cls && labelRequires(parsed, w)) return false;
  }
  std::vector<bool> counts;
  for (const auto& w : parsed.words) counts.push_back(belongsToThisClass(w) || exactClass(w) >= 0);
  return impliesSomeClass(parsed, counts);
}

double fisherGreaterP(int64_t images, int64_t present, int64_t classSize, int64_t inClass) {
  int64_t lowest = std::max<int64_t>(0, classSize - (images - present));
  int64_t highest = std::min(present, classSize);
  if (inClass <= lowest) return 1;
  if (inClass > highest) return 0;
  auto logChoose = [](int64_t n, int64_t k) {
    return std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1);
  };
  auto pmf = [&](int64_t x) {
    return std::exp(logChoose(present, x) + logChoose(images - present, classSize - x) -
                    logChoose(images, classSize));
  };
  // Each tail is summed from its end nearest the mode by the ratio of consecutive terms, so its
  // first term never underflows where the tail itself is not negligible: the upper tail when
  // inClass is above the mean, else one minus the lower tail.
  const double mean = double(classSize) * double(present) / double(images);
  double sum = 0;
  if (double(inClass) > mean) {
    double term = pmf(inClass);
    for (int64_t x = inClass; x <= highest && term > 0; ++x) {
      sum += term;
      if (term < sum * 1e-17) break;
      term *= double(present - x) * double(classSize - x) /
              (double(x + 1) * double(images - present - classSize + x + 1));
    }
    return std::min(1.0, sum);
  }
  double term = pmf(inClass - 1);
  for (int64_t x = inClass - 1; x >= lowest && term > 0; --x) {
    sum += term;
    if (term < sum * 1e-17) break;
    term *= double(x) * double(images - present - classSize + x) /
            (double(present - x + 1) * double(classSize - x + 1));
  }
  return std::clamp(1.0 - sum, 0.0, 1.0);
}

AuditResult categorizeConcepts(const AuditInputs& in, const AuditOptions& options) {
  checkInputs(in);
  const size_t n = in.trueClass.size(), I = size_t(in.concepts), K = in.classes.size();
  AuditResult result;
  result.options = options;
  result.options.progress = {};
  bool anyTrue = std::any_of(in.trueClass.begin(), in.trueClass.end(),
                             [&](int64_t k) { return k >= 0 && size_t(k) < K; });
  const auto& classOf = anyTrue ? in.trueClass : in.predictedClass;
  result.classSource = anyTrue ? "true" : "predicted";

  // Presence counts per class.
  std::vector<int64_t> classSize(K, 0), presentTotal(I, 0), presentIn(I * K, 0);
  for (size_t img = 0; img < n; ++img) {
    int64_t k = classOf[img];
    if (k < 0 || size_t(k) >= K) continue;
    ++result.imagesWithClass;
    ++classSize[size_t(k)];
    for (size_t i = 0; i < I; ++i)
      if (in.present[img * I + i]) {
        ++presentTotal[i];
        ++presentIn[i * K + size_t(k)];
      }
  }
  const int64_t total = result.imagesWithClass;
  std::vector<double> presenceP(I * K, NAN);
  for (size_t i = 0; i < I; ++i)
    for (size_t k = 0; k < K; ++k)
      if (classSize[k] > 0 && classSize[k] < total)
        presenceP[i * K + k] = fisherGreaterP(total, presentTotal[i], classSize[k], presentIn[i * K + k]);
  auto presenceFound = benjaminiHochberg(presenceP, options.fdr);

  // The co-occurring cells, then the switch-off test on each.
  std::vector<AuditCell> cells;
  for (size_t i = 0; i < I; ++i)
    for (size_t k = 0; k < K; ++k) {
      size_t c = i * K + k;
      if (!presenceFound[c]) continue;
      AuditCell cell;
      cell.concept = int(i);
      cell.cls = int(k);
      cell.shareInClass = double(presentIn[c]) / double(classSize[k]);
      cell.shareElsewhere = double(presentTotal[i] - presentIn[c]) / double(total - classSize[k]);
      cell.presenceP = presenceP[c];
      if (cell.shareInClass >= options.minShareInClass &&
          cell.shareInClass >= options.minLift * cell.shareElsewhere)
        cells.push_back(cell);
    }
  std::vector<double> dropP(cells.size(), NAN);
  for (size_t c = 0; c < cells.size(); ++c) {
    if (options.cancel.cancelled()) throw Cancelled();
    AuditCell& cell = cells[c];
    std::vector<int64_t> images;
    for (size_t img = 0; img < n; ++img)
      if (classOf[img] == cell.cls && in.present[img * I + size_t(cell.concept)])
        images.push_back(int64_t(img));
    images = evenlySpaced(images, options.maxImagesPerCell);
    std::vector<double> drops = in.switchOff(cell.concept, cell.cls, images);
    for (double& d : drops) d = -d;
    cell.imagesTested = int(drops.size());
    double sum = 0;
    for (double d : drops) sum += d;
    cell.meanDrop = drops.empty() ? 0 : sum / double(drops.size());
    dropP[c] = oneSidedPositiveP(drops);
    cell.dropP = std::isnan(dropP[c]) ? 1 : dropP[c];
    if (options.progress)
      options.progress({"audit: switch-off tests", (long long)(c + 1), (long long)cells.size()});
  }
  auto dropFound = benjaminiHochberg(dropP, options.fdr);
  for (size_t c = 0; c < cells.size(); ++c)
    cells[c].drives = dropFound[c] && cells[c].meanDrop >= options.minEffect;
  result.cells = std::move(cells);
  applyLabels(result, in.labels, in.classes);
  return result;
}

void applyLabels(AuditResult& result, const std::vector<std::string>& labels,
                 const std::vector<std::string>& classes) {
  for (AuditCell& cell : result.cells) {
    const std::string label = size_t(cell.concept) < labels.size() ? labels[size_t(cell.concept)] : "";
    cell.labelPartOfClass =
        labelIsPartOfClass(label, size_t(cell.cls), classes, result.options.classParts);
    if (!cell.drives) cell.category = AuditCategory::Context;
    else if (cell.labelPartOfClass) cell.category = AuditCategory::Target;
    else if (labelWords(label).empty()) cell.category = AuditCategory::Unnamed;
    else cell.category = AuditCategory::Bias;
  }
  std::stable_sort(result.cells.begin(), result.cells.end(), [](const AuditCell& a, const AuditCell& b) {
    if (a.cls != b.cls) return a.cls < b.cls;
    if (a.category != b.category) return categoryOrder(a.category) < categoryOrder(b.category);
    return a.meanDrop > b.meanDrop;
  });
}

std::string auditRule(const AuditOptions& o) {
  std::ostringstream s;
  s << "A concept co-occurs with a class when it is present in at least " << o.minShareInClass * 100
    << "% of the class's images and at least " << o.minLift
    << " times as often as in the other images, by a one-sided Fisher exact test that is a "
       "Benjamini-Hochberg discovery at q = "
    << o.fdr
    << " over every concept x class cell. It drives the class when switching it off on the "
       "class's images where it is present (at most "
    << o.maxImagesPerCell << ") lowers the class logit by at least " << o.minEffect
    << " on average, by a one-sided t-test that is a discovery at q = " << o.fdr
    << " over the co-occurring cells. Target: co-occurs, drives, and its label names the class "
       "(a word of it that is not negated is the class's name or shares a word with it) and "
       "cannot hold without a word of some class. Bias: co-occurs and drives, but its label is not "
       "part of the class. Unnamed: co-occurs and drives, without a label. Context: co-occurs "
       "but does not drive.";
  return s.str();
}

nlohmann::json auditJson(const AuditResult& r, const std::vector<std::string>& classes,
                         const std::vector<std::string>& names) {
  nlohmann::json cells = nlohmann::json::array();
  for (const AuditCell& c : r.cells)
    cells.push_back({{"class", classes.at(size_t(c.cls))},
                     {"concept", c.concept},
                     {"name", names.at(size_t(c.concept))},
                     {"category", auditCategoryName(c.category)},
                     {"share_in_class", c.shareInClass},
                     {"share_elsewhere", c.shareElsewhere},
                     {"presence_p", c.presenceP},
                     {"mean_logit_drop", c.meanDrop},
                     {"drop_p", c.dropP},
                     {"images_tested", c.imagesTested},
                     {"drives", c.drives},
                     {"label_part_of_class", c.labelPartOfClass}});
  return {{"rule", auditRule(r.options)},
          {"class_source", r.classSource},
          {"images_with_class", r.imagesWithClass},
          {"cells", cells}};
}

std::string auditCsv(const AuditResult& r, const std::vector<std::string>& classes,
                     const std::vector<std::string>& names) {
  auto quoted = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  std::ostringstream s;
  s << "class,concept,name,category,share_in_class,share_elsewhere,presence_p,mean_logit_drop,"
       "drop_p,images_tested\n";
  for (const AuditCell& c : r.cells)
    s << quoted(classes.at(size_t(c.cls))) << ',' << c.concept << ','
      << quoted(names.at(size_t(c.concept))) << ',' << auditCategoryName(c.category) << ','
      << c.shareInClass << ',' << c.shareElsewhere << ',' << c.presenceP << ',' << c.meanDrop << ','
      << c.dropP << ',' << c.imagesTested << '\n';
  return s.str();
}

std::vector<std::vector<std::string>> readClassParts(const std::string& path,
                                                     const std::vector<std::string>& classes) {
  std::ifstream in(path);
  if (!in)
    throw UserError("cannot read the class parts file " + path +
                    ": give a readable file of lines class,word,word...");
  std::vector<std::vector<std::string>> parts(classes.size());
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    std::vector<std::string> fields;
    std::istringstream fieldStream(line);
    for (std::string f; std::getline(fieldStream, f, ',');) fields.push_back(trim(f));
    auto k = std::find(classes.begin(), classes.end(), fields[0]);
    if (k == classes.end())
      throw UserError(path + " line " + std::to_string(number) + ": \"" + fields[0] +
                      "\" is not a class of the model; the first field must be one of its classes");
    for (size_t f = 1; f < fields.size(); ++f)
      if (!fields[f].empty()) parts[size_t(k - classes.begin())].push_back(fields[f]);
  }
  return parts;
}

}  // namespace dx

#include "analysis/concept_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/atomic_file.h"
#include "base/npy.h"
#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

void applyConceptJournal(const std::string& dir, const nlohmann::json& journal) {
  for (const auto& name : journal.at("move")) {
    std::string target = dir + "/" + name.get<std::string>();
    if (fs::exists(target + ".tmp")) fs::rename(target + ".tmp", target);
  }
  for (const auto& name : journal.at("remove")) fs::remove(dir + "/" + name.get<std::string>());
  syncDirectory(dir);
  fs::remove(dir + "/" + kConceptJournal);
}

void removeStagedConceptFiles(const std::string& dir) {
  std::error_code ignored;
  for (const char* name : kConceptSetFiles) fs::remove(dir + "/" + name + ".tmp", ignored);
}

namespace {

// A journal names only the set's own files: a hostile one cannot move or delete others.
bool isJournal(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("move") || !j.contains("remove")) return false;
  for (const char* key : {"move", "remove"}) {
    if (!j[key].is_array()) return false;
    for (const auto& name : j[key])
      if (!name.is_string() || std::find(std::begin(kConceptSetFiles), std::end(kConceptSetFiles),
                                         name.get<std::string>()) == std::end(kConceptSetFiles))
        return false;
  }
  return true;
}

}  // namespace

ConceptFolderLock::ConceptFolderLock(const std::string& dir) {
  // Without write access there is no lock, and no writer either.
  mFd = ::open((dir + "/.lock").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (mFd >= 0)
    while (::flock(mFd, LOCK_EX) != 0 && errno == EINTR) {
    }
}

ConceptFolderLock::~ConceptFolderLock() {
  if (mFd >= 0) ::close(mFd);  // closing releases the lock
}

void recoverConceptSetLocked(const std::string& dir) {
  removeStaleTemporaries(dir);
  const std::string journalPath = dir + "/" + kConceptJournal;
  if (!fs::exists(journalPath)) {
    removeStagedConceptFiles(dir);
    return;
  }
  std::ifstream in(journalPath);
  auto journal = nlohmann::json::parse(in, nullptr, false);
  try {
    if (!isJournal(journal)) throw std::runtime_error(journalPath + " is not a save journal");
    applyConceptJournal(dir, journal);
  } catch (const std::exception& e) {
    throw UserError(dir + ": a save of these concepts was interrupted and cannot be finished (" +
                    e.what() + "). Make the folder writable and open it again, or discover "
                    "the concepts again.");
  }
}

void discardOrRecoverBeforeSave(const std::string& dir) {
  try {
    recoverConceptSetLocked(dir);
  } catch (const UserError&) {
    // The new save replaces every file: an unusable journal only has to go.
    std::error_code ignored;
    fs::remove(dir + "/" + kConceptJournal, ignored);
    removeStagedConceptFiles(dir);
  }
}

void recoverConceptSet(const std::string& dir) {
  if (!fs::is_directory(dir)) return;
  ConceptFolderLock lock(dir);
  recoverConceptSetLocked(dir);
}

namespace {

class FolderCheck {
 public:
  explicit FolderCheck(std::string dir) : mDir(std::move(dir)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw UserError(mDir + "/" + what + "; run Discover again to recreate the concepts.");
  }

  // An optional field: absent, or of the kind `ok` accepts.
  template <typename Ok>
  void field(const nlohmann::json& object, const char* key, Ok ok, const std::string& where) const {
    auto it = object.find(key);
    if (it != object.end() && !ok(*it))
      fail("concepts.json: " + where + "\"" + key + "\" has the wrong type or range");
  }

  // The array's shape, after checking its dtype and number of dimensions.
  std::vector<size_t> array(const char* file, size_t dims, bool bytes = false) const {
    NpyMap m(mDir + "/" + file);
    bool dtypeOk = bytes ? (m.descr() == npy::uint8 || m.descr() == npy::boolean)
                         : (m.descr() == npy::float32 || m.descr() == npy::float16);
    if (!dtypeOk || m.shape().size() != dims)
      fail(std::string(file) + ": expected a " + std::to_string(dims) + "-dimensional " +
           (bytes ? "uint8" : "float32") + " array, found " + describe(m));
    return m.shape();
  }

  // Fails unless `found` equals `want` (0 in `want`: any size).
  void shape(const char* file, const std::vector<size_t>& found, const std::vector<size_t>& want,
             const std::string& meaning) const {
    for (size_t i = 0; i < want.size(); ++i)
      if (want[i] != 0 && found[i] != want[i])
        fail(std::string(file) + ": shape " + text(found) + " where " + meaning + " needs " +
             text(want) + " (0: any)");
  }

  static std::string text(const std::vector<size_t>& shape) {
    std::string t;
    for (size_t d : shape) t += (t.empty() ? "" : " x ") + std::to_string(d);
    return t.empty() ? "()" : t;
  }
  static std::string describe(const NpyMap& m) { return "dtype " + m.descr() + ", shape " + text(m.shape()); }

 private:
  std::string mDir;
};

bool isNumber(const nlohmann::json& j) { return j.is_number(); }
// Read into a float by the readers (concept_report.cpp): finite and within float's range.
bool isFloat(const nlohmann::json& j) {
  return j.is_number() && std::isfinite(j.get<double>()) &&
         std::fabs(j.get<double>()) <= std::numeric_limits<float>::max();
}
bool isText(const nlohmann::json& j) { return j.is_string(); }
bool isFlag(const nlohmann::json& j) { return j.is_boolean(); }
bool isCount(const nlohmann::json& j) { return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0); }

void checkInfluence(const FolderCheck& check, const nlohmann::json& list, size_t classes,
                    const std::string& where) {
  if (!list.is_array() || (!list.empty() && classes != 0 && list.size() != classes))
    check.fail("concepts.json: " + where + "\"influence\" is not one entry per class");
  for (const auto& cell : list) {
    if (!cell.is_object()) check.fail("concepts.json: " + where + "an influence entry is not an object");
    for (const char* key : {"logit_change", "change", "probability_change"})
      check.field(cell, key, isFloat, where);
    check.field(cell, "p_value", [](const auto& j) { return j.is_null() || isFloat(j); }, where);
    check.field(cell, "significant", isFlag, where);
    check.field(cell, "logit_change_per_image", [](const auto& j) {
      return j.is_array() && j.size() == 5 && std::all_of(j.begin(), j.end(), isFloat);
    }, where);
  }
}

void checkTopPatches(const FolderCheck& check, const nlohmann::json& list,
                     const ConceptFolderExpectation& e, const std::string& where) {
  if (!list.is_array()) check.fail("concepts.json: " + where + "\"top_patches\" is not a list");
  auto below = [](size_t limit) {  // limit 0: unknown, any count
    return [limit](const nlohmann::json& j) {
      return isCount(j) && (limit == 0 || j.get<uint64_t>() < limit);
    };
  };
  for (const auto& p : list) {
    if (!p.is_object()) check.fail("concepts.json: " + where + "a top patch is not an object");
    check.field(p, "image", below(e.images), where + "a top patch's ");
    check.field(p, "row", below(e.mapHeight), where + "a top patch's ");
    check.field(p, "col", below(e.mapWidth), where + "a top patch's ");
    check.field(p, "score", isFloat, where + "a top patch's ");
  }
}

void checkConcept(const FolderCheck& check, const nlohmann::json& c,
                  const ConceptFolderExpectation& e, size_t index) {
  const std::string where = "concept " + std::to_string(index) + ": ";
  if (!c.is_object()) check.fail("concepts.json: " + where + "is not an object");
  check.field(c, "label", isText, where);
  for (const char* key : {"fraction_present", "image_fraction", "mean_score_when_present"})
    check.field(c, key, isNumber, where);
  check.field(c, "label_invert", [](const auto& j) {
    if (!j.is_object()) return false;
    for (const char* key : {"auc", "p_value", "fraction"})
      if (j.contains(key) && !j[key].is_number()) return false;
    return true;
  }, where);
  if (c.contains("influence")) checkInfluence(check, c["influence"], e.classes, where);
  if (c.contains("top_patches")) checkTopPatches(check, c["top_patches"], e, where);
}

}  // namespace

nlohmann::json readConceptFolder(const std::string& dir, const ConceptFolderExpectation& e) {
  recoverConceptSet(dir);
  FolderCheck check(dir);
  std::ifstream in(dir + "/concepts.json");
  if (!in) check.fail("concepts.json is missing");
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object() || !doc.contains("concepts") || !doc["concepts"].is_array())
    check.fail("concepts.json: not a Directrix concept file (no list of \"concepts\")");
  for (const char* key : {"method", "preset", "layer"}) check.field(doc, key, isText, "");
  check.field(doc, "concepts_requested", isCount, "");
  check.field(doc, "seed", [](const auto& j) { return j.is_number_unsigned() || isCount(j); }, "");
  check.field(doc, "influence_test", [](const auto& j) {
    if (!j.is_object()) return false;
    for (const char* key : {"description", "null", "test"})
      if (j.contains(key) && !j[key].is_string()) return false;
    for (const char* key : {"null_draws", "tests"})
      if (j.contains(key) && !j[key].is_number_integer()) return false;
    for (const char* key : {"step_sd", "fdr", "p_cutoff", "min_effect"})
      if (j.contains(key) && !j[key].is_number()) return false;
    return true;
  }, "");
  const auto& concepts = doc["concepts"];
  for (size_t i = 0; i < concepts.size(); ++i) checkConcept(check, concepts[i], e, i);
  const size_t count = concepts.size();
  if (count == 0) check.fail("concepts.json: the list of concepts is empty");
  auto decoders = check.array("decoders.npy", 2);
  if (e.channels != 0 && decoders[1] != e.channels)
    check.fail("decoders.npy: these concepts have " + std::to_string(decoders[1]) +
               " channels, the layer has " + std::to_string(e.channels) +
               "; they were found at another layer or model");
  const std::string perConcept = "one row per concept of concepts.json, of the layer's channels";
  check.shape("decoders.npy", decoders, {count, e.channels}, perConcept);
  check.shape("biases.npy", check.array("biases.npy", 1), {count}, "one bias per concept");
  check.shape("encoders.npy", check.array("encoders.npy", 2), {count, decoders[1]}, perConcept);
  check.shape("image_strength.npy", check.array("image_strength.npy", 2), {e.images, count},
              "one row per image of the cache, one column per concept");
  return doc;
}

}  // namespace dx

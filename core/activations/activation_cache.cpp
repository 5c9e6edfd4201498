#include "activations/activation_cache.h"

#include <algorithm>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/hash.h"
#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

std::string cacheKey(const CacheKeyParts& p) {
  Hasher h;
  h.update("directrix-cache-v1").update(p.modelHash).update(p.layer);
  h.update(p.sourceFingerprint).update(p.preprocessing).update(p.dtype);
  h.update(std::to_string(p.limit));
  if (!p.shard.empty()) h.update("shard").update(p.shard);
  return h.hex();
}

std::string defaultCacheRoot() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/directrix";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/directrix";
  return (fs::temp_directory_path() / "directrix-cache").string();
}

namespace {

nlohmann::json readJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  return nlohmann::json::parse(in, nullptr, false);
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": missing; the cache is incomplete. Run the extraction again.");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<SkippedFile> readSkipped(const std::string& path) {
  std::vector<SkippedFile> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    out.push_back({line.substr(0, tab), tab == std::string::npos ? "" : line.substr(tab + 1)});
  }
  return out;
}

// cache.json fields, read without trusting their types: a wrong type reads as absent.
std::string textField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t intField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
bool isComplete(const nlohmann::json& meta) {
  auto it = meta.find("complete");
  return it != meta.end() && it->is_boolean() && it->get<bool>();
}

// An array of the cache has the dtype and number of dimensions the readers rely on.
void requireArray(const std::string& dir, const NpyMap& m, std::initializer_list<const char*> dtypes,
                  size_t dims) {
  bool dtypeOk = std::any_of(dtypes.begin(), dtypes.end(), [&](const char* d) { return m.descr() == d; });
  if (!dtypeOk || m.shape().size() != dims)
    throw UserError(m.path() + ": dtype " + m.descr() + " with " + std::to_string(m.shape().size()) +
                    " dimensions is not what a Directrix cache holds; delete " + dir +
                    " and extract again.");
}

const int64_t* int64Row(const NpyMap& m, size_t i) {
  return reinterpret_cast<const int64_t*>(m.row(i));
}

}  // namespace

bool cacheIsComplete(const std::string& dir, const std::string& key) {
  auto meta = readJson(dir + "/cache.json");
  if (!meta.is_object() || textField(meta, "key") != key || !isComplete(meta)) return false;
  for (const char* f : {"activations.npy", "logits.npy", "predictions.npy", "labels.npy",
                        "files.txt", "classes.txt", "label_classes.txt"})
    if (!fs::exists(fs::path(dir) / f)) return false;
  return intField(meta, "class_tokens") == 0 || fs::exists(fs::path(dir) / "class_tokens.npy");
}

ActivationCache::ActivationCache(const std::string& dir) : mDir(dir) {
  if (!fs::exists(dir)) recoverInterruptedCacheWrite(dir);
  auto meta = readJson(dir + "/cache.json");
  if (!meta.is_object() || !isComplete(meta))
    throw UserError(dir + ": not a complete Directrix activation cache (no finished "
                    "cache.json). Run `directrix-cli extract` to create it.");
  mKey = textField(meta, "key");
  mLayer = textField(meta, "layer");
  mModelPath = textField(meta, "model");
  auto input = meta.find("input_size");
  if (input != meta.end() && input->is_array() && input->size() == 2 &&
      (*input)[0].is_number_integer() && (*input)[1].is_number_integer()) {
    mInputHeight = (*input)[0].get<int>();
    mInputWidth = (*input)[1].get<int>();
  }
  mFiles = readLines(dir + "/files.txt");
  mClasses = readLines(dir + "/classes.txt");
  mLabelClasses = readLines(dir + "/label_classes.txt");
  mSkipped = readSkipped(dir + "/skipped.tsv");
  mActivations = std::make_unique<NpyMap>(dir + "/activations.npy");
  mLogits = std::make_unique<NpyMap>(dir + "/logits.npy");
  mPredictions = std::make_unique<NpyMap>(dir + "/predictions.npy");
  mLabels = std::make_unique<NpyMap>(dir + "/labels.npy");
  if (intField(meta, "class_tokens") > 0) {
    if (!fs::exists(dir + "/class_tokens.npy"))
      throw UserError(dir + ": class_tokens.npy is missing; the cache is incomplete. Run the "
                      "extraction again.");
    mClassTokens = std::make_unique<NpyMap>(dir + "/class_tokens.npy");
    requireArray(dir, *mClassTokens, {npy::float32}, 3);
  }
  validateArrays();
}

// Everything the readers index by is checked once here: shapes agree with files.txt and
// classes.txt, and every prediction and label names a class that exists.
void ActivationCache::validateArrays() const {
  requireArray(mDir, *mActivations, {npy::float32, npy::float16}, 4);  // N x C x h x w
  requireArray(mDir, *mLogits, {npy::float32}, 2);
  requireArray(mDir, *mPredictions, {npy::int64}, 1);
  requireArray(mDir, *mLabels, {npy::int64}, 1);
  for (const NpyMap* m : {mActivations.get(), mLogits.get(), mPredictions.get(), mLabels.get(),
                          mClassTokens ? mClassTokens.get() : mLabels.get()})
    if (m->rows() != mFiles.size())
      throw UserError(mDir + ": arrays and files.txt disagree in length; delete the folder and "
                      "extract again.");
  if (mLogits->shape()[1] != mClasses.size())
    throw UserError(mDir + ": logits.npy and classes.txt disagree on the classes; delete the "
                    "folder and extract again.");
  for (size_t i = 0; i < mFiles.size(); ++i) {
    int64_t p = prediction(i), l = label(i);
    if (p < 0 || p >= int64_t(mClasses.size()) || l < -1 || l >= int64_t(mLabelClasses.size()))
      throw UserError(mDir + ": image " + std::to_string(i) + " has a prediction or label outside "
                      "classes.txt / label_classes.txt; delete the folder and extract again.");
  }
}

int64_t ActivationCache::prediction(size_t i) const { return *int64Row(*mPredictions, i); }
int64_t ActivationCache::label(size_t i) const { return *int64Row(*mLabels, i); }

namespace {

std::string normalFolder(const std::string& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.string();
}

// Hidden, tool-specific names beside the cache `final` for a writer's staging folder and for a
// previous cache it set aside: ".<final>.directrix-partial-<host>-<pid>". Nothing a user names
// looks like this, and the host keeps writers on other machines (a shared home) apart.
std::string writerFolder(const fs::path& final, const char* kind) {
  return (final.parent_path() / ("." + final.filename().string() + ".directrix-" + kind + "-" +
                                 machineName() + "-" + std::to_string(::getpid())))
      .string();
}

// The pid of a writer folder of `finalName` made on this host, or 0 when `name` is not one.
pid_t leftoverOwner(const std::string& name, const std::string& finalName, const char* kind) {
  std::string prefix = "." + finalName + ".directrix-" + kind + "-" + machineName() + "-";
  if (name.rfind(prefix, 0) != 0) return 0;
  std::string digits = name.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  return static_cast<pid_t>(std::stol(digits));
}

}  // namespace

std::string cacheShardsFolder(const std::string& dir) {
  fs::path final(normalFolder(dir));
  return (final.parent_path() / ("." + final.filename().string() + ".directrix-shards")).string();
}

void checkCacheDestination(const std::string& dir) {
  std::string final = normalFolder(dir);
  std::error_code ec;
  if (fs::exists(final) && !(fs::is_directory(final) && fs::is_empty(final, ec)) &&
      !fs::exists(final + "/cache.json"))
    throw UserError(final + " exists and is not a Directrix activation cache; it would be "
                    "replaced. Choose a new or empty folder for --out.");
}

void recoverInterruptedCacheWrite(const std::string& dir) {
  fs::path final(normalFolder(dir));
  std::error_code ec;
  const std::string name = final.filename().string();
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(final.parent_path(), ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(it->path());
  for (const auto& entry : entries) {
    std::string other = entry.filename().string();
    pid_t partial = leftoverOwner(other, name, "partial");
    pid_t old = leftoverOwner(other, name, "old");
    pid_t owner = partial ? partial : old;
    if (!owner || owner == ::getpid() || !processIsGone(owner)) continue;
    std::error_code ignored;
    // A writer killed between its two renames left the previous cache aside: put it back.
    if (old && !fs::exists(final)) fs::rename(entry, final, ignored);
    else fs::remove_all(entry, ignored);
  }
}

CacheStaging::CacheStaging(const std::string& finalDir) : mFinal(normalFolder(finalDir)) {
  recoverInterruptedCacheWrite(mFinal);
  checkCacheDestination(mFinal);
  std::error_code ec;
  mStaging = writerFolder(mFinal, "partial");
  fs::remove_all(mStaging, ec);
  fs::create_directories(mStaging, ec);
  if (ec)
    throw UserError(mStaging + ": cannot be created (" + ec.message() +
                    "); choose a writable output folder.");
}

CacheStaging::~CacheStaging() {
  if (!mCommitted) {
    std::error_code ec;
    fs::remove_all(mStaging, ec);
  }
}

void CacheStaging::commit() {
  syncDirectory(mStaging);
  std::error_code ec;
  if (fs::exists(mFinal)) {
    // One atomic step: the new cache takes the name, the old one the staging name (Linux
    // renameat2). A SIGKILL at any moment leaves a complete cache at mFinal.
    if (::renameat2(AT_FDCWD, mStaging.c_str(), AT_FDCWD, mFinal.c_str(), RENAME_EXCHANGE) == 0) {
      mCommitted = true;
      fs::remove_all(mStaging, ec);
      return;
    }
    // File systems without the exchange: set the old cache aside, then move the new one in;
    // recoverInterruptedCacheWrite() puts the old one back if the process dies in between.
    std::string old = writerFolder(mFinal, "old");
    fs::rename(mFinal, old, ec);
    if (ec) throwWriteError(mFinal, ec.value());
    fs::rename(mStaging, mFinal, ec);
    if (ec) {
      std::error_code ignored;
      fs::rename(old, mFinal, ignored);
      throwWriteError(mFinal, ec.value());
    }
    mCommitted = true;
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(mStaging, mFinal, ec);
  if (ec) throwWriteError(mFinal, ec.value());
  mCommitted = true;
}

std::vector<int64_t> ActivationCache::labelToModelClass() const {
  std::vector<int64_t> map;
  for (const auto& name : mLabelClasses) {
    auto it = std::find(mClasses.begin(), mClasses.end(), name);
    map.push_back(it == mClasses.end() ? -1 : it - mClasses.begin());
  }
  return map;
}

}  // namespace dx

#include "activations/activation_cache.h"

#include <algorithm>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/hash.h"
#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

std::string cacheKey(const CacheKeyParts& p) {
  Hasher h;
  h.update("directrix-cache-v1").update(p.modelHash).update(p.layer);
  h.update(p.sourceFingerprint).update(p.preprocessing).update(p.dtype);
  h.update(std::to_string(p.limit));
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

const int64_t* int64Row(const NpyMap& m, size_t i) {
  return reinterpret_cast<const int64_t*>(m.row(i));
}

}  // namespace

bool cacheIsComplete(const std::string& dir, const std::string& key) {
  auto meta = readJson(dir + "/cache.json");
  if (!meta.is_object() || meta.value("key", "") != key || !meta.value("complete", false))
    return false;
  for (const char* f : {"activations.npy", "logits.npy", "predictions.npy", "labels.npy",
                        "files.txt", "classes.txt", "label_classes.txt"})
    if (!fs::exists(fs::path(dir) / f)) return false;
  return meta.value("class_tokens", 0) == 0 || fs::exists(fs::path(dir) / "class_tokens.npy");
}

ActivationCache::ActivationCache(const std::string& dir) : mDir(dir) {
  auto meta = readJson(dir + "/cache.json");
  if (!meta.is_object() || !meta.value("complete", false))
    throw UserError(dir + ": not a complete Directrix activation cache (no finished "
                    "cache.json). Run `directrix-cli extract` to create it.");
  mKey = meta.value("key", "");
  mLayer = meta.value("layer", "");
  mModelPath = meta.value("model", "");
  auto input = meta.value("input_size", std::vector<int>{});
  if (input.size() == 2) mInputHeight = input[0], mInputWidth = input[1];
  mFiles = readLines(dir + "/files.txt");
  mClasses = readLines(dir + "/classes.txt");
  mLabelClasses = readLines(dir + "/label_classes.txt");
  mSkipped = readSkipped(dir + "/skipped.tsv");
  mActivations = std::make_unique<NpyMap>(dir + "/activations.npy");
  mLogits = std::make_unique<NpyMap>(dir + "/logits.npy");
  mPredictions = std::make_unique<NpyMap>(dir + "/predictions.npy");
  mLabels = std::make_unique<NpyMap>(dir + "/labels.npy");
  if (meta.value("class_tokens", 0) > 0) {
    if (!fs::exists(dir + "/class_tokens.npy"))
      throw UserError(dir + ": class_tokens.npy is missing; the cache is incomplete. Run the "
                      "extraction again.");
    mClassTokens = std::make_unique<NpyMap>(dir + "/class_tokens.npy");
  }
  for (const NpyMap* m : {mActivations.get(), mLogits.get(), mPredictions.get(), mLabels.get(),
                          mClassTokens ? mClassTokens.get() : mLabels.get()})
    if (m->rows() != mFiles.size())
      throw UserError(dir + ": arrays and files.txt disagree in length; delete the folder and "
                      "extract again.");
}

int64_t ActivationCache::prediction(size_t i) const { return *int64Row(*mPredictions, i); }
int64_t ActivationCache::label(size_t i) const { return *int64Row(*mLabels, i); }

CacheStaging::CacheStaging(const std::string& finalDir) : mFinal(finalDir) {
  fs::path final = fs::absolute(finalDir).lexically_normal();
  if (final.filename().empty()) final = final.parent_path();
  mFinal = final.string();
  mStaging = mFinal + ".partial-" + std::to_string(::getpid());
  std::error_code ec;
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
  std::error_code ec;
  std::string old = mFinal + ".old-" + std::to_string(::getpid());
  bool hadOld = fs::exists(mFinal);
  if (hadOld) fs::rename(mFinal, old, ec);
  if (!ec) fs::rename(mStaging, mFinal, ec);
  if (ec) throw UserError(mFinal + ": cannot be replaced (" + ec.message() + ").");
  mCommitted = true;
  if (hadOld) fs::remove_all(old, ec);
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

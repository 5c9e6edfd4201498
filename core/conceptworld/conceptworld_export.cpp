#include "conceptworld/conceptworld_export.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "base/atomic_file.h"
#include "base/stopwatch.h"

namespace dx {
namespace {

namespace fs = std::filesystem;
constexpr size_t kCheckEvery = 64;
constexpr const char* kStage = "write ConceptWorld";

std::string fileName(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05zu.png", i);
  return buf;
}

void requireEmptyFolder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec))
    throw UserError(dir.string() + ": exists and is not an empty folder; give a new folder or "
                    "delete this one first.");
}

void makeFolder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UserError(dir.string() + ": cannot create the folder (" + ec.message() + ").");
}

void writePng(const fs::path& path, const cv::Mat& image) {
  bool ok = false;
  try {
    ok = cv::imwrite(path.string(), image);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok)
    throw UserError(path.string() + ": cannot be written; check free space and permissions.");
}

nlohmann::json describe(const ConceptWorld& world) {
  const ConceptWorldSpec& s = world.spec();
  return {{"format", "conceptworld"},
          {"version", 1},
          {"split", splitName(s.split)},
          {"count", s.count},
          {"seed", s.seed},
          {"watermark", s.watermark},
          {"watermark_class", world.classNames()[size_t(s.watermarkClass)]},
          {"watermark_concept", world.conceptNames()[cw::Watermark]},
          {"train_rate_in_class", s.trainRateInClass},
          {"train_rate_others", s.trainRateOthers},
          {"test_rate", s.testRate},
          {"classes", world.classNames()},
          {"concepts", world.conceptNames()},
          {"fingerprint", world.fingerprint()}};
}

void writeText(const fs::path& path, const std::string& text) {
  writeFileAtomically(path.string(), text);
}

// Writes image i and its masks; returns its concepts.csv row.
std::string writeItem(const ConceptWorld& world, const fs::path& root, size_t i) {
  ConceptWorldSample s = world.sample(i);
  std::string image = "images/" + world.classNames()[size_t(world.label(i))] + "/" + fileName(i);
  writePng(root / image, s.image);
  std::string row = image;
  for (int c = 0; c < cw::ConceptCount; ++c) {
    bool present = cv::countNonZero(s.masks[size_t(c)]) > 0;
    if (present)
      writePng(root / "masks" / world.conceptNames()[size_t(c)] / fileName(i), s.masks[size_t(c)]);
    row += present ? ",1" : ",0";
  }
  return row + "\n";
}

}  // namespace

void writeConceptWorld(const ConceptWorld& world, const std::string& dir,
                       const ProgressSink& progress, const CancelToken& cancel) {
  fs::path root(dir);
  requireEmptyFolder(root);
  for (const auto& c : world.classNames()) makeFolder(root / "images" / c);
  for (const auto& c : world.conceptNames()) makeFolder(root / "masks" / c);
  std::string csv = "image";
  for (const auto& c : world.conceptNames()) csv += "," + c;
  csv += "\n";
  Stopwatch clock;
  const auto total = static_cast<long long>(world.size());
  for (size_t i = 0; i < world.size(); ++i) {
    if (i % kCheckEvery == 0) {
      if (cancel.cancelled()) throw Cancelled();
      if (progress) progress(clock.progress(kStage, static_cast<long long>(i), total));
    }
    csv += writeItem(world, root, i);
  }
  writeText(root / "concepts.csv", csv);
  writeText(root / "conceptworld.json", describe(world).dump(1) + "\n");
  if (progress) progress(clock.progress(kStage, total, total));
}

}  // namespace dx

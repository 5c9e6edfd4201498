// Every writer on a full disk (injected with RLIMIT_FSIZE, tests/support/file_size_limit.h):
// a clear message naming the file and the fix, and the earlier file or folder left as it was,
// with no half-written file that looks complete. Also the recovery of interrupted writes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <opencv2/core.hpp>

#include "activations/activation_cache.h"
#include "activations/extractor.h"
#include "analysis/concept_folder.h"
#include "analysis/concept_set_files.h"
#include "base/atomic_file.h"
#include "base/npy.h"
#include "base/progress.h"
#include "data/image_folder.h"
#include "file_size_limit.h"
#include "temp_dir.h"
#include "test_models.h"
#include "visualization/concept_rendering.h"

#include <opencv2/imgcodecs.hpp>

using dx::test::FileSizeLimit;
using dx::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every file under `dir` with its bytes (but the hidden lock file): a folder compares equal
// only if nothing changed.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".lock")
      files[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return files;
}

std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.find(".tmp") != std::string::npos || name.find("journal") != std::string::npos ||
        name.find("directrix-partial") != std::string::npos ||
        name.find("directrix-old") != std::string::npos)
      names.push_back(name);
  }
  return names;
}

template <typename F>
std::string userErrorOf(F&& write) {
  try {
    write();
  } catch (const dx::UserError& e) {
    return e.what();
  }
  return "";
}

dx::ConceptSetFiles conceptSet(int64_t images, float value) {
  dx::ConceptSetFiles f;
  f.decoders = torch::full({4, 8}, value);
  f.biases = torch::full({4}, value);
  f.encoders = torch::full({4, 8}, value);
  f.imageStrength = torch::full({images, 4}, value);
  nlohmann::json concepts = nlohmann::json::array();
  for (int i = 0; i < 4; ++i) concepts.push_back({{"label", "c" + std::to_string(i)}});
  f.document = {{"format", "directrix-concepts"}, {"concepts", concepts}, {"value", value}};
  return f;
}

// The name CacheStaging gives a writer's folder beside `final` (activation_cache.cpp).
std::string writerFolder(const std::string& final, const char* kind, pid_t pid) {
  const std::string h = dx::machineName();
  fs::path f(final);
  return (f.parent_path() / ("." + f.filename().string() + ".directrix-" + kind + "-" + h + "-" +
                             std::to_string(pid)))
      .string();
}

pid_t deadProcess() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

}  // namespace

TEST(WriteFaults, AFileOnAFullDiskKeepsItsPreviousContent) {
  TempDir d;
  dx::writeFileAtomically(d / "report.html", "earlier report");
  std::string message;
  {
    FileSizeLimit full(1000);
    message = userErrorOf([&] { dx::writeFileAtomically(d / "report.html", std::string(5000, 'x')); });
  }
  EXPECT_NE(message.find(d / "report.html"), std::string::npos) << message;
  EXPECT_NE(message.find("free disk space"), std::string::npos) << message;
  EXPECT_EQ(slurp(d.path() / "report.html"), "earlier report");
  EXPECT_TRUE(leftovers(d.path()).empty());
}

TEST(WriteFaults, AnArrayOnAFullDiskKeepsThePreviousArray) {
  TempDir d;
  std::vector<float> small(10, 1.f), large(10000, 2.f);
  dx::writeNpy(d / "a.npy", dx::npy::float32, {10}, small.data());
  std::string before = slurp(d.path() / "a.npy");
  std::string message;
  {
    FileSizeLimit full(4096);
    message = userErrorOf([&] { dx::writeNpy(d / "a.npy", dx::npy::float32, {10000}, large.data()); });
  }
  EXPECT_NE(message.find(d / "a.npy"), std::string::npos) << message;
  EXPECT_EQ(slurp(d.path() / "a.npy"), before);
  EXPECT_TRUE(leftovers(d.path()).empty());
}

TEST(WriteFaults, AConceptSaveOnAFullDiskLeavesThePreviousSetWhole) {
  TempDir d;
  dx::writeConceptSet(d / "concepts", conceptSet(100, 1.f));
  auto before = snapshot(d.path() / "concepts");
  std::string message;
  {
    FileSizeLimit full(64 * 1024);  // the small arrays fit, image_strength (1.6 MB) does not
    message = userErrorOf([&] { dx::writeConceptSet(d / "concepts", conceptSet(100000, 2.f)); });
  }
  EXPECT_NE(message.find("Could not save the concepts in " + d / "concepts"), std::string::npos);
  EXPECT_NE(message.find("free disk space"), std::string::npos) << message;
  EXPECT_EQ(snapshot(d.path() / "concepts"), before);
  EXPECT_TRUE(leftovers(d.path() / "concepts").empty());
}

TEST(WriteFaults, AConceptSaveKilledBeforeItsJournalIsUndoneAndAfterItIsFinished) {
  TempDir d;
  const std::string dir = d / "concepts", next = d / "next";
  dx::writeConceptSet(dir, conceptSet(50, 1.f));
  dx::writeConceptSet(next, conceptSet(60, 2.f));
  auto old = snapshot(dir), fresh = snapshot(next);

  // Killed while staging: .tmp files but no journal. Opening removes them; the old set stays.
  for (const auto& [name, bytes] : fresh) std::ofstream(dir + "/" + name + ".tmp") << bytes;
  dx::recoverConceptSet(dir);
  EXPECT_EQ(snapshot(dir), old);

  // Killed after the journal, with two of the moves done: opening finishes the save.
  nlohmann::json moves = nlohmann::json::array();
  for (const auto& [name, bytes] : fresh) {
    std::ofstream(dir + "/" + name + ".tmp") << bytes;
    moves.push_back(name);
  }
  dx::writeFileAtomically(dir + "/.save-journal.json",
                          nlohmann::json{{"move", moves}, {"remove", nlohmann::json::array()}}.dump());
  fs::rename(dir + "/decoders.npy.tmp", dir + "/decoders.npy");
  fs::rename(dir + "/concepts.json.tmp", dir + "/concepts.json");
  dx::recoverConceptSet(dir);
  EXPECT_EQ(snapshot(dir), fresh);
  EXPECT_TRUE(leftovers(dir).empty());
}

TEST(WriteFaults, AnExportedConceptSetIsCompleteOrUnchanged) {
  TempDir d;
  dx::writeConceptSet(d / "session", conceptSet(100000, 3.f));
  dx::writeConceptSet(d / "export", conceptSet(10, 1.f));
  auto before = snapshot(d.path() / "export");
  {
    FileSizeLimit full(64 * 1024);
    EXPECT_NE(userErrorOf([&] { dx::copyConceptSet(d / "session", d / "export"); }), "");
  }
  EXPECT_EQ(snapshot(d.path() / "export"), before);
  dx::copyConceptSet(d / "session", d / "export");
  EXPECT_EQ(snapshot(d.path() / "export"), snapshot(d.path() / "session"));
}

TEST(WriteFaults, ARenderingOnAFullDiskIsNotSavedHalfWritten) {
  TempDir d;
  dx::ConceptRendering r;
  r.image = cv::Mat(32, 32, CV_8UC3, cv::Scalar(10, 20, 30));
  r.detector = 1.5;
  const std::string path = d / "renderings/concept0-abc.png";
  dx::saveRendering(path, r);
  r.image = cv::Mat(512, 512, CV_8UC3);
  cv::randu(r.image, 0, 255);  // incompressible: far larger than the limit
  {
    FileSizeLimit full(16 * 1024);
    EXPECT_NE(userErrorOf([&] { dx::saveRendering(path, r); }).find(path), std::string::npos);
  }
  auto kept = dx::loadRendering(path);
  ASSERT_FALSE(kept.image.empty());
  EXPECT_EQ(kept.image.rows, 32);
  EXPECT_TRUE(leftovers(d.path() / "renderings").empty());
}

TEST(WriteFaults, AnExtractionOnAFullDiskKeepsTheEarlierCache) {
  TempDir d;
  cv::RNG rng(3);
  for (int i = 0; i < 12; ++i) {
    cv::Mat img(24, 24, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    fs::create_directories(d.path() / "images/a");
    cv::imwrite(d / ("images/a/" + std::to_string(i) + ".png"), img);
  }
  dx::ExtractionRequest r;
  r.model = dx::ConceptModel::load(dx::test::testModel("good_rgb.pt"));
  r.source = std::make_shared<dx::ImageFolder>(d.path() / "images");
  r.layer = "conv1";
  r.outDir = d / "cache";
  r.limit = 4;
  const std::string key = dx::extractActivations(r).key;
  auto before = snapshot(d.path() / "cache");
  r.limit = 12;
  std::string message;
  {
    FileSizeLimit full(slurp(d.path() / "cache/activations.npy").size() + 64);
    message = userErrorOf([&] { dx::extractActivations(r); });
  }
  EXPECT_NE(message.find("activations.npy"), std::string::npos) << message;
  EXPECT_NE(message.find("free disk space"), std::string::npos) << message;
  EXPECT_EQ(snapshot(d.path() / "cache"), before);
  EXPECT_TRUE(leftovers(d.path()).empty());
  EXPECT_TRUE(dx::cacheIsComplete(d / "cache", key));
  EXPECT_EQ(dx::ActivationCache(d / "cache").size(), 4u);
}

TEST(WriteFaults, ACacheRewriteSwapsInOneStepAndKilledWritersAreCleanedUp) {
  TempDir d;
  const std::string final = d / "cache";
  fs::create_directories(final);
  std::ofstream(final + "/cache.json") << "{}";  // only an earlier cache is ever replaced
  std::ofstream(final + "/marker") << "old";
  {
    dx::CacheStaging staging(final);
    std::ofstream(staging.dir() + "/marker") << "new";
    staging.commit();
  }
  EXPECT_EQ(slurp(final + "/marker"), "new");
  EXPECT_TRUE(leftovers(d.path()).empty());

  // A writer killed between setting the old cache aside and moving its own in (file systems
  // without an atomic exchange): the next writer puts the old cache back and drops the rest.
  pid_t dead = deadProcess();
  fs::rename(final, writerFolder(final, "old", dead));
  fs::create_directories(writerFolder(final, "partial", dead));
  dx::recoverInterruptedCacheWrite(final);
  EXPECT_EQ(slurp(final + "/marker"), "new");
  EXPECT_TRUE(leftovers(d.path()).empty());

  // A live writer's staging folder is left alone, and so is a folder a user named alike.
  fs::create_directories(writerFolder(final, "partial", getppid()));
  fs::create_directories(final + ".old-" + std::to_string(dead));
  dx::recoverInterruptedCacheWrite(final);
  EXPECT_TRUE(fs::exists(writerFolder(final, "partial", getppid())));
  EXPECT_TRUE(fs::exists(final + ".old-" + std::to_string(dead)));
}

TEST(WriteFaults, ACacheNeverReplacesAFolderThatIsNotACache) {
  TempDir d;
  fs::create_directories(d.path() / "photos/imgs");
  std::ofstream(d / "photos/imgs/a.png") << "an image";
  std::string message;
  try {
    dx::CacheStaging staging(d / "photos");
  } catch (const dx::UserError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("is not a Directrix activation cache"), std::string::npos) << message;
  EXPECT_TRUE(fs::exists(d.path() / "photos/imgs/a.png"));
  EXPECT_TRUE(leftovers(d.path()).empty());
}

TEST(WriteFaults, AnExportFromAnIncompleteSetChangesNothingAndABadJournalDoesNotBlockSaves) {
  TempDir d;
  dx::writeConceptSet(d / "export", conceptSet(10, 1.f));
  auto before = snapshot(d.path() / "export");
  fs::create_directories(d.path() / "broken");
  EXPECT_NE(userErrorOf([&] { dx::copyConceptSet(d / "broken", d / "export"); }), "");
  EXPECT_EQ(snapshot(d.path() / "export"), before);

  // A journal naming a file outside the set: readers refuse it, a new save replaces it.
  dx::writeFileAtomically(d / "export/.save-journal.json",
                          R"({"move": ["../elsewhere"], "remove": []})");
  EXPECT_NE(userErrorOf([&] { dx::recoverConceptSet(d / "export"); }).find("interrupted"),
            std::string::npos);
  dx::writeConceptSet(d / "export", conceptSet(10, 2.f));
  EXPECT_TRUE(leftovers(d.path() / "export").empty());
  EXPECT_EQ(dx::readConceptFolder(d / "export", {}).at("value"), 2.f);
}

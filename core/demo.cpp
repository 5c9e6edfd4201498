#include "demo.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "fashion_mnist.h"
#include "progress.h"

namespace cs {
namespace fs = std::filesystem;

namespace {
fs::path executableDir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}
}  // namespace

namespace {
std::string findDemoFile(const char* file, const char* trainer) {
  std::vector<fs::path> candidates{executableDir() / "../share/conceptscope/demo" / file,
                                   fs::path(CONCEPTSCOPE_SOURCE_DIR) / "resources/demo" / file};
  for (const auto& c : candidates)
    if (fs::exists(c)) return fs::weakly_canonical(c).string();
  throw UserError(std::string("the demo model ") + file + " was not found (looked in " +
                  candidates[0].string() + " and " + candidates[1].string() +
                  "); rebuild it with packaging/" + trainer + ".");
}
}  // namespace

std::string demoModelPath() {
  if (const char* env = std::getenv("CONCEPTSCOPE_DEMO_MODEL"); env && *env) return env;
  return findDemoFile("fashion_cnn.pt", "train_demo.py (or set CONCEPTSCOPE_DEMO_MODEL)");
}

std::string conceptWorldModelPath() {
  return findDemoFile("conceptworld_cnn.pt", "train_conceptworld.py");
}

ImageSourcePtr demoImages() {
  return std::make_shared<FashionMnist>(FashionMnist::Split::Test);
}

}  // namespace cs

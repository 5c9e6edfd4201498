#include "data/demo.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "data/fashion_mnist.h"
#include "base/progress.h"

namespace dx {
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
  std::vector<fs::path> candidates{executableDir() / "../share/directrix/demo" / file,
                                   fs::path(DIRECTRIX_SOURCE_DIR) / "resources/demo" / file};
  for (const auto& c : candidates)
    if (fs::exists(c)) return fs::weakly_canonical(c).string();
  throw UserError(std::string("the demo model ") + file + " was not found (looked in " +
                  candidates[0].string() + " and " + candidates[1].string() +
                  "); rebuild it with packaging/" + trainer + ".");
}
}  // namespace

std::string demoModelPath() {
  if (const char* env = std::getenv("DIRECTRIX_DEMO_MODEL"); env && *env) return env;
  return findDemoFile("fashion_cnn.pt", "train_demo.py (or set DIRECTRIX_DEMO_MODEL)");
}

std::string conceptWorldModelPath() {
  return findDemoFile("conceptworld_cnn.pt", "train_conceptworld.py");
}

ImageSourcePtr demoImages() {
  return std::make_shared<FashionMnist>(FashionMnist::Split::Test);
}

}  // namespace dx

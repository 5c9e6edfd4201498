#include "demo.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

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

std::string demoModelPath() {
  if (const char* env = std::getenv("CONCEPTSCOPE_DEMO_MODEL"); env && *env) return env;
  const char* file = "fashion_cnn.pt";
  std::vector<fs::path> candidates{executableDir() / "../share/conceptscope/demo" / file,
                                   fs::path(CONCEPTSCOPE_SOURCE_DIR) / "resources/demo" / file};
  for (const auto& c : candidates)
    if (fs::exists(c)) return fs::weakly_canonical(c).string();
  throw UserError("the demo model fashion_cnn.pt was not found (looked in " +
                  candidates[0].string() + " and " + candidates[1].string() +
                  "); set CONCEPTSCOPE_DEMO_MODEL or rebuild it with packaging/train_demo.py.");
}

ImageSourcePtr demoImages() {
  return std::make_shared<FashionMnist>(FashionMnist::Split::Test);
}

}  // namespace cs

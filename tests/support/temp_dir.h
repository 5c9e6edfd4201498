#pragma once
// A fresh folder under the system temp directory, removed with everything in it at scope exit.
#include <filesystem>
#include <random>
#include <string>

namespace dx::test {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    mPath = std::filesystem::temp_directory_path() /
            ("directrix-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(mPath);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(mPath, ec);
  }
  const std::filesystem::path& path() const { return mPath; }
  std::string operator/(const std::string& name) const { return (mPath / name).string(); }

 private:
  std::filesystem::path mPath;
};

}  // namespace dx::test

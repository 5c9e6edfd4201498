#pragma once
// Tiny TorchScript models written by tests/support/make_test_models.py before the tests run
// (a ctest fixture); the folder comes in through DIRECTRIX_TEST_MODELS.
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace dx::test {

inline std::string testModel(const std::string& name) {
  const char* dir = std::getenv("DIRECTRIX_TEST_MODELS");
  std::string path = std::string(dir ? dir : "test-models") + "/" + name;
  EXPECT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run the test_models ctest fixture (ctest does it).";
  return path;
}

}  // namespace dx::test

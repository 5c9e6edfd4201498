// The CLI's commands called as a library: they live in directrix_cli, which these tests link;
// the directrix-cli executable is its main.cpp alone.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "arguments.h"
#include "base/progress.h"
#include "base/tensor_io.h"
#include "commands.h"
#include "temp_dir.h"

namespace dx::cli {
namespace {

std::string userErrorOf(const std::function<void()>& run) {
  try {
    run();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(CliArguments, UnknownAndOutOfRangeOptionsAreNamed) {
  EXPECT_NE(userErrorOf([] { Arguments({"--outt", "x"}, {"out"}, {}); }).find("--outt"),
            std::string::npos);
  Arguments a({"--fdr", "2"}, {"fdr"}, {});
  EXPECT_NE(userErrorOf([&] { a.number("fdr", 0.05, 0, 1); }).find("--fdr"), std::string::npos);
  EXPECT_DOUBLE_EQ(Arguments({"--fdr", "0.1"}, {"fdr"}, {}).number("fdr", 0.05, 0, 1), 0.1);
}

TEST(CliDiscover, WritesConceptsFromAnActivationFile) {
  test::TempDir dir;
  torch::manual_seed(0);
  writeNpyTensor(dir / "acts.npy", torch::rand({40, 6, 3, 3}));
  std::string out = dir / "concepts";
  ASSERT_EQ(runDiscover({"--activations", dir / "acts.npy", "--concepts", "3", "--method", "pca",
                         "--out", out, "--quiet"}),
            0);
  for (const char* file : {"decoders.npy", "biases.npy", "encoders.npy", "image_strength.npy"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + file)) << file;
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(out + "/concepts.json"));
  EXPECT_EQ(doc["format"], "directrix-concepts");
  EXPECT_EQ(doc["method"], "pca");
  EXPECT_EQ(doc["concepts"].size(), 3u);
  EXPECT_EQ(readNpyTensor(out + "/decoders.npy").sizes(), (torch::IntArrayRef{3, 6}));
}

TEST(CliDiscover, MissingOutputFolderIsAUserError) {
  EXPECT_NE(userErrorOf([] { runDiscover({"--concepts", "3"}); }).find("--out"),
            std::string::npos);
}

TEST(CliConceptWorld, WritesASplitWithItsConceptTable) {
  test::TempDir dir;
  ASSERT_EQ(runConceptWorld({"--split", "test", "--count", "6", "--out", dir / "cw", "--quiet"}),
            0);
  EXPECT_TRUE(std::filesystem::exists(dir / "cw/concepts.csv"));
}

}  // namespace
}  // namespace dx::cli

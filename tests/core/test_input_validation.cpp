// Hostile or damaged input ends in a UserError that names the file, never in a crash or a read
// past the data: .npy headers, activation caches, concept folders (the fuzz targets in
// tests/fuzz search the same parsers at random; these are the cases known by name). Also the
// atomic writer's care for what it replaces: permissions and symbolic links.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/stat.h>

#include <fstream>

#include "analysis/concept_folder.h"
#include "analysis/concept_set_files.h"
#include "base/atomic_file.h"
#include "base/npy.h"
#include "base/progress.h"
#include "temp_dir.h"

using dx::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A format 1.0 .npy file with the given header dict, padded as numpy pads, and `data` bytes.
std::string npyFile(const std::string& dict, size_t data, size_t alignTo = 64) {
  std::string header = dict;
  size_t total = (10 + header.size() + 1 + alignTo - 1) / alignTo * alignTo;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string file("\x93NUMPY\x01\x00", 8);
  file += char(header.size() & 0xff);
  file += char(header.size() >> 8);
  return file + header + std::string(data, '\0');
}

std::string npyError(const TempDir& d, const std::string& bytes) {
  std::ofstream(d / "a.npy", std::ios::binary) << bytes;
  try {
    dx::NpyMap map(d / "a.npy");
  } catch (const dx::UserError& e) {
    return e.what();
  }
  return "";
}

std::string folderError(const std::string& dir, const dx::ConceptFolderExpectation& e) {
  try {
    dx::readConceptFolder(dir, e);
  } catch (const dx::UserError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(InputValidation, HostileNpyHeadersAreRefusedByName) {
  TempDir d;
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  EXPECT_EQ(npyError(d, npyFile(f4 + "(2, 3), }", 24)), "");
  EXPECT_NE(npyError(d, npyFile(f4 + "(-1, 3), }", 24)).find("not a list of sizes"), std::string::npos);
  EXPECT_NE(npyError(d, npyFile(f4 + "(2e3,), }", 24)).find("not a list of sizes"), std::string::npos);
  EXPECT_NE(npyError(d, npyFile(f4 + "(4294967296, 4294967296, 16), }", 24)).find("too large"),
            std::string::npos);
  EXPECT_NE(npyError(d, npyFile(f4 + "(0, 99999999999999999, 99999999999999999), }", 0))
                .find("too large"),
            std::string::npos);
  EXPECT_NE(npyError(d, npyFile(f4 + "(2, 3), }", 23)).find("truncated"), std::string::npos);
  EXPECT_NE(npyError(d, npyFile(f4 + "(2, 3), }", 24, 9)).find("not aligned"), std::string::npos);
  EXPECT_NE(npyError(d, npyFile("{'descr': '<fx', 'shape': (2,), }", 8)).find("not understood"),
            std::string::npos);
  EXPECT_NE(npyError(d, npyFile("{'descr': '<f4', 'fortran_order':True, 'shape': (2,), }", 8))
                .find("Fortran"),
            std::string::npos);
  std::string v2 = npyFile(f4 + "(2,), }", 8);
  v2[6] = 2;
  EXPECT_NE(npyError(d, v2).find("version 2"), std::string::npos);
  EXPECT_NE(npyError(d, std::string("\x93NUMPY\x01\x00\xff\xff{", 11)).find("cut off"), std::string::npos);
  EXPECT_NE(npyError(d, "not numpy at all").find(d / "a.npy"), std::string::npos);
}

TEST(InputValidation, DamagedConceptFoldersAreRefusedWithTheFileAndTheFix) {
  TempDir d;
  const std::string dir = d / "concepts";
  dx::ConceptSetFiles f;
  f.decoders = torch::ones({2, 3});
  f.biases = torch::zeros({2});
  f.encoders = torch::ones({2, 3});
  f.imageStrength = torch::ones({4, 2});
  nlohmann::json concept = {{"label", "a"},
                            {"influence", nlohmann::json::array({{{"logit_change", 0.5}}, {{"logit_change", 0.1}}})},
                            {"top_patches", nlohmann::json::array({{{"image", 3}, {"row", 1}, {"col", 1}, {"score", 1.0}}})}};
  f.document = {{"format", "directrix-concepts"}, {"seed", 0}, {"concepts", {concept, concept}}};
  dx::writeConceptSet(dir, f);
  const dx::ConceptFolderExpectation fits{4, 3, 2, 2, 2};
  EXPECT_EQ(folderError(dir, fits), "");
  EXPECT_EQ(folderError(dir, {}), "");  // sizes unknown: only agreement among the files

  EXPECT_NE(folderError(dir, {4, 5, 2, 2, 2}).find("another layer"), std::string::npos);
  EXPECT_NE(folderError(dir, {5, 3, 2, 2, 2}).find("image_strength.npy"), std::string::npos);
  EXPECT_NE(folderError(dir, {4, 3, 3, 2, 2}).find("influence"), std::string::npos);
  EXPECT_NE(folderError(dir, {2, 3, 2, 2, 2}).find("top patch"), std::string::npos);

  auto damaged = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto doc = f.document;
    edit(doc);
    dx::writeFileAtomically(dir + "/concepts.json", doc.dump());
    return folderError(dir, fits);
  };
  EXPECT_NE(damaged([](auto& j) { j["seed"] = "seven"; }).find("\"seed\""), std::string::npos);
  EXPECT_NE(damaged([](auto& j) { j["concepts"][1]["label"] = 3; }).find("concept 1"), std::string::npos);
  EXPECT_NE(damaged([](auto& j) { j["concepts"] = 5; }).find("concepts.json"), std::string::npos);
  EXPECT_NE(damaged([](auto& j) { j["concepts"].push_back(j["concepts"][0]); }).find("decoders.npy"),
            std::string::npos);
  EXPECT_NE(damaged([](auto& j) { j["influence_test"] = {{"fdr", "low"}}; }).find("influence_test"),
            std::string::npos);
}

TEST(InputValidation, AnAtomicReplaceKeepsPermissionsAndSymbolicLinks) {
  TempDir d;
  dx::writeFileAtomically(d / "private.txt", "one");
  ASSERT_EQ(chmod((d / "private.txt").c_str(), 0600), 0);
  dx::writeFileAtomically(d / "private.txt", "two");
  struct stat st {};
  ASSERT_EQ(stat((d / "private.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  dx::writeFileAtomically(d / "real.txt", "one");
  fs::create_symlink("real.txt", d.path() / "link.txt");
  dx::writeFileAtomically(d / "link.txt", "two");
  EXPECT_TRUE(fs::is_symlink(d.path() / "link.txt"));
  std::ifstream in(d / "real.txt");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "two");
}

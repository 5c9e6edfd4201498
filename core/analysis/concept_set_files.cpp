#include "analysis/concept_set_files.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "base/progress.h"
#include "base/tensor_io.h"

namespace dx {

namespace fs = std::filesystem;

nlohmann::json conceptSetDocument(const std::string& method, const std::string& preset,
                                  uint64_t seed, int conceptsRequested, const std::string& layer,
                                  const std::vector<std::string>& classes,
                                  const InfluenceTestInfo& influenceTest,
                                  nlohmann::json concepts) {
  nlohmann::json doc = {{"format", "directrix-concepts"}, {"version", 1},
                        {"method", method},             {"preset", preset},
                        {"seed", seed},                 {"concepts_requested", conceptsRequested},
                        {"layer", layer},               {"classes", classes},
                        {"concepts", std::move(concepts)}};
  if (!influenceTest.description.empty())
    doc["influence_test"] = influenceTestJson(influenceTest);
  return doc;
}

namespace {

void writeAll(const ConceptSetFiles& files, const std::function<std::string(const char*)>& stage) {
  writeNpyTensor(stage("decoders.npy"), files.decoders);
  writeNpyTensor(stage("biases.npy"), files.biases);
  writeNpyTensor(stage("encoders.npy"), files.encoders);
  writeNpyTensor(stage("image_strength.npy"), files.imageStrength);
  if (files.labelPositives.defined())
    writeNpyTensor(stage("label_positives.npy"), files.labelPositives);
  std::string path = stage("concepts.json");
  std::ofstream out(path);
  out << files.document.dump(1) << "\n";
  out.close();
  if (!out) throw UserError(path + ": write failed");
}

// Moves the staged files into place, the previous ones aside first (<name>.old); if a move
// fails, the ones already moved are put back, so the folder holds either set, never a mix.
void commitStaged(const std::string& dir, const std::vector<std::string>& staged) {
  std::vector<std::string> replaced, placed;
  try {
    for (const auto& name : staged) {
      std::string target = dir + "/" + name;
      if (fs::exists(target)) {
        fs::rename(target, target + ".old");
        replaced.push_back(name);
      }
      fs::rename(target + ".tmp", target);
      placed.push_back(name);
    }
  } catch (...) {
    std::error_code ignored;
    for (const auto& name : placed) fs::remove(dir + "/" + name, ignored);
    for (const auto& name : replaced)
      fs::rename(dir + "/" + name + ".old", dir + "/" + name, ignored);
    throw;
  }
  std::error_code ignored;
  for (const auto& name : replaced) fs::remove(dir + "/" + name + ".old", ignored);
}

}  // namespace

void writeConceptSet(const std::string& dir, const ConceptSetFiles& files) {
  std::vector<std::string> staged;
  auto stage = [&](const char* name) {
    staged.emplace_back(name);
    return dir + "/" + name + ".tmp";
  };
  try {
    fs::create_directories(dir);
    writeAll(files, stage);
    commitStaged(dir, staged);
  } catch (const std::exception& e) {
    std::error_code ignored;
    for (const auto& name : staged) fs::remove(dir + "/" + name + ".tmp", ignored);
    throw UserError("Could not save the concepts in " + dir + " (" + e.what() +
                    "). Free disk space or make the folder writable, then save again.");
  }
  // INVERT's positives of an earlier save no longer describe these labels.
  std::error_code ignored;
  if (!files.labelPositives.defined()) fs::remove(dir + "/label_positives.npy", ignored);
}

}  // namespace dx

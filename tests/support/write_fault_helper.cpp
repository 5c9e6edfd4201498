// A writer to kill at random moments, and the checks of what it leaves (tests/cli/
// test_kill_writes.sh). A project save is the concept folder then the project file, as
// Workbench::saveProject writes them; generation g fills every array with g and gives the
// image-strength array a g-dependent length, so any mix of two saves is caught.
//   write_fault_helper save DIR COUNT     COUNT saves (0: until killed), continuing the
//                                          generation of the project already in DIR
//   write_fault_helper check-save DIR     the project and its concepts open and agree
//   write_fault_helper check-cache DIR    the activation cache in DIR opens and is complete
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "activations/activation_cache.h"
#include "analysis/concept_set_files.h"
#include "base/progress.h"
#include "base/tensor_io.h"
#include "project_file.h"

namespace {

int64_t imagesOf(uint64_t generation) { return 20000 + int64_t(generation % 3) * 5000; }

void saveGeneration(const std::string& dir, uint64_t g) {
  float v = float(g);
  dx::ConceptSetFiles f;
  f.decoders = torch::full({16, 256}, v);
  f.biases = torch::full({16}, v);
  f.encoders = torch::full({16, 256}, v);
  f.imageStrength = torch::full({imagesOf(g), 16}, v);
  f.document = {{"format", "directrix-concepts"}, {"generation", g},
                {"concepts", nlohmann::json::array()}};
  dx::writeConceptSet(dir + "/concepts", f);
  dx::app::ProjectFile project;
  project.model = "model.pt";
  project.seed = g;
  project.hasConcepts = true;
  QString why;
  if (!dx::app::writeProjectFile(QString::fromStdString(dir + "/study.directrix"), project, &why))
    throw dx::UserError("project not written: " + why.toStdString());
}

uint64_t projectGeneration(const std::string& dir) {
  dx::app::ProjectFile project;
  QString why;
  if (!dx::app::readProjectFile(QString::fromStdString(dir + "/study.directrix"), &project, &why))
    throw dx::UserError("the project does not open: " + why.toStdString());
  return project.seed;
}

// Prints "saving" once it starts writing and "saved G" after each save, so a test can kill it
// at a moment inside the saves rather than while it loads.
int save(const std::string& dir, long count) {
  uint64_t g = std::filesystem::exists(dir + "/study.directrix") ? projectGeneration(dir) : 0;
  std::printf("saving\n");
  std::fflush(stdout);
  for (long i = 0; count == 0 || i < count; ++i) {
    saveGeneration(dir, ++g);
    std::printf("saved %llu\n", (unsigned long long)g);
    std::fflush(stdout);
  }
  return 0;
}

int checkSave(const std::string& dir) {
  uint64_t project = projectGeneration(dir);
  const std::string concepts = dir + "/concepts";
  dx::recoverConceptSet(concepts);  // what every reader does first
  std::ifstream in(concepts + "/concepts.json");
  auto doc = nlohmann::json::parse(in);
  uint64_t g = doc.at("generation").get<uint64_t>();
  // The concepts are saved before the project file: the project is this save or the one before.
  if (project != g && project + 1 != g)
    throw dx::UserError("project generation " + std::to_string(project) + " with concepts " +
                        std::to_string(g));
  for (const char* name : {"decoders.npy", "biases.npy", "encoders.npy", "image_strength.npy"}) {
    at::Tensor t = dx::readNpyTensor(concepts + "/" + name);
    if (!t.eq(float(g)).all().item<bool>())
      throw dx::UserError(std::string(name) + " is not of generation " + std::to_string(g));
  }
  if (dx::readNpyTensor(concepts + "/image_strength.npy").size(0) != imagesOf(g))
    throw dx::UserError("image_strength.npy has the length of another generation");
  std::printf("project %llu, concepts %llu\n", (unsigned long long)project, (unsigned long long)g);
  return 0;
}

int checkCache(const std::string& dir) {
  dx::ActivationCache cache(dir);
  if (!dx::cacheIsComplete(dir, cache.key())) throw dx::UserError(dir + " is not complete");
  std::printf("cache of %zu images\n", cache.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 2 ? argv[1] : "";
  try {
    if (mode == "save" && argc == 4) return save(argv[2], std::stol(argv[3]));
    if (mode == "check-save") return checkSave(argv[2]);
    if (mode == "check-cache") return checkCache(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_fault_helper %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: write_fault_helper save DIR COUNT | check-save DIR | check-cache DIR\n");
  return 2;
}

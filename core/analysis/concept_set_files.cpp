#include "analysis/concept_set_files.h"

#include <cmath>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "analysis/concept_folder.h"
#include "base/atomic_file.h"
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

nlohmann::json fitChoiceJson(const FitChoice& choice) {
  nlohmann::json block = {{"fitted", choice.preset},
                          {"kmeans_agreement", choice.agreement},
                          {"threshold", choice.threshold}};
  if (std::isfinite(choice.valleyAgreement))  // measured where partition was not chosen
    block["ica_valley"] = {{"agreement", choice.valleyAgreement},
                           {"agreement_threshold", choice.valleyThreshold},
                           {"unclaimed", choice.unclaimed},
                           {"unclaimed_threshold", choice.unclaimedThreshold}};
  if (choice.degenerateDetector >= 0)  // balanced left one: partition was fitted too
    block["degenerate_balanced"] = {{"detector", choice.degenerateDetector},
                                    {"share", choice.degenerateShare},
                                    {"partition_taken", choice.partitionTaken}};
  if (std::isfinite(choice.singleFiringThreshold)) {  // the preset asked for ICA encoders
    block["ica_encoders"] = {{"single_firing_threshold", choice.singleFiringThreshold},
                             {"concepts", choice.icaEncoders}};
    if (std::isfinite(choice.singleFiring))  // NaN: no patches to count
      block["ica_encoders"]["single_firing"] = choice.singleFiring;
    if (!choice.icaSkipped.empty()) block["ica_encoders"]["skipped"] = choice.icaSkipped;
  }
  return block;
}

namespace {

void writeAll(const ConceptSetFiles& files, const std::function<std::string(const char*)>& stage) {
  writeNpyTensor(stage("decoders.npy"), files.decoders);
  writeNpyTensor(stage("biases.npy"), files.biases);
  writeNpyTensor(stage("encoders.npy"), files.encoders);
  writeNpyTensor(stage("image_strength.npy"), files.imageStrength);
  if (files.labelPositives.defined())
    writeNpyTensor(stage("label_positives.npy"), files.labelPositives);
  writeFileAtomically(stage("concepts.json"), files.document.dump(1) + "\n");
}

// Stages a set with `writeStaged` (which names each file it writes as <name>.tmp through
// `stage`), then commits it through the journal; `remove` lists files the new set drops. The
// folder's lock is held throughout, so no reader's recovery removes the staged files.
void saveTransaction(const std::string& dir,
                     const std::function<void(const std::function<std::string(const char*)>&)>&
                         writeStaged,
                     const std::vector<std::string>& remove) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throwWriteError(dir, ec.value());
  ConceptFolderLock lock(dir);
  discardOrRecoverBeforeSave(dir);  // an earlier save's journal is finished before staging anew
  std::vector<std::string> staged;
  auto stage = [&](const char* name) {
    staged.emplace_back(name);
    return dir + "/" + name + ".tmp";
  };
  nlohmann::json journal;
  try {
    writeStaged(stage);
    journal = {{"move", staged}, {"remove", remove}};
    writeFileAtomically(dir + "/" + kConceptJournal, journal.dump() + "\n");
  } catch (const std::exception& e) {
    removeStagedConceptFiles(dir);
    throw UserError("Could not save the concepts in " + dir + " (" + e.what() + ")");
  }
  try {
    applyConceptJournal(dir, journal);
  } catch (const std::exception& e) {
    throw UserError("The concepts in " + dir + " are saved, but moving them into place stopped (" +
                    e.what() + "); opening the folder again finishes the save.");
  }
}

}  // namespace

void writeConceptSet(const std::string& dir, const ConceptSetFiles& files) {
  // INVERT's positives of an earlier save no longer describe these labels.
  std::vector<std::string> remove;
  if (!files.labelPositives.defined()) remove.emplace_back("label_positives.npy");
  saveTransaction(dir, [&](const auto& stage) { writeAll(files, stage); }, remove);
}

void copyConceptSet(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (fs::equivalent(from, to, ec)) return;  // exporting a folder onto itself changes nothing
  // A whole, valid set or nothing: a missing source file must not remove the export's file.
  readConceptFolder(from, {});
  std::vector<std::string> remove;
  saveTransaction(
      to,
      [&](const auto& stage) {
        for (const char* name : kConceptSetFiles) {
          std::string source = from + "/" + name;
          if (!fs::exists(source)) {  // only the optional INVERT positives can be absent
            remove.emplace_back(name);
            continue;
          }
          std::string staged = stage(name);
          fs::copy_file(source, staged, fs::copy_options::overwrite_existing);
          syncFile(staged);
        }
      },
      remove);
}

}  // namespace dx

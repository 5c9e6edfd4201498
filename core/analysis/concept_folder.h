#pragma once
// A concept folder on disk, without LibTorch: its file names, the journal that makes a save one
// transaction (written by concept_set_files.cpp), the recovery of an interrupted save, and the
// validation of everything a reader takes from the folder. A folder that was edited by hand,
// cut short or made for another cache ends in a UserError naming the file and the fix, never
// in an index out of range later.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace dx {

inline constexpr char kConceptJournal[] = ".save-journal.json";
inline constexpr const char* kConceptSetFiles[] = {"decoders.npy",       "biases.npy",
                                                   "encoders.npy",       "image_strength.npy",
                                                   "label_positives.npy", "concepts.json"};

// Runs a journal's moves and removals (each idempotent), then deletes the journal.
void applyConceptJournal(const std::string& dir, const nlohmann::json& journal);
// Removes <name>.tmp files a save staged.
void removeStagedConceptFiles(const std::string& dir);

// An exclusive lock on the folder (flock on <dir>/.lock) for one save or recovery at a time,
// across processes: a reader never removes the files a writer is staging.
class ConceptFolderLock {
 public:
  explicit ConceptFolderLock(const std::string& dir);
  ~ConceptFolderLock();
  ConceptFolderLock(const ConceptFolderLock&) = delete;
  ConceptFolderLock& operator=(const ConceptFolderLock&) = delete;

 private:
  int mFd = -1;
};

// Finishes a save that was interrupted after its journal was written, or removes the staged
// files of one interrupted before (and temporary files of killed writers). Every reader of a
// concept folder calls it first. Throws UserError when a pending save cannot be finished (a
// read-only folder, say). The Locked variant is for a caller that holds the lock.
void recoverConceptSet(const std::string& dir);
void recoverConceptSetLocked(const std::string& dir);
// For a writer holding the lock: recovers, or drops a journal that cannot be finished (the save
// that follows replaces every file).
void discardOrRecoverBeforeSave(const std::string& dir);

// What the cache a concept folder belongs to has: its images, channels, classes and the size
// of its activation maps; 0 where the reader does not know (the arrays must still agree).
struct ConceptFolderExpectation {
  size_t images = 0, channels = 0, classes = 0, mapHeight = 0, mapWidth = 0;
};

// Recovers, then checks concepts.json (every field a reader uses has its type and range) and
// the arrays' dtypes and shapes against each other and `expected`; returns concepts.json.
// label_positives.npy is not checked: readers use it only when its shape fits.
nlohmann::json readConceptFolder(const std::string& dir, const ConceptFolderExpectation& expected);

}  // namespace dx

#pragma once
// The open project as a document, after Tiled's MapDocument: every edit a user makes is an undo
// command named verb + noun on one QUndoStack (rename concept, pin/unpin, switch off / strength,
// tags file, discovery settings, layer); views read the state here and subscribe to changed();
// the concept set is handed out const, so nothing writes to it except through these commands.
// Edits that need computing (layer, discovery settings, tags file) set the document's state at
// once and ask the workbench to compute; their results arrive through the workbench's signals.
#include <QAction>
#include <QObject>
#include <QString>
#include <QUndoStack>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "analysis/concept_session.h"

namespace dx::app {

class Workbench;

// What a concept is called, and INVERT's evidence when the name is INVERT's (auc < 0: the user's).
struct ConceptName {
  std::string label;
  double auc = -1, pValue = 1, fraction = 0;
  std::vector<uint8_t> positives;
};

class ProjectDocument : public QObject {
  Q_OBJECT
 public:
  enum class Change { ConceptNames, Pins, Edits, TagsFile, Discovery, Layer, Concepts };
  Q_ENUM(Change)

  explicit ProjectDocument(Workbench& workbench, QObject* parent = nullptr);

  Workbench& workbench() { return mWorkbench; }
  QUndoStack& undoStack() { return mUndo; }
  std::shared_ptr<const ConceptSession> concepts() const;
  const std::set<int>& pinned() const { return mPinned; }
  // Concept -> strength (-1 off, 0 unchanged, up to +2 amplified); only strengths other than 0.
  const std::map<int, double>& strengths() const { return mStrengths; }
  std::vector<ConceptToggle> edits() const;
  QString tagsFile() const { return mTagsFile; }
  // Unsaved edits since the last save, open or new project.
  bool isModified() const { return !mUndo.isClean(); }
  void markSaved() { mUndo.setClean(); }

  // Each pushes one undo command; a request that changes nothing pushes none.
  void renameConcept(int concept, const QString& name);
  void setPinned(int concept, bool pinned);
  void setPins(const std::set<int>& pinned);  // replaces all ("Unpin All")
  // Consecutive strength changes of one concept (a slider drag) merge into one command.
  void setStrength(int concept, double strength);
  void setEdits(const std::vector<ConceptToggle>& edits);  // replaces all ("what if", reset)
  // Names the concepts with INVERT from the classes (csv empty) or a tags file; byMean scores
  // each image by the mean of the concept's map instead of its maximum.
  void nameConcepts(const QString& csv, bool byMean);
  void setDiscovery(const DiscoverySettings& settings);  // discovers with them
  void setLayer(const QString& layer);  // extracts it

  // The Edit menu's Undo and Redo: named after the command, disabled while a job runs (its
  // result would land after the step).
  QAction* createUndoAction(QObject* parent);
  QAction* createRedoAction(QObject* parent);

  // Emits every kind of change once, for views that start following work already loaded.
  void announceAll();
  // Without undo: the state a project file or a new concept set brings (clears the stack).
  void restore(const std::set<int>& pinned, const std::vector<ConceptToggle>& edits);

 Q_SIGNALS:
  void changed(dx::app::ProjectDocument::Change what);
  void modifiedChanged(bool modified);
  void busyChanged(bool busy);  // a job runs: undo and redo wait for it

 private:
  ConceptName nameOf(int concept) const;
  void applyName(int concept, const ConceptName& name);
  void applyPins(std::set<int> pinned);
  void applyStrengths(std::map<int, double> strengths);
  void applyTagsFile(const QString& csv, bool byMean, const std::vector<ConceptName>* names);
  void applyDiscovery(const std::optional<DiscoverySettings>& settings, int direction);
  void applyLayer(const QString& layer, const std::optional<DiscoverySettings>& thenDiscover,
                  int direction);
  bool jobSlotFree() const;
  void startedJob(int direction, bool keptState);
  void jobEnded(bool completed);
  void onConceptsArrived();
  std::vector<ConceptName> allNames() const;
  std::map<int, double> validStrengths(const std::vector<ConceptToggle>& edits) const;
  QAction* createStepAction(QObject* parent, bool undo);

  Workbench& mWorkbench;
  QUndoStack mUndo;
  std::set<int> mPinned;
  std::map<int, double> mStrengths;
  QString mTagsFile;
  // Set by a layer or discovery command: the next concept set keeps the pins and edits the
  // command chose instead of starting without any.
  bool mKeepStateForNextConcepts = false;
  // The job the last command started: +1 by a redo, -1 by an undo, 0 none.
  int mJobDirection = 0;
  bool mJobKeepsState = true;
  bool mRevertingJob = false;  // taking a command back without asking the workbench
  bool mTakingBack = false;
  bool mNamingRunning = false;  // an INVERT naming job of a command runs: renames wait
};

}  // namespace dx::app

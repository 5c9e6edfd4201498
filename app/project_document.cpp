#include "project_document.h"

#include <QUndoCommand>
#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "workbench.h"

namespace dx::app {
namespace {

// An edit as a pair of actions.
class EditCommand : public QUndoCommand {
 public:
  EditCommand(const QString& text, std::function<void()> redo, std::function<void()> undo)
      : mRedo(std::move(redo)), mUndo(std::move(undo)) {
    setText(text);
  }
  void redo() override { mRedo(); }
  void undo() override { mUndo(); }

 private:
  std::function<void()> mRedo, mUndo;
};

// Strength changes of one concept in a row (a slider drag) are one step of undo, and a drag that
// ends where it began is no step at all (QUndoStack drops an obsolete command).
class StrengthCommand : public QUndoCommand {
 public:
  using Apply = std::function<void(std::map<int, double>)>;
  StrengthCommand(const QString& text, Apply apply, std::map<int, double> before,
                  std::map<int, double> after, int concept)
      : mApply(std::move(apply)), mBefore(std::move(before)), mAfter(std::move(after)),
        mConcept(concept) {
    setText(text);
  }
  void redo() override { mApply(mAfter); }
  void undo() override { mApply(mBefore); }
  int id() const override { return 1; }
  bool mergeWith(const QUndoCommand* other) override {
    auto* next = static_cast<const StrengthCommand*>(other);
    if (next->mConcept != mConcept) return false;
    mAfter = next->mAfter;
    setText(next->text());
    setObsolete(mAfter == mBefore);
    return true;
  }

 private:
  Apply mApply;
  std::map<int, double> mBefore, mAfter;
  int mConcept;
};

QString strengthCommandName(double strength) {
  if (strength == 0) return ProjectDocument::tr("Reset Concept Strength");
  if (strength <= -1) return ProjectDocument::tr("Switch Off Concept");
  return ProjectDocument::tr("Set Concept Strength");
}

}  // namespace

ProjectDocument::ProjectDocument(Workbench& workbench, QObject* parent)
    : QObject(parent), mWorkbench(workbench) {
  connect(&mUndo, &QUndoStack::cleanChanged, this,
          [this](bool clean) { Q_EMIT modifiedChanged(!clean); });
  JobRunner& runner = mWorkbench.runner();
  connect(&runner, &JobRunner::finished, this, [this] { jobEnded(true); });
  connect(&runner, &JobRunner::cancelled, this, [this] { jobEnded(false); });
  connect(&runner, &JobRunner::failed, this, [this] { jobEnded(false); });
  connect(&runner, &JobRunner::started, this, [this] { Q_EMIT busyChanged(true); });
  for (auto end : {&JobRunner::finished, &JobRunner::cancelled})
    connect(&runner, end, this, [this] { Q_EMIT busyChanged(false); });
  connect(&runner, &JobRunner::failed, this, [this] { Q_EMIT busyChanged(false); });
  connect(&mWorkbench, &Workbench::changed, this, [this](Workbench::Change what) {
    switch (what) {
      case Workbench::Change::Concepts: onConceptsArrived(); break;
      case Workbench::Change::Labels: Q_EMIT changed(Change::ConceptNames); break;
      case Workbench::Change::Model:  // another model or images (or none): a new document
      case Workbench::Change::Images:
        mUndo.clear();
        mPinned.clear();
        mStrengths.clear();
        mTagsFile.clear();
        [[fallthrough]];
      case Workbench::Change::Layer:
        Q_EMIT changed(Change::Layer);
        if (!mWorkbench.concepts()) Q_EMIT changed(Change::Concepts);
        break;
      default: break;
    }
  });
}

std::shared_ptr<const ConceptSession> ProjectDocument::concepts() const {
  return mWorkbench.concepts();
}

std::vector<ConceptToggle> ProjectDocument::edits() const {
  std::vector<ConceptToggle> edits;
  for (const auto& [concept, strength] : mStrengths) edits.push_back({concept, strength});
  return edits;
}

ConceptName ProjectDocument::nameOf(int concept) const {
  const auto& c = concepts()->concept(concept);
  return {c.label, c.labelAuc, c.labelPValue, c.labelFraction, c.labelPositives};
}

std::vector<ConceptName> ProjectDocument::allNames() const {
  std::vector<ConceptName> names;
  if (auto session = concepts())
    for (int i = 0; i < session->concepts(); ++i) names.push_back(nameOf(i));
  return names;
}

void ProjectDocument::renameConcept(int concept, const QString& name) {
  auto session = concepts();
  if (!session || concept < 0 || concept >= session->concepts()) return;
  if (mNamingRunning) {  // INVERT's names would overwrite this one when the job ends
    Q_EMIT mWorkbench.error(tr("Concepts are being named; rename once that has finished."));
    return;
  }
  ConceptName before = nameOf(concept), after;
  after.label = name.trimmed().toStdString();
  if (after.label == before.label && before.auc < 0) return;
  mUndo.push(new EditCommand(tr("Rename Concept"), [=] { applyName(concept, after); },
                             [=] { applyName(concept, before); }));
}

void ProjectDocument::applyName(int concept, const ConceptName& name) {
  auto& session = mWorkbench.mConcepts;  // the one place that writes to the concept set
  if (!session || concept >= session->concepts()) return;
  if (name.auc >= 0)
    session->setInvertLabel(concept, name.label, name.auc, name.pValue, name.fraction,
                            name.positives);
  else
    session->setLabel(concept, name.label);
  Q_EMIT changed(Change::ConceptNames);
}

void ProjectDocument::setPinned(int concept, bool pinned) {
  if (pinned == (mPinned.count(concept) > 0)) return;
  auto after = mPinned, before = mPinned;
  if (pinned) after.insert(concept);
  else after.erase(concept);
  mUndo.push(new EditCommand(pinned ? tr("Pin Concept") : tr("Unpin Concept"),
                             [=] { applyPins(after); }, [=] { applyPins(before); }));
}

void ProjectDocument::setPins(const std::set<int>& pinned) {
  if (pinned == mPinned) return;
  auto before = mPinned;
  mUndo.push(new EditCommand(pinned.empty() ? tr("Unpin All Concepts") : tr("Pin Concepts"),
                             [=] { applyPins(pinned); }, [=] { applyPins(before); }));
}

void ProjectDocument::applyPins(std::set<int> pinned) {
  mPinned = std::move(pinned);
  Q_EMIT changed(Change::Pins);
}

// Strengths as the edit controls hold them: finite, within [-1, 2], in hundredths, of concepts
// the set has (any concept while none is loaded); zeros dropped.
std::map<int, double> ProjectDocument::validStrengths(const std::vector<ConceptToggle>& edits) const {
  const int count = concepts() ? concepts()->concepts() : 0;
  std::map<int, double> valid;
  for (const auto& e : edits) {
    if (!std::isfinite(e.strength) || e.concept < 0 || (count && e.concept >= count)) continue;
    double s = std::round(std::clamp(e.strength, -1.0, 2.0) * 100) / 100;
    if (s != 0) valid[e.concept] = s;
  }
  return valid;
}

void ProjectDocument::setStrength(int concept, double strength) {
  auto clamped = validStrengths({{concept, strength}});
  if (!clamped.empty()) strength = clamped.begin()->second;
  else if (std::isfinite(strength) && std::round(strength * 100) == 0) strength = 0;
  else return;
  auto it = mStrengths.find(concept);
  double before = it == mStrengths.end() ? 0 : it->second;
  if (strength == before) return;
  auto after = mStrengths, previous = mStrengths;
  if (strength == 0) after.erase(concept);
  else after[concept] = strength;
  mUndo.push(new StrengthCommand(
      strengthCommandName(strength), [this](std::map<int, double> s) { applyStrengths(s); },
      previous, after, concept));
}

void ProjectDocument::setEdits(const std::vector<ConceptToggle>& edits) {
  std::map<int, double> after = validStrengths(edits);
  if (after == mStrengths) return;
  auto previous = mStrengths;
  QString name = after.empty() ? tr("Reset Concept Edits") : tr("Switch Off Concepts");
  mUndo.push(new EditCommand(name, [=] { applyStrengths(after); },
                             [=] { applyStrengths(previous); }));
}

void ProjectDocument::applyStrengths(std::map<int, double> strengths) {
  mStrengths = std::move(strengths);
  Q_EMIT changed(Change::Edits);
}

// Commands that start a job are refused while another job runs (the workbench says so); the
// job they start is remembered, so that a cancel or failure takes the command back.
bool ProjectDocument::jobSlotFree() const { return !mWorkbench.runner().busy(); }

// keptState: the workbench keeps its state when this job is cancelled (discovery, naming), so
// taking the command back needs no computing; a layer change does not (the old layer must be
// extracted again, from its cache).
void ProjectDocument::startedJob(int direction, bool keptState) {
  if (mTakingBack) return;  // the job of a take-back is not itself taken back
  mJobDirection = mWorkbench.runner().busy() ? direction : 0;
  mJobKeepsState = keptState;
}

// The job of the last command was cancelled or failed: take the command back.
void ProjectDocument::jobEnded(bool completed) {
  mNamingRunning = false;
  int direction = std::exchange(mJobDirection, 0);
  if (completed || direction == 0) return;
  mTakingBack = true;
  mRevertingJob = mJobKeepsState;
  if (direction > 0) mUndo.undo();
  else mUndo.redo();
  mRevertingJob = false;
  mTakingBack = false;
  if (mJobKeepsState) mKeepStateForNextConcepts = false;
}

void ProjectDocument::nameConcepts(const QString& csv, bool byMean) {
  if (!concepts() || !jobSlotFree())
    return mWorkbench.labelConcepts(csv, byMean);  // reports what is missing or running
  auto names = std::make_shared<std::vector<ConceptName>>(allNames());
  QString previous = mTagsFile;
  mUndo.push(new EditCommand(csv.isEmpty() ? tr("Name Concepts") : tr("Set Tags File"),
                             [=] { applyTagsFile(csv, byMean, nullptr); },
                             [=] { applyTagsFile(previous, byMean, names.get()); }));
}

// Undo restores the names INVERT replaced; redo names the concepts again (a job).
void ProjectDocument::applyTagsFile(const QString& csv, bool byMean,
                                    const std::vector<ConceptName>* names) {
  mTagsFile = csv;
  Q_EMIT changed(Change::TagsFile);
  if (!names) {
    if (mRevertingJob) return;
    mWorkbench.labelConcepts(csv, byMean);
    mNamingRunning = mWorkbench.runner().busy();
    return startedJob(+1, true);
  }
  for (size_t i = 0; i < names->size(); ++i) applyName(int(i), (*names)[i]);
}

void ProjectDocument::setDiscovery(const DiscoverySettings& settings) {
  std::optional<DiscoverySettings> previous;
  if (concepts()) previous = mWorkbench.discoverySettings();
  const bool same = previous && previous->method == settings.method &&
                    previous->preset == settings.preset &&
                    previous->concepts == settings.concepts && previous->seed == settings.seed;
  if (same) return;
  if (!jobSlotFree() || !mWorkbench.activations())
    return mWorkbench.discover(settings);  // reports what is running or missing
  auto pins = mPinned;
  auto strengths = mStrengths;
  mUndo.push(new EditCommand(
      previous ? tr("Change Discovery Settings") : tr("Discover Concepts"),
      [=] {
        mPinned.clear();
        mStrengths.clear();
        applyDiscovery(settings, +1);
      },
      [=] {
        mPinned = pins;
        mStrengths = strengths;
        applyDiscovery(previous, -1);
      }));
}

// Pins and edits belong to one concept set: a redo starts the new set without them, an undo
// brings the previous ones back; either way they stay as set when the set arrives (from memory
// when the workbench still holds it, so its unsaved names come back too).
void ProjectDocument::applyDiscovery(const std::optional<DiscoverySettings>& settings,
                                     int direction) {
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
  if (mRevertingJob) return;
  mKeepStateForNextConcepts = true;
  if (!settings) {
    mWorkbench.dropConcepts();
    mKeepStateForNextConcepts = false;
    return;
  }
  mWorkbench.discover(*settings);
  startedJob(direction, true);
  Q_EMIT changed(Change::Discovery);
}

void ProjectDocument::setLayer(const QString& layer) {
  QString previous = mWorkbench.layer();
  if (layer == previous || !mWorkbench.model()) return;
  if (!jobSlotFree()) return mWorkbench.setLayer(layer);  // reports what is running
  std::optional<DiscoverySettings> previousConcepts;
  if (concepts()) previousConcepts = mWorkbench.discoverySettings();
  auto pins = mPinned;
  auto strengths = mStrengths;
  mUndo.push(new EditCommand(
      tr("Change Layer"),
      [=] {
        mPinned.clear();
        mStrengths.clear();
        applyLayer(layer, {}, +1);
      },
      [=] {
        mPinned = pins;
        mStrengths = strengths;
        applyLayer(previous, previousConcepts, -1);
      }));
}

void ProjectDocument::applyLayer(const QString& layer,
                                 const std::optional<DiscoverySettings>& thenDiscover,
                                 int direction) {
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
  if (mRevertingJob) return;
  mKeepStateForNextConcepts = true;
  mWorkbench.setLayer(layer, thenDiscover);
  startedJob(direction, false);
}

// A concept set no command asked for (a project, the demo, new images): a new document.
void ProjectDocument::onConceptsArrived() {
  if (concepts() && !std::exchange(mKeepStateForNextConcepts, false)) {
    mUndo.clear();
    mPinned.clear();
    mStrengths.clear();
  }
  Q_EMIT changed(Change::Concepts);
  Q_EMIT changed(Change::Discovery);
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
}

QAction* ProjectDocument::createUndoAction(QObject* parent) { return createStepAction(parent, true); }
QAction* ProjectDocument::createRedoAction(QObject* parent) { return createStepAction(parent, false); }

QAction* ProjectDocument::createStepAction(QObject* parent, bool undo) {
  auto* action = new QAction(parent);
  auto update = [this, action, undo] {
    QString text = undo ? mUndo.undoText() : mUndo.redoText();
    action->setText((undo ? tr("&Undo") : tr("&Redo")) + (text.isEmpty() ? QString() : " " + text));
    action->setEnabled((undo ? mUndo.canUndo() : mUndo.canRedo()) &&
                       !mWorkbench.runner().busy());
  };
  connect(&mUndo, &QUndoStack::indexChanged, action, update);
  connect(&mUndo, &QUndoStack::undoTextChanged, action, update);
  connect(&mUndo, &QUndoStack::redoTextChanged, action, update);
  connect(this, &ProjectDocument::busyChanged, action, update);
  connect(action, &QAction::triggered, this, [this, undo] {
    if (mWorkbench.runner().busy()) return;
    if (undo) mUndo.undo();
    else mUndo.redo();
  });
  update();
  return action;
}

void ProjectDocument::announceAll() {
  for (Change c : {Change::Layer, Change::Concepts, Change::Discovery, Change::ConceptNames,
                   Change::Pins, Change::Edits, Change::TagsFile})
    Q_EMIT changed(c);
}

void ProjectDocument::restore(const std::set<int>& pinned,
                              const std::vector<ConceptToggle>& edits) {
  mUndo.clear();
  mPinned = pinned;
  mStrengths = validStrengths(edits);
  mKeepStateForNextConcepts = false;
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
  Q_EMIT modifiedChanged(false);
}

}  // namespace dx::app

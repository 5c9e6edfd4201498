#include "project_document.h"

#include <QUndoCommand>
#include <functional>
#include <utility>

#include "workbench.h"

namespace dx::app {
namespace {

// An edit as a pair of actions. Commands with the same merge key (a concept's strength slider)
// merge while they follow one another: one drag is one step of undo.
class EditCommand : public QUndoCommand {
 public:
  EditCommand(const QString& text, std::function<void()> redo, std::function<void()> undo,
              int mergeKey = -1)
      : mRedo(std::move(redo)), mUndo(std::move(undo)), mMergeKey(mergeKey) {
    setText(text);
  }
  void redo() override { mRedo(); }
  void undo() override { mUndo(); }
  int id() const override { return mMergeKey < 0 ? -1 : 1; }
  bool mergeWith(const QUndoCommand* other) override {
    auto* next = static_cast<const EditCommand*>(other);
    if (next->mMergeKey != mMergeKey) return false;
    mRedo = next->mRedo;
    setText(next->text());
    return true;
  }

 private:
  std::function<void()> mRedo, mUndo;
  int mMergeKey;
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
  connect(&mWorkbench, &Workbench::changed, this, [this](Workbench::Change what) {
    switch (what) {
      case Workbench::Change::Concepts: onConceptsArrived(); break;
      case Workbench::Change::Labels: Q_EMIT changed(Change::ConceptNames); break;
      case Workbench::Change::Model:  // another model (or none): a new document
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

void ProjectDocument::setStrength(int concept, double strength) {
  auto it = mStrengths.find(concept);
  double before = it == mStrengths.end() ? 0 : it->second;
  if (strength == before) return;
  auto after = mStrengths, previous = mStrengths;
  if (strength == 0) after.erase(concept);
  else after[concept] = strength;
  mUndo.push(new EditCommand(strengthCommandName(strength), [=] { applyStrengths(after); },
                             [=] { applyStrengths(previous); }, concept));
}

void ProjectDocument::setEdits(const std::vector<ConceptToggle>& edits) {
  std::map<int, double> after;
  for (const auto& e : edits)
    if (e.strength != 0) after[e.concept] = e.strength;
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

void ProjectDocument::nameConcepts(const QString& csv, bool byMean) {
  if (!concepts()) return mWorkbench.labelConcepts(csv, byMean);  // reports "discover first"
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
  if (!names) return mWorkbench.labelConcepts(csv, byMean);
  for (size_t i = 0; i < names->size(); ++i) applyName(int(i), (*names)[i]);
}

void ProjectDocument::setDiscovery(const DiscoverySettings& settings) {
  DiscoverySettings previous = mWorkbench.discoverySettings();
  bool same = previous.method == settings.method && previous.preset == settings.preset &&
              previous.concepts == settings.concepts && previous.seed == settings.seed;
  if (same && concepts()) return;
  if (!concepts()) return mWorkbench.discover(settings);  // the first concepts: nothing to undo
  auto pins = mPinned;
  auto strengths = mStrengths;
  mUndo.push(new EditCommand(
      tr("Change Discovery Settings"),
      [=] {
        mPinned.clear();
        mStrengths.clear();
        applyDiscovery(settings);
      },
      [=] {
        mPinned = pins;
        mStrengths = strengths;
        applyDiscovery(previous);
      }));
}

// Pins and edits belong to one concept set: a redo starts the new set without them, an undo
// brings the previous ones back; either way they stay as set when the computed set arrives.
void ProjectDocument::applyDiscovery(const DiscoverySettings& settings) {
  mKeepStateForNextConcepts = true;
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
  mWorkbench.discover(settings);
  Q_EMIT changed(Change::Discovery);
}

void ProjectDocument::setLayer(const QString& layer) {
  QString previous = mWorkbench.layer();
  if (layer == previous || !mWorkbench.model()) return;
  auto pins = mPinned;
  auto strengths = mStrengths;
  mUndo.push(new EditCommand(
      tr("Change Layer"),
      [=] {
        mPinned.clear();
        mStrengths.clear();
        applyLayer(layer);
      },
      [=] {
        mPinned = pins;
        mStrengths = strengths;
        applyLayer(previous);
      }));
}

void ProjectDocument::applyLayer(const QString& layer) {
  mKeepStateForNextConcepts = true;
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
  mWorkbench.setLayer(layer);
}

void ProjectDocument::onConceptsArrived() {
  if (concepts() && !std::exchange(mKeepStateForNextConcepts, false)) {
    mPinned.clear();
    mStrengths.clear();
  }
  Q_EMIT changed(Change::Concepts);
  Q_EMIT changed(Change::Discovery);
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
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
  mStrengths.clear();
  for (const auto& e : edits)
    if (e.strength != 0) mStrengths[e.concept] = e.strength;
  mKeepStateForNextConcepts = false;
  Q_EMIT changed(Change::Pins);
  Q_EMIT changed(Change::Edits);
  Q_EMIT modifiedChanged(false);
}

}  // namespace dx::app

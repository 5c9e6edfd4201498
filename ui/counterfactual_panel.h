#pragma once
// "What would the network say without this concept?" for one image: a row per concept (an "off"
// box and a strength slider from -1 = switched off through 0 = unchanged to +2 = amplified,
// docs/methods.md 1.6), and the class probabilities before and after as a bar chart that follows
// every move (ConceptSession::counterfactual is one head pass, well under a millisecond, so it
// runs on the GUI thread). "Apply to dataset" runs the same edits over the whole cache on a
// the app's task lane with progress and Cancel, and shows accuracy per class before/after and the
// confusion cells that changed.
#include <QWidget>
#include <memory>
#include <vector>

#include "analysis/concept_session.h"
#include "base/progress.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QStackedWidget;

namespace dx::app {
class ProjectDocument;
class TaskLane;
}

namespace dx::ui {

class ConceptEditList;
class DatasetEffectView;
class PredictionChart;

class CounterfactualPanel : public QWidget {
  Q_OBJECT
 public:
  explicit CounterfactualPanel(QWidget* parent = nullptr);
  ~CounterfactualPanel() override;  // cancels a running dataset job and waits for it

  // nullptr clears the panel and shows a hint. A new session drops the toggles.
  void setSession(std::shared_ptr<const ConceptSession> session);
  // Follows the document's concept set, edits and names; the user's edits become its commands.
  void setDocument(app::ProjectDocument* document);
  // `row` indexes the session's images; the toggles stay, so one edit can be tried on many.
  void showImage(qint64 row);
  qint64 currentImage() const { return mImage; }

  // The edits with a strength other than 0, ordered by concept.
  std::vector<ConceptToggle> toggles() const;
  // Replaces all edits (concepts not listed go back to 0); out-of-range concepts are ignored.
  // Emits togglesChanged() only when the edits differ from the current ones.
  void setToggles(const std::vector<ConceptToggle>& toggles);
  // The probabilities the chart shows now: original and with the edits (tests, exports).
  std::vector<float> shownOriginal() const;
  std::vector<float> shownEdited() const;

  // Writes the whole panel (controls, chart, results) as PNG, or SVG when available.
  bool exportImage(const QString& path);

 Q_SIGNALS:
  void togglesChanged();

 protected:
  void changeEvent(QEvent* event) override;

 private:

  void edited();
  void userEdited();
  void updatePrediction();
  void reset();
  void applyToDataset();
  void datasetProgress(const Progress& progress);
  void datasetDone(const DatasetEffect* effect, const QString& error);
  void updateButtons();

  std::shared_ptr<const ConceptSession> mSession;
  app::ProjectDocument* mDocument = nullptr;
  qint64 mImage = -1;
  QStackedWidget* mStack;
  QLabel* mPlaceholder;
  ConceptEditList* mEdits;
  PredictionChart* mChart;
  QLabel* mVerdict;
  QLabel* mTiming;
  QPushButton* mReset;
  QPushButton* mApply;
  QPushButton* mCancel;
  QProgressBar* mProgress;
  DatasetEffectView* mEffect;
  app::TaskLane* mTasks = nullptr;
  bool mRunning = false;       // a dataset run is queued or running
  quint64 mGeneration = 0;     // bumped by setSession: a job's result for an older one is dropped
  quint64 mJobGeneration = 0;
  QString mJobCaption;         // the edits the running job applies, for its result's caption
};

}  // namespace dx::ui

#include "counterfactual_panel.h"

#include <cmath>
#include <map>

#include "project_document.h"
#include "task_lane.h"
#include "workbench.h"

#include <QBoxLayout>
#include <QElapsedTimer>
#include <QEvent>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStackedWidget>
#include <algorithm>
#include <cmath>

#include "concept_edit_list.h"
#include "dataset_effect_view.h"
#include "prediction_chart.h"
#include "view_support.h"
#include "widget_export.h"

namespace dx::ui {

CounterfactualPanel::CounterfactualPanel(QWidget* parent)
    : QWidget(parent), mStack(new QStackedWidget), mPlaceholder(makePlaceholder({})),
      mEdits(new ConceptEditList), mChart(new PredictionChart), mVerdict(new QLabel),
      mTiming(new QLabel), mReset(new QPushButton(tr("Reset"))),
      mApply(new QPushButton(tr("Apply to dataset"))), mCancel(new QPushButton(tr("Cancel"))),
      mProgress(new QProgressBar), mEffect(new DatasetEffectView) {
  mVerdict->setWordWrap(true);
  mVerdict->setTextFormat(Qt::RichText);
  mTiming->setForegroundRole(QPalette::PlaceholderText);
  mTiming->setToolTip(tr("Time of the last update: the model's head pass and the chart"));
  mChart->setSeriesNames(tr("original"), tr("with edits"));
  mReset->setToolTip(tr("Set every concept back to unchanged"));
  mApply->setToolTip(tr("Run the edits over every image of the cache and compare accuracy "
                        "(runs in the background)"));
  mCancel->setToolTip(tr("Stop the dataset run at its next batch"));
  mProgress->setVisible(false);
  mCancel->setVisible(false);

  // Chart above, dataset results below, in a splitter: either can be given the room it needs.
  auto* live = new QWidget;
  auto* liveLayout = new QVBoxLayout(live);
  liveLayout->setContentsMargins(0, 0, 0, 0);
  liveLayout->addWidget(mVerdict);
  liveLayout->addWidget(mChart, 1);
  auto* dataset = new QWidget;
  auto* datasetLayout = new QVBoxLayout(dataset);
  datasetLayout->setContentsMargins(0, 0, 0, 0);
  auto* run = new QHBoxLayout;
  run->addWidget(mApply);
  run->addWidget(mCancel);
  run->addWidget(mProgress, 1);
  datasetLayout->addLayout(run);
  datasetLayout->addWidget(mEffect, 1);
  auto* right = new QSplitter(Qt::Vertical);
  right->addWidget(live);
  right->addWidget(dataset);
  right->setStretchFactor(0, 3);
  right->setStretchFactor(1, 2);
  auto* splitter = new QSplitter;
  splitter->addWidget(mEdits);
  splitter->addWidget(right);
  // The prediction chart needs room for class names and two bars per class.
  right->setMinimumWidth(360);
  splitter->setStretchFactor(0, 2);
  splitter->setStretchFactor(1, 3);

  auto* content = new QWidget;
  auto* layout = new QVBoxLayout(content);
  auto* top = new QHBoxLayout;
  top->addWidget(mReset);
  top->addStretch(1);
  top->addWidget(mTiming);
  layout->addLayout(top);
  layout->addWidget(splitter, 1);
  fillWithPlaceholderStack(this, mStack, mPlaceholder, content);

  connect(mEdits, &ConceptEditList::edited, this, &CounterfactualPanel::userEdited);
  connect(mReset, &QPushButton::clicked, this, &CounterfactualPanel::reset);
  connect(mApply, &QPushButton::clicked, this, &CounterfactualPanel::applyToDataset);
  connect(mCancel, &QPushButton::clicked, this, [this] {
    if (mTasks) mTasks->cancel(this);
    mCancel->setEnabled(false);  // the run's end still follows; the button comes back then
  });
  setSession(nullptr);
}

CounterfactualPanel::~CounterfactualPanel() {
  // The run holds its own copy of the session; the lane drops its results for a panel that is
  // gone, so there is nothing to wait for.
  if (mTasks) mTasks->cancel(this);
}

void CounterfactualPanel::setSession(std::shared_ptr<const ConceptSession> session) {
  if (mTasks && mRunning) mTasks->cancel(this);
  const bool hadEdits = !toggles().empty();
  ++mGeneration;
  mSession = std::move(session);
  mImage = -1;
  QStringList classes;
  if (mSession)
    for (const std::string& c : mSession->classes()) classes << QString::fromStdString(c);
  mChart->setClasses(classes);
  mEffect->setClasses(classes);
  mEdits->setSession(mSession.get());
  mPlaceholder->setText(mSession ? tr("Choose an image to try switching its concepts off.")
                                 : tr("No concepts yet: discover concepts or open a concept set "
                                      "to edit them."));
  mStack->setCurrentWidget(mPlaceholder);
  updateButtons();
  if (hadEdits) Q_EMIT togglesChanged();  // the project's copy must drop them too
}

void CounterfactualPanel::showImage(qint64 row) {
  if (!mSession || row < 0 || size_t(row) >= mSession->images()) {
    mImage = -1;
    mStack->setCurrentWidget(mPlaceholder);
    return;
  }
  mImage = row;
  mEdits->setStrengths(mSession->strengths(size_t(row)));
  updatePrediction();
  mStack->setCurrentIndex(1);
}

void CounterfactualPanel::setDocument(app::ProjectDocument* document) {
  mDocument = document;
  mTasks = &document->workbench().tasks();
  using Change = app::ProjectDocument::Change;
  connect(document, &app::ProjectDocument::changed, this, [this](Change what) {
    if (what == Change::Concepts) setSession(mDocument->concepts());
    if (what == Change::Edits) setToggles(mDocument->edits());
    if (what == Change::ConceptNames && mSession) mEdits->refreshNames(*mSession);
  });
}

// A box or slider moved: one concept's change is a (mergeable) strength command, anything else
// replaces all edits at once.
void CounterfactualPanel::userEdited() {
  edited();
  if (!mDocument) return;
  std::map<int, double> wanted;
  for (const ConceptToggle& t : toggles()) wanted[t.concept] = t.strength;
  const auto& have = mDocument->strengths();
  auto hundredths = [](double s) { return std::lround(s * 100); };
  std::vector<int> differing;
  for (const auto& [concept, strength] : wanted)
    if (!have.count(concept) || hundredths(have.at(concept)) != hundredths(strength))
      differing.push_back(concept);
  for (const auto& entry : have)
    if (!wanted.count(entry.first)) differing.push_back(entry.first);
  if (differing.size() == 1)
    mDocument->setStrength(differing[0], wanted.count(differing[0]) ? wanted[differing[0]] : 0.0);
  else if (!differing.empty())
    mDocument->setEdits(toggles());
}

void CounterfactualPanel::edited() {
  updatePrediction();
  updateButtons();
  Q_EMIT togglesChanged();
}

std::vector<ConceptToggle> CounterfactualPanel::toggles() const { return mEdits->toggles(); }

void CounterfactualPanel::setToggles(const std::vector<ConceptToggle>& toggles) {
  if (mEdits->setToggles(toggles)) edited();
}

void CounterfactualPanel::reset() {
  if (mDocument) mDocument->setEdits({});
  else setToggles({});
}

void CounterfactualPanel::updatePrediction() {
  if (!mSession || mImage < 0) return;
  const size_t i = size_t(mImage);
  const std::vector<float> original = mSession->probabilities(i);
  std::vector<float> edited;
  QElapsedTimer timer;
  timer.start();
  try {
    ConceptSession::EditedImage result = mSession->edit(i, toggles());
    edited = std::move(result.probabilities);
    mEdits->setEditedStrengths(toggles().empty() ? std::vector<float>{} : result.strengths);
  } catch (const std::exception& e) {  // a bad edit must not take the GUI down (convention 6)
    mChart->setProbabilities(original, {});
    mEdits->setEditedStrengths({});
    mVerdict->setText(tr("Cannot compute the edited prediction: %1")
                          .arg(QString::fromUtf8(e.what()).toHtmlEscaped()));
    return;
  }
  const double modelMs = timer.nsecsElapsed() / 1e6;
  mChart->setProbabilities(original, edited);
  mTiming->setText(tr("updated in %1 ms (model %2 ms)")
                       .arg(timer.nsecsElapsed() / 1e6, 0, 'f', 2)
                       .arg(modelMs, 0, 'f', modelMs < 0.1 ? 3 : 2));

  auto argmax = [](const std::vector<float>& p) {
    return int64_t(std::max_element(p.begin(), p.end()) - p.begin());
  };
  const int64_t truth = mSession->trueClass(i), before = mSession->predictedClass(i);
  const int64_t after = edited.empty() ? before : argmax(edited);
  auto describe = [&](int64_t k, const std::vector<float>& p) {
    const QColor c = truth < 0 ? palette().color(QPalette::WindowText)
                               : k == truth ? goodColour(palette()) : badColour(palette());
    const double pk = k >= 0 && size_t(k) < p.size() ? 100.0 * p[size_t(k)] : 0.0;
    return QStringLiteral("<b style=\"color:%1\">%2</b> %3%")
        .arg(c.name(), className(*mSession, k).toHtmlEscaped())
        .arg(pk, 0, 'f', 1);
  };
  const QString truthName =
      truth < 0 ? tr("unknown") : className(*mSession, truth).toHtmlEscaped();
  mVerdict->setText(tr("True: <b>%1</b><br>Predicted: %2 → with edits: %3")
                        .arg(truthName, describe(before, original), describe(after, edited)));
}

void CounterfactualPanel::updateButtons() {
  const bool running = mRunning;
  mApply->setEnabled(mSession && !running && !toggles().empty());
  mReset->setEnabled(mSession && !toggles().empty());
  mCancel->setVisible(running);
  mProgress->setVisible(running);
}

void CounterfactualPanel::applyToDataset() {
  if (!mSession || mRunning) return;
  const std::vector<ConceptToggle> edits = toggles();
  QStringList parts;
  for (const ConceptToggle& t : edits)
    parts << conceptName(*mSession, t.concept) + QLatin1Char(' ') +
                 strengthText(int(std::lround(t.strength * 100)));
  mJobCaption = tr("Edits: %1").arg(parts.join(QStringLiteral(", ")));
  mJobGeneration = mGeneration;
  mProgress->setRange(0, 0);     // busy until the first report says how many images
  mCancel->setEnabled(true);
  mRunning = true;
  ProgressSink sink = app::TaskLane::progressSink(mTasks, this, [this](const Progress& p) {
    datasetProgress(p);
  });
  auto session = mSession;
  auto run = [this, session, edits, sink](const CancelToken& cancel) -> std::function<void()> {
    try {
      auto effect = std::make_shared<DatasetEffect>(session->applyToDataset(edits, sink, cancel));
      return [this, effect] { datasetDone(effect.get(), {}); };
    } catch (const Cancelled&) {
      throw;
    } catch (const std::exception& e) {
      QString error = QString::fromUtf8(e.what());
      return [this, error] { datasetDone(nullptr, error); };
    }
  };
  updateButtons();
  app::TaskLane::post(mTasks, this, tr("Applying the edits to the dataset"), run, 0,
                      [this] { datasetDone(nullptr, {}); });
}

void CounterfactualPanel::datasetProgress(const Progress& p) {
  if (!mRunning || p.total <= 0) return;
  mProgress->setRange(0, 100);
  mProgress->setValue(int(100 * p.done / p.total));
  mProgress->setFormat(p.secondsLeft >= 0 ? tr("%p% · %1 s left").arg(std::lround(p.secondsLeft))
                                          : tr("%p%"));
}

// The run's end: its effect, its error, or neither (cancelled).
void CounterfactualPanel::datasetDone(const DatasetEffect* effect, const QString& error) {
  mRunning = false;
  updateButtons();
  if (mJobGeneration != mGeneration) return;  // the session changed while it ran
  if (effect) mEffect->showEffect(*effect, mJobCaption);
  else if (!error.isEmpty()) mEffect->showMessage(tr("The dataset run failed: %1").arg(error));
  else mEffect->showMessage(tr("Cancelled; the edits were not applied to the whole dataset."));
}

void CounterfactualPanel::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) updatePrediction();  // colours follow the theme
}

bool CounterfactualPanel::exportImage(const QString& path) {
  if (mStack->currentIndex() != 1) return false;
  return exportWidget(this, path);
}

std::vector<float> CounterfactualPanel::shownOriginal() const { return mChart->first(); }
std::vector<float> CounterfactualPanel::shownEdited() const { return mChart->second(); }

}  // namespace dx::ui

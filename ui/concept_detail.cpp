#include "concept_detail.h"

#include "project_document.h"
#include "task_lane.h"
#include "workbench.h"

#include <QChart>
#include <QChartView>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollArea>
#include <QSplitter>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "concept_charts.h"
#include "concept_rendering_panel.h"
#include "analysis/concept_session.h"
#include "discovery/degenerate.h"
#include "patch_image_cache.h"
#include "top_patch_grid.h"
#include "widget_export.h"
#include "view_support.h"

namespace dx::ui {
namespace {

// QChartView::setChart releases the old chart without deleting it.
void replaceChart(QChartView* view, QChart* chart) {
  QChart* old = view->chart();
  view->setChart(chart);
  delete old;
}

QString percent(double fraction) { return QString::number(100 * fraction, 'f', 1) + '%'; }

}  // namespace

ConceptDetail::ConceptDetail(QWidget* parent)
    : QWidget(parent), mImages(new PatchImageCache(this)), mStack(new QStackedWidget),
      mPlaceholder(new QLabel), mHeader(new QLabel), mGrid(new TopPatchGrid(*mImages)),
      mPrev(new QToolButton), mNext(new QToolButton), mPageLabel(new QLabel),
      mHistogram(new QChartView), mInfluence(new QChartView), mInfluenceCaption(new QLabel),
      mRendering(new ConceptRenderingPanel) {
  setWindowTitle(tr("Concept"));
  mPlaceholder->setAlignment(Qt::AlignCenter);
  mPlaceholder->setWordWrap(true);
  mPlaceholder->setForegroundRole(QPalette::PlaceholderText);
  mHeader->setWordWrap(true);
  mHeader->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(buildPatches());
  split->addWidget(buildCharts());
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  auto* content = new QWidget;
  auto* layout = new QVBoxLayout(content);
  layout->addWidget(mHeader);
  layout->addWidget(split, 1);
  fillWithPlaceholderStack(this, mStack, mPlaceholder, content);
  connect(mGrid, &TopPatchGrid::imageActivated, this, &ConceptDetail::imageActivated);
  setSession(nullptr);
}

ConceptDetail::~ConceptDetail() {
  if (mTasks) mTasks->cancel(this);  // the lane drops the pass's result for a view that is gone
}

QWidget* ConceptDetail::buildPatches() {
  auto* scroll = new QScrollArea;
  scroll->setWidget(mGrid);
  scroll->setWidgetResizable(true);  // the grid reflows its columns to the width
  scroll->setFrameShape(QFrame::NoFrame);
  mPrev->setArrowType(Qt::LeftArrow);
  mNext->setArrowType(Qt::RightArrow);
  // No Page Up/Down shortcuts: window-wide, they would steal the keys from the other views.
  mPrev->setToolTip(tr("Previous %1 top patches").arg(kPatchesPerPage));
  mNext->setToolTip(tr("Next %1 top patches").arg(kPatchesPerPage));
  connect(mPrev, &QToolButton::clicked, this, [this] { showPage(mPage - 1); });
  connect(mNext, &QToolButton::clicked, this, [this] { showPage(mPage + 1); });
  auto* pager = new QHBoxLayout;
  pager->addWidget(mPrev);
  pager->addWidget(mPageLabel);
  pager->addWidget(mNext);
  pager->addStretch(1);
  auto* box = new QWidget;
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* title = new QLabel(tr("<b>Top patches over the dataset</b> (one per image; the box is "
                              "what the concept fires on)"));
  title->setWordWrap(true);
  layout->addWidget(title);
  layout->addWidget(scroll, 1);
  layout->addLayout(pager);
  layout->addWidget(mRendering);  // below the patches: the charts need the column's height
  return box;
}

QWidget* ConceptDetail::buildCharts() {
  for (QChartView* view : {mHistogram, mInfluence}) {
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(200);
  }
  mHistogram->setToolTip(tr("How strongly the concept fires in each image; right of the dashed "
                            "line it is present"));
  mInfluence->setToolTip(tr("How much amplifying the concept where it is present changes the "
                            "probability of each class"));
  mInfluenceCaption->setWordWrap(true);
  mInfluenceCaption->setForegroundRole(QPalette::PlaceholderText);
  auto* influence = new QWidget;
  auto* layout = new QVBoxLayout(influence);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(mInfluence, 1);
  layout->addWidget(mInfluenceCaption);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(mHistogram);
  split->addWidget(influence);
  split->setSizes({2000, 3000});  // in proportion: the class names need more height
  return split;
}

void ConceptDetail::setDocument(app::ProjectDocument* document) {
  mTasks = &document->workbench().tasks();
  mImages->setTasks(mTasks);
  mRendering->setTasks(mTasks);
  followConcepts(this, document, [this, document] { setSession(document->concepts()); },
                 [this] { refresh(); });
}

void ConceptDetail::setSession(std::shared_ptr<const ConceptSession> session) {
  mSession = std::move(session);
  mImages->setSession(mSession);
  mGrid->setSession(mSession);
  mRendering->setSession(mSession);
  mConcept = -2;  // differs from every request, so showConcept always redraws
  showConcept(-1);
}

void ConceptDetail::showPlaceholder(const QString& text) {
  mPlaceholder->setText(text);
  mStack->setCurrentIndex(0);
}

void ConceptDetail::showConcept(int concept) {
  if (concept == mConcept) return;
  mConcept = concept;
  computeStrengths();  // also cancels the pass of the previous concept
  if (!mSession || mSession->concepts() == 0) {
    showPlaceholder(tr("No concepts yet — open a model and images, then Discover."));
  } else if (concept < 0 || concept >= mSession->concepts()) {
    mConcept = -1;
    mRendering->showConcept(-1);
    showPlaceholder(tr("Pick a concept in the gallery to see its top patches and influence."));
  } else {
    mStack->setCurrentIndex(1);
    showHeader();
    showPage(0);
    showInfluence();
    mRendering->showConcept(concept);
  }
}

void ConceptDetail::refresh() {
  if (!mSession || mConcept < 0) return;
  showHeader();
  showInfluence();
  showHistogram();  // an INVERT label splits it into positives and negatives
}

namespace {

// A warning line for a degenerate concept (discovery/degenerate.h), empty otherwise.
QString degenerateNote(double patchFraction) {
  QString reason = QString::fromStdString(degeneracyReason(patchFraction));
  if (reason.isEmpty()) return {};
  return ConceptDetail::tr("<br><b>⚠ Degenerate:</b> %1. A catch-all or dead detector rather "
                           "than a concept; the influence matrix leaves it out by default.")
      .arg(reason);
}

// The seed stability line (discovery/concept_stability.h), empty when not measured.
QString stabilityNote(double stability) {
  if (std::isnan(stability)) return {};
  if (stability < kUnstableBelow)
    return ConceptDetail::tr("<br><b>⚠ Unstable:</b> refits with other seeds mark its patches "
                             "with an IoU of %1 (lower median). It may be this fit's accident "
                             "rather than a property of the layer.")
        .arg(stability, 0, 'f', 2);
  return ConceptDetail::tr("<br>seed stability %1: refits with other seeds mark mostly the same "
                           "patches (IoU, lower median)")
      .arg(stability, 0, 'f', 2);
}

}  // namespace

void ConceptDetail::showHeader() {
  const ConceptInfo& info = mSession->concept(mConcept);
  QString name = tr("concept %1").arg(mConcept);
  QString label = QString::fromStdString(info.label);
  mHeader->setText(
      tr("<span style='font-size:large'><b>%1</b></span> %2<br>fires in %3 of images and %4 of "
         "patches · mean score where present %5 · %6 top patches")
          .arg(label.isEmpty() ? name : label.toHtmlEscaped(), label.isEmpty() ? QString() : name,
               percent(info.imageFraction), percent(info.patchFraction))
          .arg(info.meanScoreWhenPresent, 0, 'g', 3)
          .arg(info.top.size()) +
      (info.labelAuc >= 0
           ? tr("<br>label by INVERT: AUC %1, p %2 (Mann-Whitney U), the formula holds for "
                "%3 of images")
                 .arg(info.labelAuc, 0, 'f', 3)
                 .arg(info.labelPValue > 0 ? "= " + QString::number(info.labelPValue, 'g', 2)
                                               : QStringLiteral("&lt; 1e-300"))
                 .arg(percent(info.labelFraction))
           : QString()) +
      degenerateNote(info.patchFraction) + stabilityNote(info.stability));
}

void ConceptDetail::showPage(int page) {
  const auto& top = mSession->concept(mConcept).top;
  int total = static_cast<int>(top.size());
  int pages = std::max(1, (total + kPatchesPerPage - 1) / kPatchesPerPage);
  mPage = std::clamp(page, 0, pages - 1);
  int first = mPage * kPatchesPerPage, last = std::min(total, first + kPatchesPerPage);
  mGrid->setPatches({top.begin() + first, top.begin() + last}, first);
  mPageLabel->setText(total == 0 ? tr("no top patches")
                                 : tr("page %1 of %2 · patches %3–%4 of %5")
                                       .arg(mPage + 1)
                                       .arg(pages)
                                       .arg(first + 1)
                                       .arg(last)
                                       .arg(total));
  mPrev->setEnabled(mPage > 0);
  mNext->setEnabled(mPage + 1 < pages);
}

void ConceptDetail::computeStrengths() {
  if (mTasks) mTasks->cancel(this);
  quint64 generation = ++mGeneration;
  mStrengths.clear();
  mStrengthsReady = false;
  mStrengthsCancelled = false;
  if (!mSession || mConcept < 0 || mConcept >= mSession->concepts()) return;
  showHistogram();  // "computing…" until the pass returns
  auto session = mSession;
  int concept = mConcept;
  auto pass = [this, session, concept, generation](const CancelToken& cancel) {
    std::vector<float> values;
    try {
      values.reserve(session->images());
      for (size_t i = 0; i < session->images(); ++i) {
        if (i % 256 == 0 && cancel.cancelled()) throw Cancelled();
        std::vector<float> s = session->strengths(i);
        if (size_t(concept) < s.size()) values.push_back(s[size_t(concept)]);
      }
    } catch (const Cancelled&) {
      throw;
    } catch (const std::exception&) {
      values.clear();  // the histogram says "not available" rather than failing the view
    }
    return std::function<void()>([this, generation, values] {
      if (generation != mGeneration) return;  // another concept or session meanwhile
      mStrengths = values;
      mStrengthsReady = true;
      showHistogram();
    });
  };
  auto dropped = [this, generation] {
    if (generation != mGeneration) return;
    mStrengthsCancelled = true;
    showHistogram();
  };
  app::TaskLane::post(mTasks, this, tr("Strength of a concept in every image"), pass, 0, dropped);
}

void ConceptDetail::showHistogram() {
  QChart* chart = nullptr;
  if (mStrengthsReady) {
    const ConceptInfo& info = mSession->concept(mConcept);
    chart = strengthHistogram(mStrengths, palette(), info.labelPositives,
                              QString::fromStdString(info.label));
  } else {
    chart = new QChart;
    chart->setTitle(mStrengthsCancelled
                        ? tr("Cancelled: open the concept again to compute its strength per image")
                        : tr("Computing the strength in every image…"));
    styleChart(chart, palette());
  }
  replaceChart(mHistogram, chart);
}

void ConceptDetail::showInfluence() {
  const ConceptInfo& info = mSession->concept(mConcept);
  const auto& classes = mSession->classes();
  int shown = 0;
  replaceChart(mInfluence, influenceChart(info, classes, kMaxInfluenceBars, palette(), &shown));
  // Below ~20 px a bar, Qt Charts elides the class names to "..." or drops them.
  mInfluence->setMinimumHeight(std::max(200, 140 + 22 * shown));
  if (info.influence.empty()) {
    mInfluenceCaption->setText(tr("No influence for this concept set: it was computed without "
                                  "the model's head."));
    return;
  }
  const InfluenceTestInfo& t = mSession->influenceTest();
  mInfluenceCaption->setText(
      tr("Change of the class logit when the concept is amplified by %1 standard deviations of "
         "its score where it is present, per image (%2 of %3 classes with the largest mean "
         "change; the thick part of each line holds the middle half of the images). Coloured "
         "bars are marked: Benjamini-Hochberg discoveries at q ≤ %4 over %5 cells against %6 "
         "null edits of the same size%9 (%7), with |mean change| ≥ %8; grey bars are not.")
          .arg(t.alpha, 0, 'g', 3)
          .arg(shown)
          .arg(classes.size())
          .arg(t.fdr, 0, 'g', 2)
          .arg(t.tests)
          .arg(QString::fromStdString(t.null))
          .arg(t.exact ? tr("exact z-test") : tr("%1 draws").arg(t.nullDraws))
          .arg(t.minEffect, 0, 'g', 2)
          .arg(t.null == "pattern-mahalanobis" ? tr(" in the data's own metric") : QString()));
}

void ConceptDetail::changeEvent(QEvent* event) {
  // Charts carry their own colours: rebuild them from the kept numbers for the new palette.
  if (event->type() == QEvent::PaletteChange && mSession && mConcept >= 0) {
    showHistogram();
    showInfluence();
  }
  QWidget::changeEvent(event);
}

bool ConceptDetail::exportImage(const QString& path) { return exportWidget(this, path); }

}  // namespace dx::ui

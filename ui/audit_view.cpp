#include "audit_view.h"

#include "project_document.h"
#include "task_lane.h"
#include "workbench.h"

#include <QBoxLayout>
#include <QComboBox>
#include <QEvent>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPixmap>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableView>
#include <algorithm>
#include <utility>

#include "analysis/concept_session.h"
#include "audit_categories_panel.h"
#include "misclassified_model.h"
#include "view_support.h"
#include "widget_export.h"

namespace dx::ui {
namespace {
const int kThumbnail = 48;    // logical pixels in the table
const int kDetailImage = 128;  // logical pixels beside the pushing concepts
const int kPushing = 5;        // concepts listed per image
}  // namespace

AuditView::AuditView(QWidget* parent)
    : QWidget(parent), mModel(new MisclassifiedModel(this)), mStack(new QStackedWidget),
      mPlaceholder(makePlaceholder({})), mTabs(new QTabWidget), mMistakesStack(new QStackedWidget),
      mNoMistakes(makePlaceholder({})), mCategories(new AuditCategoriesPanel), mTrueFilter(new QComboBox),
      mPredictedFilter(new QComboBox), mCount(new QLabel), mTable(new QTableView),
      mDetailImage(new QLabel), mDetailText(new QLabel), mPushingTitle(new QLabel),
      mPushing(new QListWidget), mWhatIfButton(new QPushButton(tr("What if these were off?"))),
      mWhatIfResult(new QLabel) {
  mTrueFilter->setToolTip(tr("Show only mistakes on images of this true class"));
  mPredictedFilter->setToolTip(tr("Show only mistakes predicted as this class"));
  mTable->setModel(mModel);
  mTable->setSortingEnabled(true);
  mTable->sortByColumn(MisclassifiedModel::ConfidenceColumn, Qt::DescendingOrder);
  mTable->setSelectionBehavior(QAbstractItemView::SelectRows);
  mTable->setSelectionMode(QAbstractItemView::SingleSelection);
  mTable->setIconSize(QSize(kThumbnail, kThumbnail));
  mTable->verticalHeader()->setDefaultSectionSize(kThumbnail + 6);
  mTable->verticalHeader()->hide();
  mTable->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  mTable->horizontalHeader()->setStretchLastSection(true);
  mTable->setToolTip(tr("Misclassified images; double-click one to open it"));
  mDetailImage->setFixedSize(kDetailImage, kDetailImage);
  mDetailImage->setAlignment(Qt::AlignCenter);
  for (QLabel* l : {mDetailText, mPushingTitle, mWhatIfResult}) {
    l->setWordWrap(true);
    l->setTextFormat(Qt::RichText);
  }
  mPushing->setToolTip(tr("Concepts that pushed this image to the wrong class, by their "
                          "strength times their influence. Uncheck one to leave it on; "
                          "double-click to open it."));
  mWhatIfButton->setToolTip(tr("Switch the checked concepts off for this image, show the new "
                               "prediction here and open the edit in the counterfactual panel"));

  auto* filters = new QHBoxLayout;
  filters->addWidget(new QLabel(tr("True class")));
  filters->addWidget(mTrueFilter);
  filters->addWidget(new QLabel(tr("Predicted")));
  filters->addWidget(mPredictedFilter);
  filters->addStretch(1);
  filters->addWidget(mCount);
  auto* detail = new QWidget;
  auto* side = new QVBoxLayout(detail);
  auto* head = new QHBoxLayout;
  head->addWidget(mDetailImage);
  head->addWidget(mDetailText, 1);
  side->addLayout(head);
  side->addWidget(mPushingTitle);
  side->addWidget(mPushing, 1);
  side->addWidget(mWhatIfButton);
  side->addWidget(mWhatIfResult);
  auto* splitter = new QSplitter;
  splitter->addWidget(mTable);
  splitter->addWidget(detail);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 2);
  auto* mistakes = new QWidget;
  auto* layout = new QVBoxLayout(mistakes);
  layout->addLayout(filters);
  layout->addWidget(splitter, 1);
  mMistakesStack->addWidget(mNoMistakes);
  mMistakesStack->addWidget(mistakes);
  mTabs->addTab(mMistakesStack, tr("Mistakes"));
  mTabs->addTab(mCategories, tr("Target, bias, context"));
  mTabs->setTabToolTip(1, tr("Per class: the concepts that make it up, the shortcuts it relies "
                             "on and what merely co-occurs with it"));
  fillWithPlaceholderStack(this, mStack, mPlaceholder, mTabs);
  connect(mCategories, &AuditCategoriesPanel::conceptActivated, this, &AuditView::conceptActivated);

  connect(mTrueFilter, &QComboBox::currentIndexChanged, this, &AuditView::filterChanged);
  connect(mPredictedFilter, &QComboBox::currentIndexChanged, this, &AuditView::filterChanged);
  connect(mTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          &AuditView::showDetail);
  connect(mModel, &QAbstractItemModel::modelReset, this, &AuditView::showDetail);
  connect(mTable, &QTableView::activated, this, [this](const QModelIndex& index) {
    Q_EMIT imageActivated(mModel->imageAt(index.row()));
  });
  connect(mPushing, &QListWidget::itemDoubleClicked, this, [this](QListWidgetItem* item) {
    Q_EMIT conceptActivated(item->data(Qt::UserRole).toInt());
  });
  connect(mWhatIfButton, &QPushButton::clicked, this, &AuditView::runWhatIf);
  setSession(nullptr);
}

AuditView::~AuditView() = default;  // the lane drops results for a view that is gone

void AuditView::setDocument(app::ProjectDocument* document) {
  mTasks = &document->workbench().tasks();
  mModel->setTasks(mTasks);
  mCategories->setTasks(mTasks);
  // Names decide target against bias: the categories follow renames and INVERT labels too.
  followConcepts(this, document, [this, document] { setSession(document->concepts()); },
                 [this] {
                   showDetail();
                   mCategories->namesChanged();
                 });
}

void AuditView::setSession(std::shared_ptr<const ConceptSession> session) {
  mSession = std::move(session);
  mModel->setThumbnailSize(kThumbnail, devicePixelRatioF());
  mModel->setSession(mSession);
  mCategories->setSession(mSession);
  fillFilters();
  mPlaceholder->setText(tr("No concepts yet: discover concepts or open a concept set to "
                           "audit the network's mistakes."));
  if (mSession && mModel->labelled() == 0)
    mNoMistakes->setText(tr("These images have no labels, so there are no mistakes to audit."));
  else if (mSession && mModel->total() == 0)
    mNoMistakes->setText(tr("No mistakes: the network gets all %n labelled image(s) right.",
                            nullptr, mModel->labelled()));
  mMistakesStack->setCurrentIndex(mSession && mModel->total() > 0 ? 1 : 0);
  mStack->setCurrentIndex(mSession ? 1 : 0);
  filterChanged();
}

// "All (n)" then every class the network confuses, with how many mistakes it has.
void AuditView::fillFilters() {
  const QSignalBlocker blockTrue(mTrueFilter), blockPredicted(mPredictedFilter);
  const std::vector<int> byTrue = mModel->countByTrueClass();
  const std::vector<int> byPredicted = mModel->countByPredictedClass();
  for (auto [combo, counts] : {std::pair{mTrueFilter, &byTrue},
                               std::pair{mPredictedFilter, &byPredicted}}) {
    combo->clear();
    combo->addItem(tr("All (%1)").arg(mModel->total()), qint64(-1));
    for (size_t k = 0; k < counts->size(); ++k)
      if ((*counts)[k] > 0)
        combo->addItem(QStringLiteral("%1 (%2)").arg(className(*mSession, int64_t(k)))
                           .arg((*counts)[k]), qint64(k));
  }
}

void AuditView::filterChanged() {
  mModel->setFilter(mTrueFilter->currentData().toLongLong(),
                    mPredictedFilter->currentData().toLongLong());
  const double accuracy =
      mModel->labelled() > 0 ? 100.0 * (1.0 - double(mModel->total()) / mModel->labelled()) : 0;
  mCount->setText(tr("%1 of %2 mistakes shown · accuracy %3% on %4 labelled images")
                      .arg(mModel->rowCount())
                      .arg(mModel->total())
                      .arg(accuracy, 0, 'f', 1)
                      .arg(mModel->labelled()));
  if (mModel->rowCount() > 0) mTable->selectRow(0);  // the most confident mistake, ready to read
}

qint64 AuditView::currentImage() const {
  return mModel->imageAt(mTable->selectionModel()->currentIndex().row());
}

void AuditView::showDetail() {
  const qint64 image = currentImage();
  mWhatIfProbabilities.clear();
  mWhatIfResult->clear();
  mPushing->clear();
  mDetailFor = image;
  mWhatIfButton->setEnabled(image >= 0);
  if (!mSession || image < 0) {
    mDetailImage->clear();
    mDetailText->setText(tr("Select a mistake to see which concepts caused it."));
    mPushingTitle->clear();
    return;
  }
  const size_t i = size_t(image);
  const int64_t predicted = mSession->predictedClass(i);
  showDetailText();
  const std::vector<float> strengths = mSession->strengths(i);
  for (int c : mSession->conceptsPushingTowards(i, predicted, kPushing)) {
    if (c < 0 || c >= mSession->concepts()) continue;
    const ConceptInfo& info = mSession->concept(c);
    QString text = conceptName(*mSession, c);
    if (size_t(c) < strengths.size())
      text += tr("  · strength %1").arg(strengths[size_t(c)], 0, 'f', 2);
    if (size_t(predicted) < info.influence.size())
      text += tr(" · influence %1").arg(info.influence[size_t(predicted)], 0, 'g', 3);
    auto* item = new QListWidgetItem(text, mPushing);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable);
    item->setCheckState(Qt::Checked);
    item->setData(Qt::UserRole, c);
  }
  mWhatIfButton->setEnabled(mPushing->count() > 0);
  if (mPushing->count() == 0) mWhatIfResult->setText(tr("No concept pushed towards this class."));

  // The image file is read on a worker: a slow disk or a large JPEG must not stall the list.
  mDetailImage->setText(tr("loading…"));
  mLoadingFor = image;
  const int pixels = int(kDetailImage * devicePixelRatioF());
  const qreal dpr = devicePixelRatioF();
  auto session = mSession;
  auto load = [this, session, i, pixels, dpr, image](const CancelToken&) {
    QImage img = imageFromMat(session->image(i));
    if (!img.isNull()) {
      const bool tiny = std::max(img.width(), img.height()) < pixels / 2;
      img = img.scaled(pixels, pixels, Qt::KeepAspectRatio,
                       tiny ? Qt::FastTransformation : Qt::SmoothTransformation);
      img.setDevicePixelRatio(dpr);
    }
    return std::function<void()>([this, img, image] { showDetailImage(image, img); });
  };
  auto dropped = [this, image] {
    if (image == mLoadingFor && mLoadingFor == mDetailFor)
      mDetailImage->setText(tr("(loading cancelled; select the image again)"));
  };
  app::TaskLane::post(mTasks, this, tr("Loading an image"), load, 0, dropped);
}

void AuditView::showDetailImage(qint64 image, const QImage& picture) {
  if (image != mLoadingFor || mLoadingFor != mDetailFor) return;  // the selection moved on
  mDetailImage->setPixmap(picture.isNull() ? QPixmap() : QPixmap::fromImage(picture));
  if (picture.isNull()) mDetailImage->setText(tr("(image not available)"));
}

// The texts whose colours depend on the palette: rebuilt on a theme switch.
void AuditView::showDetailText() {
  const size_t i = size_t(mDetailFor);
  const int64_t truth = mSession->trueClass(i), predicted = mSession->predictedClass(i);
  const std::vector<float> p = mSession->probabilities(i);
  auto prob = [&p](int64_t k) { return k >= 0 && size_t(k) < p.size() ? 100.0 * p[size_t(k)] : 0; };
  mDetailText->setText(tr("%1<br>True: <b>%2</b> (%3%)<br>"
                          "Predicted: <b style=\"color:%4\">%5</b> (%6%)")
                           .arg(QString::fromStdString(mSession->imageName(i)).toHtmlEscaped(),
                                className(*mSession, truth).toHtmlEscaped())
                           .arg(prob(truth), 0, 'f', 1)
                           .arg(badColour(palette()).name(),
                                className(*mSession, predicted).toHtmlEscaped())
                           .arg(prob(predicted), 0, 'f', 1));
  mPushingTitle->setText(tr("Concepts that pushed it towards <b>%1</b>:")
                             .arg(className(*mSession, predicted).toHtmlEscaped()));
  showWhatIfResult();
}

void AuditView::runWhatIf() {
  if (!mSession || mDetailFor < 0) return;
  std::vector<int> concepts;
  std::vector<ConceptToggle> toggles;
  for (int r = 0; r < mPushing->count(); ++r)
    if (mPushing->item(r)->checkState() == Qt::Checked) {
      concepts.push_back(mPushing->item(r)->data(Qt::UserRole).toInt());
      toggles.push_back({concepts.back(), -1.0});
    }
  if (concepts.empty()) {
    mWhatIfResult->setText(tr("Check at least one concept to switch off."));
    return;
  }
  try {  // one head pass (< 1 ms): fine on the GUI thread
    mWhatIfProbabilities = mSession->counterfactual(size_t(mDetailFor), toggles);
  } catch (const std::exception& e) {
    mWhatIfProbabilities.clear();
    mWhatIfResult->setText(
        tr("Cannot compute it: %1").arg(QString::fromUtf8(e.what()).toHtmlEscaped()));
    return;
  }
  showWhatIfResult();
  Q_EMIT whatIf(mDetailFor, concepts);
}

void AuditView::showWhatIfResult() {
  const std::vector<float>& p = mWhatIfProbabilities;
  if (!mSession || mDetailFor < 0 || p.empty()) return;
  const int64_t truth = mSession->trueClass(size_t(mDetailFor));
  const int64_t after = int64_t(std::max_element(p.begin(), p.end()) - p.begin());
  const bool correct = after == truth;
  const std::vector<float> before = mSession->probabilities(size_t(mDetailFor));
  auto percent = [](const std::vector<float>& v, int64_t k) {
    return k >= 0 && size_t(k) < v.size() ? 100.0 * v[size_t(k)] : 0.0;
  };
  mWhatIfResult->setText(
      tr("Without them: <b>%1</b> (%2%) — <b style=\"color:%3\">%4</b><br>"
         "P(%5): %6% → %7%")
          .arg(className(*mSession, after).toHtmlEscaped())
          .arg(percent(p, after), 0, 'f', 1)
          .arg((correct ? goodColour(palette()) : badColour(palette())).name(),
               correct ? tr("now correct") : tr("still wrong"),
               className(*mSession, truth).toHtmlEscaped())
          .arg(percent(before, truth), 0, 'f', 1)
          .arg(percent(p, truth), 0, 'f', 1));
}

void AuditView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && mSession && mDetailFor >= 0) showDetailText();
}

void AuditView::showCategories() { mTabs->setCurrentIndex(1); }

bool AuditView::exportImage(const QString& path) {
  if (mStack->currentIndex() != 1) return false;
  return exportWidget(this, path);
}

}  // namespace dx::ui

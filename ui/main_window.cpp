#include "main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonObject>
#include <QLabel>
#include <QListView>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "audit_view.h"
#include "concept_detail.h"
#include "concept_gallery.h"
#include "counterfactual_panel.h"
#include "image_view.h"
#include "influence_matrix.h"
#include "job_panel.h"
#include "project_document.h"
#include "tcav_panel.h"
#include "thumbnail_model.h"
#include "view_support.h"
#include "workbench.h"

namespace dx::ui {

QStringList MainWindow::viewNames() {
  return {"images", "gallery", "concept", "image", "audit", "matrix", "tcav"};
}

MainWindow::MainWindow(app::Workbench& workbench, QWidget* parent)
    : QMainWindow(parent), mWorkbench(workbench),
      mDocument(new app::ProjectDocument(workbench, this)), mThumbnails(new ThumbnailModel(this)),
      mGrid(new QListView),
      mSummary(new QLabel), mBanner(new QLabel), mLayer(new QComboBox),
      mNormalFont(QApplication::font()) {
  setWindowTitle(tr("Directrix[*]"));
  setAcceptDrops(true);
  mBanner->setWordWrap(true);
  mBanner->setVisible(false);
  mBanner->setTextInteractionFlags(Qt::TextSelectableByMouse);
  mBanner->setStyleSheet(QStringLiteral(
      "QLabel { background: #fde2e1; color: #7a1410; border: 1px solid #e0a09c; padding: 8px; }"));
  mSummary->setWordWrap(true);
  mSummary->installEventFilter(this);
  mSummary->setText(tr("Open the demo (Ctrl+D), or a model (Ctrl+M) and an image folder "
                       "(Ctrl+Shift+O), or drop them here. Then Discover concepts (F6)."));
  buildViews();
  auto* central = new QWidget;
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(mBanner);
  layout->addWidget(mSummary);
  layout->addWidget(mViews, 1);
  setCentralWidget(central);
  statusBar()->addWidget(new JobPanel(mWorkbench.runner()), 1);
  buildMenus();
  buildToolBar();
  connectViews();
  followDocument();
  mDocument->announceAll();
  connect(&mWorkbench, &app::Workbench::changed, this,
          [this](app::Workbench::Change c) { onChanged(static_cast<int>(c)); });
  connect(&mWorkbench, &app::Workbench::error, this, &MainWindow::showError);
  mThumbnails->setTasks(&mWorkbench.tasks());
  connect(&mWorkbench.tasks(), &app::TaskLane::failed, this,
          [this](const QString& title, const QString& message) {
            showError(tr("%1 failed: %2").arg(title, message));
          });
  connect(&mWorkbench, &app::Workbench::projectOpened, this, [this](const QString& path) {
    remember("recent/projects", path);
    restoreUiState(mWorkbench.projectUiState());
  });
  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
  if (!settings.contains("window/geometry")) resize(1400, 900);
  setDarkPalette(settings.value("view/dark", false).toBool());
}

MainWindow::~MainWindow() = default;

QWidget* MainWindow::buildImagesPage() {
  mGrid->setModel(mThumbnails);
  mGrid->setViewMode(QListView::IconMode);
  mGrid->setResizeMode(QListView::Adjust);
  mGrid->setMovement(QListView::Static);
  mGrid->setUniformItemSizes(true);
  mGrid->setIconSize(QSize(mThumbnails->thumbnailSize(), mThumbnails->thumbnailSize()));
  mGrid->setGridSize(QSize(mThumbnails->thumbnailSize() + 64, mThumbnails->thumbnailSize() + 48));
  mGrid->setWordWrap(true);
  mGrid->setToolTip(tr("Double-click an image to see its concepts and edit them"));
  return mGrid;
}

void MainWindow::buildViews() {
  mViews = new QTabWidget;
  mViews->setDocumentMode(true);
  mGallery = new ConceptGallery;
  mDetail = new ConceptDetail;
  mImageView = new ImageView;
  mCounterfactual = new CounterfactualPanel;
  mAudit = new AuditView;
  mMatrix = new InfluenceMatrix;
  mTcav = new TcavPanel(mWorkbench);
  // The counterfactual panel docks beside every view, so toggles stay at hand while browsing.
  mCounterfactualDock = new QDockWidget(tr("Counterfactual"), this);
  mCounterfactualDock->setObjectName("counterfactualDock");
  mCounterfactualDock->setWidget(mCounterfactual);
  addDockWidget(Qt::RightDockWidgetArea, mCounterfactualDock);
  mCounterfactualDock->hide();
  mViews->addTab(buildImagesPage(), tr("Images"));
  mViews->addTab(mGallery, tr("Concepts"));
  mViews->addTab(mDetail, tr("Concept"));
  mViews->addTab(mImageView, tr("Image"));
  mViews->addTab(mAudit, tr("Audit"));
  mViews->addTab(mMatrix, tr("Influence Matrix"));
  mViews->addTab(mTcav, tr("TCAV"));
}

void MainWindow::connectViews() {
  connect(mGrid, &QListView::activated, this,
          [this](const QModelIndex& index) { openThumbnail(index.row()); });
  connect(mGallery, &ConceptGallery::conceptActivated, this, &MainWindow::openConcept);
  connect(mMatrix, &InfluenceMatrix::conceptActivated, this, &MainWindow::openConcept);
  connect(mImageView, &ImageView::conceptActivated, this, &MainWindow::openConcept);
  connect(mAudit, &AuditView::conceptActivated, this, &MainWindow::openConcept);
  connect(mDetail, &ConceptDetail::imageActivated, this, &MainWindow::openImage);
  connect(mAudit, &AuditView::imageActivated, this, &MainWindow::openImage);
  connect(mMatrix, &InfluenceMatrix::classActivated, this, [this](int) { showView(View::Audit); });
  connect(mTcav, &TcavPanel::sacvMapRequested, this, &MainWindow::showSacvMap);
  connect(mAudit, &AuditView::whatIf, this, [this](qint64 image, std::vector<int> concepts) {
    std::vector<ConceptToggle> toggles;
    for (int c : concepts) toggles.push_back({c, -1.0});
    openImage(image);
    mDocument->setEdits(toggles);
  });
}

void MainWindow::showView(View view) {
  mViews->setCurrentIndex(static_cast<int>(view));
  if (view == View::Image && !mCounterfactualDock->isVisible()) {
    mCounterfactualDock->show();
    resizeDocks({mCounterfactualDock}, {width() * 2 / 5}, Qt::Horizontal);
  }
}

void MainWindow::showAuditCategories() {
  showView(View::Audit);
  mAudit->showCategories();
}

void MainWindow::openConcept(int concept) {
  mDetail->showConcept(concept);
  mGallery->setCurrentConcept(concept);
  mImageView->setSelectedConcepts({concept});
  showView(View::Concept);
}

void MainWindow::openImage(qint64 cacheRow) {
  mImageView->showImage(cacheRow);
  mCounterfactual->showImage(cacheRow);
  showView(View::Image);
  mCounterfactualDock->raise();
}

void MainWindow::openThumbnail(int sourceRow) {
  auto session = mWorkbench.concepts();
  auto source = mWorkbench.images();
  if (!session || !source) {
    showError(tr("Discover concepts first (F6) to see this image's concepts."));
    return;
  }
  // Grid rows are image-source items; the cache may have skipped unreadable files.
  const std::string name = source->itemName(size_t(sourceRow));
  const auto& files = session->cache().files();
  auto it = std::find(files.begin(), files.end(), name);
  if (it == files.end()) {
    showError(tr("%1 was skipped during extraction (see skipped.tsv in the cache).")
                  .arg(QString::fromStdString(name)));
    return;
  }
  openImage(qint64(it - files.begin()));
}

// The TCAV study's SACV map of the image in the Image tab, laid over it there.
void MainWindow::showSacvMap(int concept, bool contribution) {
  auto study = mWorkbench.tcavStudy();
  auto session = mWorkbench.concepts();
  const qint64 image = mImageView->currentImage();
  if (!study) return showError(tr("Run TCAV first: the SACV map uses the study's CAVs."));
  if (!session || image < 0)
    return showError(tr("Show an image in the Image tab first (double-click one under Images; "
                        "it needs discovered concepts), then ask for its SACV map."));
  int h = 0, w = 0;
  std::vector<float> map;
  try {
    map = contribution ? sacvContribution(*study, concept, session->cache(), size_t(image), &h, &w)
                       : sacvRelevance(*study, concept, session->cache(), size_t(image), &h, &w);
  } catch (const std::exception& e) {  // UserError, or LibTorch's on a broken model
    return showError(QString::fromStdString(e.what()));
  }
  mImageView->setExtraOverlay(
      tr("SACV %1 of \"%2\" for %3")
          .arg(contribution ? tr("contribution S") : tr("relevance R"),
               QString::fromStdString(study->conceptName(concept)),
               className(*session, study->classIndex())),
      std::move(map), h, w);
  showView(View::Image);
}

void MainWindow::onChanged(int what) {
  auto change = static_cast<app::Workbench::Change>(what);
  mBanner->setVisible(false);
  if (change == app::Workbench::Change::Model) {
    QSignalBlocker block(mLayer);
    mLayer->clear();
    mLayer->addItems(mWorkbench.layerNames());
    mLayer->setCurrentText(mWorkbench.layer());
    if (!mWorkbench.model()) mThumbnails->clear();
    remember("recent/models", mWorkbench.modelPath());
  }
  if (change == app::Workbench::Change::Images) {
    QFileInfo info(mWorkbench.imagesSpec());
    if (info.isDir()) remember("recent/images", mWorkbench.imagesSpec());
  }
  if ((change == app::Workbench::Change::Images || change == app::Workbench::Change::Model) &&
      mWorkbench.images() && mWorkbench.model())
    mThumbnails->setImages(mWorkbench.images(), mWorkbench.model()->meta().input);
  if (change == app::Workbench::Change::Activations)
    mThumbnails->setActivations(mWorkbench.activations());
  updateSummary();
}

// Every view subscribes to the document itself; the window keeps only its own controls (the
// layer and discovery settings in the tool bar, the title's modified mark) in step.
void MainWindow::followDocument() {
  mGallery->setDocument(mDocument);
  mDetail->setDocument(mDocument);
  mImageView->setDocument(mDocument);
  mCounterfactual->setDocument(mDocument);
  mAudit->setDocument(mDocument);
  mMatrix->setDocument(mDocument);
  using Change = app::ProjectDocument::Change;
  connect(mDocument, &app::ProjectDocument::changed, this, [this](Change what) {
    if (what == Change::Layer) {
      QSignalBlocker block(mLayer);
      mLayer->setCurrentText(mWorkbench.layer());
    }
    if (what == Change::Discovery && mWorkbench.concepts()) {
      const auto& s = mWorkbench.discoverySettings();
      mMethod->setCurrentText(QString::fromStdString(s.method));
      mPreset->setCurrentText(QString::fromStdString(s.preset));
      mConceptCount->setValue(s.concepts);
    }
    if (what == Change::Concepts) updateSummary();
  });
  connect(mDocument, &app::ProjectDocument::modifiedChanged, this, &QWidget::setWindowModified);
}

void MainWindow::selectInterestingDefaults() {
  auto session = mWorkbench.concepts();
  if (!session || session->concepts() == 0) return;
  // The concept with the largest marked influence on any class (else the largest influence).
  int best = 0;
  float bestInfluence = -1;
  for (bool markedOnly : {true, false}) {
    for (int i = 0; i < session->concepts(); ++i) {
      const auto& c = session->concept(i);
      for (size_t k = 0; k < c.influence.size(); ++k)
        if ((!markedOnly || (k < c.significant.size() && c.significant[k])) &&
            std::abs(c.influence[k]) > bestInfluence)
          bestInfluence = std::abs(c.influence[k]), best = i;
    }
    if (bestInfluence >= 0) break;
  }
  mDetail->showConcept(best);
  mGallery->setCurrentConcept(best);
  // The first misclassified image, else the first image.
  qint64 image = 0;
  for (size_t i = 0; i < session->images(); ++i)
    if (session->trueClass(i) >= 0 && session->trueClass(i) != session->predictedClass(i)) {
      image = qint64(i);
      break;
    }
  mImageView->showImage(image);
  mCounterfactual->showImage(image);
}

bool MainWindow::busyDecoding() const {
  return mThumbnails->pendingThumbnails() > 0 || mWorkbench.tasks().pending() > 0;
}

void MainWindow::updateSummary() {
  QStringList parts;
  if (auto m = mWorkbench.model())
    parts << tr("<b>Model</b> %1 (%2 classes, %3)")
                 .arg(QString::fromStdString(m->meta().name).toHtmlEscaped())
                 .arg(m->meta().classes.size())
                 .arg(QString::fromStdString(m->deviceName()));
  if (auto s = mWorkbench.images())
    parts << tr("<b>Images</b> %1").arg(QString::fromStdString(s->description()).toHtmlEscaped());
  if (auto c = mWorkbench.activations()) {
    const auto& shape = c->activations().shape();
    size_t correct = 0, labelled = 0;
    for (size_t i = 0; i < c->size(); ++i) {
      if (c->label(i) < 0) continue;
      ++labelled;
      correct += c->labelClasses()[size_t(c->label(i))] == c->classes()[size_t(c->prediction(i))];
    }
    QString acc = labelled ? tr(", accuracy %1%").arg(100.0 * correct / labelled, 0, 'f', 1)
                           : QString();
    parts << tr("<b>Layer</b> %1: %2 × %3 × %4 × %5%6")
                 .arg(QString::fromStdString(c->layer()))
                 .arg(shape[0]).arg(shape[1]).arg(shape[2]).arg(shape[3]).arg(acc);
  }
  if (auto s = mWorkbench.concepts()) {
    // The adaptive preset also names the fit it ran ("adaptive: balanced").
    QString preset = QString::fromStdString(s->settings().preset);
    std::string fitted = s->fittedPreset();
    if (!fitted.empty()) preset += QStringLiteral(": ") + QString::fromStdString(fitted);
    if (auto ica = s->icaEncoderConcepts(); !ica.empty())  // docs/concept-discovery.md
      preset += tr(", ICA encoders for %1").arg(ica.size());
    preset = preset.toHtmlEscaped();  // read from concepts.json: rich text must not come from a file
    parts << tr("<b>Concepts</b> %1 by %2 (%3)")
                 .arg(s->concepts())
                 .arg(QString::fromStdString(s->settings().method), preset);
  }
  if (!parts.isEmpty()) mSummary->setText(parts.join(QStringLiteral(" &nbsp;·&nbsp; ")));
  fitSummaryHeight();
  QString project = mWorkbench.projectPath();
  setWindowTitle(project.isEmpty() ? tr("Directrix[*]")
                                   : tr("%1[*] — Directrix").arg(QFileInfo(project).fileName()));
}

void MainWindow::showError(const QString& message) {
  mBanner->setText(message);
  mBanner->setVisible(true);
}

QJsonObject MainWindow::uiState() const {
  QJsonArray pinned, toggles;
  for (int c : mDocument->pinned()) pinned.append(c);
  for (const auto& t : mDocument->edits())
    toggles.append(QJsonObject{{"concept", t.concept}, {"strength", t.strength}});
  return {{"pinned", pinned}, {"toggles", toggles}, {"view", mViews->currentIndex()},
          {"concept", mDetail->currentConcept()}, {"image", mImageView->currentImage()}};
}

void MainWindow::restoreUiState(const QJsonObject& state) {
  std::set<int> pinned;
  for (const auto& v : state.value("pinned").toArray()) pinned.insert(v.toInt());
  std::vector<ConceptToggle> toggles;
  for (const auto& v : state.value("toggles").toArray())
    toggles.push_back({v.toObject().value("concept").toInt(), v.toObject().value("strength").toDouble()});
  mDocument->restore(pinned, toggles);
  if (int c = state.value("concept").toInt(-1); c >= 0) mDetail->showConcept(c);
  if (qint64 image = state.value("image").toInteger(-1); image >= 0) {
    mImageView->showImage(image);
    mCounterfactual->showImage(image);
  }
  mViews->setCurrentIndex(state.value("view").toInt(0));
}

// The summary wraps to as many lines as its width needs. The central layout kept its first
// height when the text grew (a screenshot showed the second line cut off by the views), so the
// label asks for its wrapped height whenever its text, width or font changes: the window's size,
// the counterfactual dock or a side toolbar, presentation mode's font (eventFilter).
void MainWindow::fitSummaryHeight() {
  mSummary->setMinimumHeight(mSummary->heightForWidth(mSummary->width()));
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
  if (watched == mSummary) {
    auto type = event->type();
    if (type == QEvent::Resize || type == QEvent::FontChange || type == QEvent::StyleChange ||
        type == QEvent::Show)
      fitSummaryHeight();
  }
  return QMainWindow::eventFilter(watched, event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  // A folder is an image folder, a .directrix a project, any other file a model.
  QString model, images;
  for (const QUrl& url : event->mimeData()->urls()) {
    QFileInfo info(url.toLocalFile());
    if (info.isDir()) images = info.absoluteFilePath();
    else if (info.suffix() == "directrix") {
      if (maybeSave()) mWorkbench.openProject(info.absoluteFilePath());
      return;
    }
    else if (info.isFile()) model = info.absoluteFilePath();
  }
  if ((!model.isEmpty() || !images.isEmpty()) && !maybeSave()) return;
  if (!model.isEmpty()) mWorkbench.openModelThenImages(model, images);
  else if (!images.isEmpty()) mWorkbench.openImages(images);
  event->acceptProposedAction();
}

// Unsaved edits: Save (then close only if saving worked), Discard, or Cancel (stay open).
bool MainWindow::maybeSave() {
  if (!mDocument->isModified()) return true;
  UnsavedChoice choice = UnsavedChoice::Cancel;
  if (mUnsavedPrompt) {
    choice = mUnsavedPrompt();
  } else {
    auto answer = QMessageBox::warning(
        this, tr("Unsaved changes"), tr("The project has unsaved changes. Save them?"),
        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
    choice = answer == QMessageBox::Save      ? UnsavedChoice::Save
             : answer == QMessageBox::Discard ? UnsavedChoice::Discard
                                              : UnsavedChoice::Cancel;
  }
  if (choice == UnsavedChoice::Save) {
    saveProject(false);
    return !mDocument->isModified();
  }
  return choice == UnsavedChoice::Discard;
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (!maybeSave()) return event->ignore();
  mWorkbench.cancel();
  QSettings().setValue("window/geometry", saveGeometry());
  QSettings().setValue("window/state", saveState());
  event->accept();
}

}  // namespace dx::ui

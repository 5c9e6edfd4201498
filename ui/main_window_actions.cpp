// Menus, tool bar and the actions behind them (projects, discovery, exports, presentation mode).
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QSaveFile>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QStyleFactory>
#include <QTabWidget>
#include <QTextStream>
#include <QToolBar>

#include "analysis/concept_set_files.h"
#include "audit_view.h"
#include "discovery/method_registry.h"
#include "thumbnail_model.h"
#include "concept_detail.h"
#include "concept_gallery.h"
#include "counterfactual_panel.h"
#include "image_view.h"
#include "influence_matrix.h"
#include "main_window.h"

#include <cmath>
#include "widget_export.h"
#include "report/html_report.h"
#include "task_lane.h"
#include "project_document.h"
#include "workbench.h"

namespace dx::ui {
namespace {
const int kMaxRecent = 8;
}  // namespace

void MainWindow::buildMenus() {
  buildFileMenu();
  buildEditMenu();
  QMenu* run = menuBar()->addMenu(tr("&Run"));
  run->addAction(tr("&Extract Activations"), QKeySequence(Qt::Key_F5), &mWorkbench,
                 &app::Workbench::extract);
  run->addAction(tr("&Discover Concepts"), QKeySequence(Qt::Key_F6), this, &MainWindow::discover);
  run->addAction(tr("&Cancel"), QKeySequence(Qt::Key_Escape), &mWorkbench,
                 &app::Workbench::cancel);
  QMenu* concept = menuBar()->addMenu(tr("&Concept"));
  concept->addAction(tr("&Rename Concept…"), QKeySequence(Qt::Key_F2), this,
                     &MainWindow::renameCurrentConcept);
  // INVERT scores each image by the concept's strongest response, or its mean over the map.
  QAction* byMean = new QAction(tr("Name by &Mean Strength (not Maximum)"), this);
  byMean->setCheckable(true);
  byMean->setChecked(QSettings().value("label/mean", false).toBool());
  connect(byMean, &QAction::toggled, this, [](bool on) { QSettings().setValue("label/mean", on); });
  concept->addAction(tr("&Name Concepts (INVERT, classes)"), QKeySequence(tr("Ctrl+L")),
                     this, [this, byMean] { mDocument->nameConcepts({}, byMean->isChecked()); });
  concept->addAction(tr("Name Concepts with a &Tags File…"), this, [this, byMean] {
    QString csv = QFileDialog::getOpenFileName(this, tr("Image tags (image,tag,tag...)"), {},
                                               tr("CSV files (*.csv *.txt);;All files (*)"));
    if (!csv.isEmpty()) mDocument->nameConcepts(csv, byMean->isChecked());
  });
  concept->addAction(byMean);
  concept->addSeparator();
  concept->setToolTipsVisible(true);
  concept->addAction(tr("Check &Seed Stability (2 Refits)"), this, [this] {
    mWorkbench.checkStability(2);
  })->setToolTip(tr("Fit the concepts again with two other seeds; a concept that a refit does "
                    "not find again (IoU of the patches below 0.5) is marked unstable"));
  buildViewMenu();
  rebuildRecentMenus();
}

void MainWindow::buildEditMenu() {
  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  QAction* undo = mDocument->createUndoAction(this);
  undo->setShortcut(QKeySequence(tr("Ctrl+Z")));
  QAction* redo = mDocument->createRedoAction(this);
  redo->setShortcut(QKeySequence(tr("Ctrl+Shift+Z")));
  edit->addAction(undo);
  edit->addAction(redo);
}

void MainWindow::buildFileMenu() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&New Project"), QKeySequence::New, this, &MainWindow::newProject);
  file->addAction(tr("&Open Project…"), QKeySequence::Open, this, &MainWindow::chooseProject);
  mRecentProjects = file->addMenu(tr("Recent Projects"));
  file->addAction(tr("&Save Project"), QKeySequence::Save, this, [this] { saveProject(false); });
  file->addAction(tr("Save Project &As…"), QKeySequence::SaveAs, this, [this] { saveProject(true); });
  file->addSeparator();
  file->addAction(tr("Open &Model…"), QKeySequence(tr("Ctrl+M")), this, &MainWindow::chooseModel);
  file->addAction(tr("Open &Images…"), QKeySequence(tr("Ctrl+Shift+O")), this,
                  &MainWindow::chooseImages);
  mRecentModels = file->addMenu(tr("Recent Models"));
  mRecentImages = file->addMenu(tr("Recent Image Folders"));
  file->addAction(tr("Open &Demo (Fashion-MNIST)"), QKeySequence(tr("Ctrl+D")), this, [this] {
    if (maybeSave()) mWorkbench.openDemo();
  });
  file->addAction(tr("Open ConceptWorld Demo (watermark)"), QKeySequence(tr("Ctrl+Shift+D")),
                  this, [this] {
                    if (maybeSave()) mWorkbench.openConceptWorldDemo();
                  });
  file->addSeparator();
  file->addAction(tr("&Export View…"), QKeySequence(tr("Ctrl+E")), this,
                  &MainWindow::exportCurrentView);
  file->addAction(tr("Export Concept &Table (CSV)…"), this, &MainWindow::exportConceptTable);
  file->addAction(tr("Export Concept &Directions (.npy)…"), this, &MainWindow::exportDirections);
  file->addAction(tr("Export &Report (HTML)…"), this, &MainWindow::exportReport);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
}

void MainWindow::buildViewMenu() {
  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (int i = 0; i < mViews->count(); ++i) {
    QAction* a = view->addAction(mViews->tabText(i).replace("&&", "&"), this,
                                 [this, i] { mViews->setCurrentIndex(i); });
    a->setShortcut(QKeySequence(QStringLiteral("Ctrl+%1").arg(i + 1)));
  }
  view->addSeparator();
  QAction* dock = mCounterfactualDock->toggleViewAction();
  dock->setShortcut(QKeySequence(tr("Ctrl+K")));
  view->addAction(dock);
  QAction* present = view->addAction(tr("&Presentation Mode"));
  present->setShortcut(QKeySequence(Qt::Key_F11));
  present->setCheckable(true);
  connect(present, &QAction::toggled, this, &MainWindow::setPresentationMode);
  addAction(present);  // keeps F11 working while the menu bar is hidden
  QAction* dark = view->addAction(tr("&Dark Palette"));
  dark->setCheckable(true);
  dark->setChecked(QSettings().value("view/dark", false).toBool());
  connect(dark, &QAction::toggled, this, [this](bool on) {
    QSettings().setValue("view/dark", on);
    setDarkPalette(on);
  });
}

void MainWindow::buildToolBar() {
  QToolBar* bar = addToolBar(tr("Main"));
  bar->setObjectName("mainToolBar");
  bar->addAction(tr("Open Model"), this, &MainWindow::chooseModel)->setToolTip(tr("Ctrl+M"));
  bar->addAction(tr("Open Images"), this, &MainWindow::chooseImages)->setToolTip(tr("Ctrl+Shift+O"));
  bar->addAction(tr("Demo"), this, [this] {
       if (maybeSave()) mWorkbench.openDemo();
     })->setToolTip(tr("Ctrl+D"));
  bar->addSeparator();
  bar->addWidget(new QLabel(tr(" Layer ")));
  mLayer->setMinimumContentsLength(10);
  mLayer->setToolTip(tr("The layer whose activations are extracted and explored"));
  bar->addWidget(mLayer);
  connect(mLayer, &QComboBox::textActivated, mDocument, &app::ProjectDocument::setLayer);
  bar->addSeparator();
  mMethod = new QComboBox;
  for (const std::string& name : conceptMethodNames()) mMethod->addItem(QString::fromStdString(name));
  mMethod->setToolTip(tr("Concept discovery method (EDDP: encoding-decoding direction pairs)"));
  mPreset = new QComboBox;
  for (const std::string& name : eddpPresetNames()) mPreset->addItem(QString::fromStdString(name));
  mPreset->setToolTip(tr("EDDP preset: adaptive (the default: partition where k-means finds "
                         "one partition from every start; ica-valley where its detectors repeat "
                         "on two halves of the data and leave patches unclaimed; balanced "
                         "elsewhere, or partition where balanced leaves a degenerate detector; "
                         "encoders by ICA within firing groups where stable), "
                         "balanced (holds "
                         "from 3 to 48 concepts), partition (no training: for layers where a "
                         "patch shows one concept), ica-valley (no training: for layers where "
                         "most patches show no concept), "
                         "quick (the paper's losses, short schedule), paper (the published "
                         "method), paper-constrained (the paper's constrained variant, slow), "
                         "paper-kurtosis (the paper plus a kurtosis stage of ours)"));
  mConceptCount = new QSpinBox;
  mConceptCount->setRange(2, 2048);
  mConceptCount->setValue(16);
  mConceptCount->setToolTip(tr("Number of concepts to discover"));
  bar->addWidget(mMethod);
  bar->addWidget(mPreset);
  bar->addWidget(mConceptCount);
  bar->addAction(tr("Discover"), this, &MainWindow::discover)->setToolTip(tr("F6"));
}

void MainWindow::discover() {
  DiscoverySettings s = mWorkbench.discoverySettings();
  s.method = mMethod->currentText().toStdString();
  s.preset = mPreset->currentText().toStdString();
  s.concepts = mConceptCount->value();
  mDocument->setDiscovery(s);
}

void MainWindow::chooseModel() {
  QString path = QFileDialog::getOpenFileName(this, tr("Open Directrix model"), {},
                                              tr("TorchScript models (*.pt *.pth);;All files (*)"));
  if (!path.isEmpty() && maybeSave()) mWorkbench.openModel(path);
}

void MainWindow::chooseImages() {
  QString dir = QFileDialog::getExistingDirectory(this, tr("Open image folder"));
  if (!dir.isEmpty() && maybeSave()) mWorkbench.openImages(dir);
}

void MainWindow::chooseProject() {
  QString path = QFileDialog::getOpenFileName(this, tr("Open project"), {},
                                              tr("Directrix projects (*.directrix)"));
  if (!path.isEmpty() && maybeSave()) mWorkbench.openProject(path);
}

void MainWindow::saveProject(bool askForPath) {
  QString path = mWorkbench.projectPath();
  if (askForPath || path.isEmpty())
    path = QFileDialog::getSaveFileName(this, tr("Save project"), path,
                                        tr("Directrix projects (*.directrix)"));
  if (path.isEmpty()) return;
  if (!path.endsWith(".directrix")) path += ".directrix";
  if (mWorkbench.saveProject(path, uiState())) {
    mDocument->markSaved();
    remember("recent/projects", path);
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
    updateSummary();
  }
}

void MainWindow::newProject() {
  if (!maybeSave()) return;
  mWorkbench.clear();
  mDocument->restore({}, {});
  mThumbnails->clear();
  mSummary->setText(tr("New project: open a model (Ctrl+M) and images (Ctrl+Shift+O)."));
  fitSummaryHeight();
}

void MainWindow::renameCurrentConcept() {
  auto session = mDocument->concepts();
  int concept = mViews->currentWidget() == mDetail ? mDetail->currentConcept()
                                                   : mGallery->currentConcept();
  if (!session || concept < 0) return showError(tr("Select a concept to rename first."));
  bool ok = false;
  QString label = QInputDialog::getText(this, tr("Rename concept %1").arg(concept), tr("Name:"),
                                        QLineEdit::Normal,
                                        QString::fromStdString(session->concept(concept).label), &ok);
  if (!ok) return;
  mDocument->renameConcept(concept, label);
}

void MainWindow::exportCurrentView() {
  QString path = QFileDialog::getSaveFileName(this, tr("Export view"), {},
                                              tr("PNG image (*.png);;SVG drawing (*.svg)"));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += ".png";
  QWidget* page = mViews->currentWidget();
  bool ok = page == mGallery ? mGallery->exportImage(path)
            : page == mDetail ? mDetail->exportImage(path)
            : page == mAudit  ? mAudit->exportImage(path)
            : page == mMatrix ? mMatrix->exportImage(path)
                              : exportWidget(page, path);
  if (ok) return;
  const bool svg = path.endsWith(QLatin1String(".svg"), Qt::CaseInsensitive);
  if (svg && !svgExportAvailable())
    return showError(tr("Could not write %1: this build has no SVG support (Qt Svg); export a "
                        "PNG instead.").arg(path));
  showError(tr("Could not write %1. Nothing earlier was changed; free disk space or choose a "
               "folder you can write to.").arg(path));
}

void MainWindow::exportConceptTable() {
  auto session = mWorkbench.concepts();
  if (!session) return showError(tr("Discover concepts first (F6)."));
  QString path = QFileDialog::getSaveFileName(this, tr("Export concept table"), "concepts.csv",
                                              tr("CSV (*.csv)"));
  if (path.isEmpty()) return;
  QSaveFile file(path);  // an earlier file stays whole when writing fails
  if (!file.open(QIODevice::WriteOnly))
    return showError(tr("Could not write %1: %2").arg(path, file.errorString()));
  QTextStream out(&file);
  out << "concept,label,fraction_present,image_fraction,mean_score";
  for (const auto& c : session->classes()) {
    QString name = QString::fromStdString(c).replace('"', "\"\"");
    out << ",\"logit change " << name << "\",\"p " << name << "\"";
  }
  out << ",seed_stability";
  out << "\n";
  for (int i = 0; i < session->concepts(); ++i) {
    const auto& c = session->concept(i);
    out << i << ",\"" << QString::fromStdString(c.label).replace('"', "\"\"") << "\","
        << c.patchFraction << "," << c.imageFraction << "," << c.meanScoreWhenPresent;
    for (size_t k = 0; k < session->classes().size(); ++k) {
      out << "," << (k < c.influence.size() ? c.influence[k] : 0.f) << ",";
      if (k < c.pValues.size() && !std::isnan(c.pValues[k])) out << c.pValues[k];  // empty: untested
    }
    out << ",";  // last, so the class columns stay where they were
    if (!std::isnan(c.stability)) out << c.stability;  // empty: not measured
    out << "\n";
  }
  out.flush();
  if (out.status() != QTextStream::Ok || !file.commit())
    return showError(tr("Could not write %1: %2. Free disk space or choose another folder.")
                         .arg(path, file.errorString()));
  statusBar()->showMessage(tr("Wrote %1").arg(path), 4000);
}

void MainWindow::exportDirections() {
  auto session = mWorkbench.concepts();
  if (!session) return showError(tr("Discover concepts first (F6)."));
  QString dir = QFileDialog::getExistingDirectory(this, tr("Export concept directions to"));
  if (dir.isEmpty()) return;
  // The whole set as one transaction (core/analysis/concept_set_files.h): a full disk or a
  // read-only folder leaves what was there before.
  try {
    copyConceptSet(session->dir(), dir.toStdString());
  } catch (const std::exception& e) {
    return showError(QString::fromStdString(e.what()));
  }
  statusBar()->showMessage(
      tr("Wrote decoders.npy, biases.npy, encoders.npy, image_strength.npy and concepts.json to %1")
          .arg(dir),
      4000);
}

// One self-contained HTML page (report/html_report.h), written on the task lane: the audit's
// switch-off tests and reading the top patches' images take a few seconds on a large project.
void MainWindow::exportReport() {
  auto session = mWorkbench.concepts();
  if (!session) return showError(tr("Discover concepts first (F6)."));
  QString path = QFileDialog::getSaveFileName(this, tr("Export report"), "directrix-report.html",
                                              tr("HTML page (*.html)"));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += ".html";
  auto tcav = mWorkbench.tcavReport();
  const std::string file = path.toStdString();
  // Names are copied here: renaming writes them while the report is written on a worker.
  std::vector<std::string> labels;
  std::vector<double> aucs;
  for (int i = 0; i < session->concepts(); ++i) {
    labels.push_back(session->concept(i).label);
    aucs.push_back(session->concept(i).labelAuc);
  }
  auto work = [session, tcav, file, path, labels, aucs, this](const CancelToken& cancel) {
    QString failure;
    try {
      AuditOptions audit;
      audit.cancel = cancel;
      const AuditResult categories = session->auditCategories(audit, labels);
      HtmlReportOptions o;
      o.audit = &categories;
      o.labels = labels;
      o.labelAucs = aucs;
      if (tcav) o.tcav.push_back(reportTcav(*tcav));
      o.cancel = cancel;
      writeTextFile(file, htmlReport(*session, o));
    } catch (const Cancelled&) {
      throw;
    } catch (const std::exception& e) {
      failure = QString::fromUtf8(e.what());
    }
    return std::function<void()>([this, path, failure] {
      statusBar()->clearMessage();
      if (!failure.isEmpty()) return showError(tr("Could not write the report: %1").arg(failure));
      statusBar()->showMessage(tr("Wrote the report %1").arg(path), 6000);
    });
  };
  statusBar()->showMessage(tr("Writing the report…"));
  app::TaskLane::post(&mWorkbench.tasks(), this, tr("Writing the report"), work, 0,
                      [this] { statusBar()->showMessage(tr("Report cancelled"), 4000); });
}

void MainWindow::setPresentationMode(bool on) {
  // Talks: large fonts, no chrome but the views; F11 toggles back.
  mPresentation = on;
  QFont font = mNormalFont;
  if (on) font.setPointSizeF(font.pointSizeF() * 1.6);
  QApplication::setFont(font);
  menuBar()->setVisible(!on);
  for (QToolBar* bar : findChildren<QToolBar*>()) bar->setVisible(!on);
  mSummary->setVisible(!on);
  statusBar()->setVisible(!on);
  if (on) showFullScreen();
  else showNormal();
}

void MainWindow::setDarkPalette(bool on) {
  QApplication::setStyle(QStyleFactory::create("Fusion"));
  if (!on) return QApplication::setPalette(QApplication::style()->standardPalette());
  QPalette p;
  p.setColor(QPalette::Window, QColor(37, 37, 40));
  p.setColor(QPalette::WindowText, QColor(230, 230, 230));
  p.setColor(QPalette::Base, QColor(28, 28, 30));
  p.setColor(QPalette::AlternateBase, QColor(45, 45, 48));
  p.setColor(QPalette::Text, QColor(230, 230, 230));
  p.setColor(QPalette::Button, QColor(50, 50, 54));
  p.setColor(QPalette::ButtonText, QColor(230, 230, 230));
  p.setColor(QPalette::Highlight, QColor(64, 128, 210));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::ToolTipBase, QColor(50, 50, 54));
  p.setColor(QPalette::ToolTipText, QColor(230, 230, 230));
  p.setColor(QPalette::PlaceholderText, QColor(150, 150, 150));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(120, 120, 120));
  p.setColor(QPalette::Mid, QColor(90, 90, 95));
  QApplication::setPalette(p);
}

void MainWindow::remember(const QString& key, const QString& path) {
  if (path.isEmpty()) return;
  QSettings settings;
  QStringList list = settings.value(key).toStringList();
  list.removeAll(path);
  list.prepend(path);
  while (list.size() > kMaxRecent) list.removeLast();
  settings.setValue(key, list);
  rebuildRecentMenus();
}

void MainWindow::rebuildRecentMenus() {
  QSettings settings;
  auto fill = [&](QMenu* menu, const char* key, std::function<void(const QString&)> open) {
    menu->clear();
    const QStringList list = settings.value(key).toStringList();
    for (const QString& p : list) menu->addAction(p, this, [p, open] { open(p); });
    menu->setEnabled(!list.isEmpty());
  };
  // Each of them starts a new document: unsaved edits are offered for saving first.
  fill(mRecentModels, "recent/models", [this](const QString& p) {
    if (maybeSave()) mWorkbench.openModel(p);
  });
  fill(mRecentImages, "recent/images", [this](const QString& p) {
    if (maybeSave()) mWorkbench.openImages(p);
  });
  fill(mRecentProjects, "recent/projects", [this](const QString& p) {
    if (maybeSave()) mWorkbench.openProject(p);
  });
}

}  // namespace dx::ui

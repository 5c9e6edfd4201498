#include "main_window.h"

#include <QAction>
#include <QCloseEvent>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QListView>
#include <QMenuBar>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QToolBar>
#include <QVBoxLayout>
#include <utility>

#include "job_panel.h"
#include "thumbnail_model.h"
#include "workbench.h"

namespace cs::ui {
namespace {
const char kRecentModels[] = "recent/models";
const char kRecentImages[] = "recent/images";
const int kMaxRecent = 8;
}  // namespace

MainWindow::MainWindow(app::Workbench& workbench, QWidget* parent)
    : QMainWindow(parent), mWorkbench(workbench), mThumbnails(new ThumbnailModel(this)),
      mGrid(new QListView), mSummary(new QLabel), mBanner(new QLabel), mLayer(new QComboBox) {
  setWindowTitle(tr("ConceptScope"));
  setAcceptDrops(true);
  mGrid->setModel(mThumbnails);
  mGrid->setViewMode(QListView::IconMode);
  mGrid->setResizeMode(QListView::Adjust);
  mGrid->setMovement(QListView::Static);
  mGrid->setUniformItemSizes(true);
  mGrid->setIconSize(QSize(mThumbnails->thumbnailSize(), mThumbnails->thumbnailSize()));
  mGrid->setGridSize(QSize(mThumbnails->thumbnailSize() + 64, mThumbnails->thumbnailSize() + 48));
  mGrid->setWordWrap(true);
  mBanner->setWordWrap(true);
  mBanner->setVisible(false);
  mBanner->setTextInteractionFlags(Qt::TextSelectableByMouse);
  mBanner->setStyleSheet(QStringLiteral(
      "QLabel { background: #fde2e1; color: #7a1410; border: 1px solid #e0a09c; padding: 8px; }"));
  mSummary->setWordWrap(true);
  mSummary->setText(tr("Open a model (Ctrl+O) and an image folder (Ctrl+Shift+O), drop them "
                       "here, or open the demo (Ctrl+D)."));
  auto* central = new QWidget;
  auto* layout = new QVBoxLayout(central);
  layout->addWidget(mBanner);
  layout->addWidget(mSummary);
  layout->addWidget(mGrid, 1);
  setCentralWidget(central);
  statusBar()->addWidget(new JobPanel(mWorkbench.runner()), 1);
  buildMenus();
  buildToolBar();
  connect(&mWorkbench, &app::Workbench::changed, this,
          [this](app::Workbench::Change c) { onChanged(static_cast<int>(c)); });
  connect(&mWorkbench, &app::Workbench::error, this, &MainWindow::showError);
  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  if (!settings.contains("window/geometry")) resize(1280, 860);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Open &Model…"), QKeySequence::Open, this, &MainWindow::chooseModel);
  file->addAction(tr("Open &Images…"), QKeySequence(tr("Ctrl+Shift+O")), this,
                  &MainWindow::chooseImages);
  file->addAction(tr("Open &Demo (Fashion-MNIST)"), QKeySequence(tr("Ctrl+D")), &mWorkbench,
                  &app::Workbench::openDemo);
  mRecentModels = file->addMenu(tr("Recent Models"));
  mRecentImages = file->addMenu(tr("Recent Image Folders"));
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  QMenu* run = menuBar()->addMenu(tr("&Run"));
  run->addAction(tr("&Extract Activations"), QKeySequence(Qt::Key_F5), &mWorkbench,
                 &app::Workbench::extract);
  run->addAction(tr("&Cancel"), QKeySequence(Qt::Key_Escape), &mWorkbench,
                 &app::Workbench::cancel);
  rebuildRecentMenus();
}

void MainWindow::buildToolBar() {
  QToolBar* bar = addToolBar(tr("Main"));
  bar->setObjectName("mainToolBar");
  bar->addAction(tr("Open Model"), this, &MainWindow::chooseModel);
  bar->addAction(tr("Open Images"), this, &MainWindow::chooseImages);
  bar->addAction(tr("Demo"), &mWorkbench, &app::Workbench::openDemo);
  bar->addSeparator();
  bar->addWidget(new QLabel(tr(" Layer: ")));
  mLayer->setMinimumContentsLength(12);
  mLayer->setToolTip(tr("The layer whose activations are extracted and explored"));
  bar->addWidget(mLayer);
  bar->addAction(tr("Extract"), &mWorkbench, &app::Workbench::extract);
  connect(mLayer, &QComboBox::textActivated, &mWorkbench, &app::Workbench::setLayer);
}

void MainWindow::onChanged(int what) {
  auto change = static_cast<app::Workbench::Change>(what);
  mBanner->setVisible(false);
  if (change == app::Workbench::Change::Model) {
    QSignalBlocker block(mLayer);
    mLayer->clear();
    mLayer->addItems(mWorkbench.layerNames());
    mLayer->setCurrentText(mWorkbench.layer());
    remember(kRecentModels, mWorkbench.modelPath());
    if (!mPendingImages.isEmpty()) openImages(std::exchange(mPendingImages, QString()));
  }
  if (change == app::Workbench::Change::Images) {
    QFileInfo info(mWorkbench.imagesSpec());
    if (info.isDir()) remember(kRecentImages, mWorkbench.imagesSpec());
  }
  if ((change == app::Workbench::Change::Images || change == app::Workbench::Change::Model) &&
      mWorkbench.images() && mWorkbench.model())
    mThumbnails->setImages(mWorkbench.images(), mWorkbench.model()->meta().input);
  if (change == app::Workbench::Change::Activations)
    mThumbnails->setActivations(mWorkbench.activations());
  updateSummary();
}

void MainWindow::updateSummary() {
  QStringList parts;
  if (auto m = mWorkbench.model())
    parts << tr("<b>Model</b> %1 (%2 classes, device %3)")
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
    parts << tr("<b>Layer</b> %1: %2 × %3 × %4 × %5 activations%6")
                 .arg(QString::fromStdString(c->layer()))
                 .arg(shape[0]).arg(shape[1]).arg(shape[2]).arg(shape[3]).arg(acc);
  }
  if (!parts.isEmpty()) mSummary->setText(parts.join(QStringLiteral(" &nbsp;·&nbsp; ")));
}

void MainWindow::showError(const QString& message) {
  mBanner->setText(message);
  mBanner->setVisible(true);
}

void MainWindow::chooseModel() {
  QString path = QFileDialog::getOpenFileName(this, tr("Open ConceptScope model"), {},
                                              tr("TorchScript models (*.pt *.pth);;All files (*)"));
  if (!path.isEmpty()) openModel(path);
}

void MainWindow::chooseImages() {
  QString dir = QFileDialog::getExistingDirectory(this, tr("Open image folder"));
  if (!dir.isEmpty()) openImages(dir);
}

void MainWindow::openModel(const QString& path) { mWorkbench.openModel(path); }
void MainWindow::openImages(const QString& path) { mWorkbench.openImages(path); }

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
  auto fill = [&](QMenu* menu, const char* key, auto open) {
    menu->clear();
    const QStringList list = settings.value(key).toStringList();
    for (const QString& p : list) menu->addAction(p, this, [this, p, open] { (this->*open)(p); });
    menu->setEnabled(!list.isEmpty());
  };
  fill(mRecentModels, kRecentModels, &MainWindow::openModel);
  fill(mRecentImages, kRecentImages, &MainWindow::openImages);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  // A folder is an image folder, a file is a model; the model first, so the images then extract.
  QString model, images;
  for (const QUrl& url : event->mimeData()->urls()) {
    QFileInfo info(url.toLocalFile());
    if (info.isDir()) images = info.absoluteFilePath();
    else if (info.isFile()) model = info.absoluteFilePath();
  }
  if (!model.isEmpty()) {
    mPendingImages = images;  // opened once the model has loaded
    openModel(model);
  } else if (!images.isEmpty()) {
    openImages(images);
  }
  event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  mWorkbench.cancel();
  QSettings().setValue("window/geometry", saveGeometry());
  event->accept();
}

}  // namespace cs::ui

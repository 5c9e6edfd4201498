#include "tcav_panel.h"

#include <cmath>

#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <functional>

#include "tcav_chart.h"
#include "workbench.h"

namespace dx::ui {
namespace {

// A folder list with Add… and Remove below it.
QWidget* folderList(QListWidget* list, const QString& tip, QWidget* owner,
                    const std::function<void()>& add, const std::function<void()>& changed) {
  list->setToolTip(tip);
  list->setSelectionMode(QAbstractItemView::ExtendedSelection);
  list->setMinimumHeight(70);
  // Long paths: keep the folder's own name (the concept's name) in view, the full path as tip.
  list->setTextElideMode(Qt::ElideLeft);
  list->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* addButton = new QPushButton(QObject::tr("Add…"));
  auto* remove = new QPushButton(QObject::tr("Remove"));
  QObject::connect(addButton, &QPushButton::clicked, owner, add);
  QObject::connect(remove, &QPushButton::clicked, owner, [list, changed] {
    qDeleteAll(list->selectedItems());
    changed();
  });
  auto* box = new QWidget;
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(list);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(addButton);
  buttons->addWidget(remove);
  buttons->addStretch();
  layout->addLayout(buttons);
  return box;
}

void addPath(QListWidget* list, const QString& path) {
  auto* item = new QListWidgetItem(path, list);
  item->setToolTip(path);
}

QStringList texts(const QListWidget* list) {
  QStringList out;
  for (int i = 0; i < list->count(); ++i) out << list->item(i)->text();
  return out;
}

}  // namespace

TcavPanel::TcavPanel(app::Workbench& workbench, QWidget* parent)
    : QWidget(parent), mWorkbench(workbench), mLayer(new QComboBox), mClass(new QComboBox),
      mSelect(new QComboBox), mConcepts(new QListWidget), mDraws(new QRadioButton),
      mFolders(new QRadioButton), mSetSize(new QSpinBox), mRandoms(new QListWidget),
      mRuns(new QSpinBox), mClassifier(new QComboBox), mSpatial(new QCheckBox),
      mClassToken(new QCheckBox), mRelative(new QCheckBox),
      mSeed(new QSpinBox),
      mRun(new QPushButton(tr("Run TCAV"))), mHint(new QLabel), mChart(new QChartView),
      mTable(new QTableWidget(0, 5)), mNotes(new QLabel), mMapKind(new QComboBox),
      mShowMap(new QPushButton(tr("Show SACV map in the image view"))) {
  auto* splitter = new QSplitter;
  splitter->addWidget(buildSettings());
  splitter->addWidget(buildResults());
  splitter->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(splitter);

  connect(mRun, &QPushButton::clicked, this, [this] { mWorkbench.runTcav(request()); });
  connect(mShowMap, &QPushButton::clicked, this, [this] {
    Q_EMIT sacvMapRequested(std::max(0, mTable->currentRow()), mMapKind->currentIndex() == 1);
  });
  connect(&mWorkbench, &app::Workbench::changed, this, [this](app::Workbench::Change c) {
    if (c == app::Workbench::Change::Model) fillModel();
    if (c == app::Workbench::Change::Layer) mLayer->setCurrentText(mWorkbench.layer());
    if (c == app::Workbench::Change::Tcav || c == app::Workbench::Change::Model) showReport();
    updateRunnable();
  });
  auto& runner = mWorkbench.runner();
  connect(&runner, &app::JobRunner::started, this, [this] { updateRunnable(); });
  connect(&runner, &app::JobRunner::finished, this, [this] { updateRunnable(); });
  connect(&runner, &app::JobRunner::failed, this, [this] { updateRunnable(); });
  connect(&runner, &app::JobRunner::cancelled, this, [this] { updateRunnable(); });
  fillModel();
  showReport();
  updateRunnable();
}

QWidget* TcavPanel::buildSettings() {
  mLayer->setToolTip(tr("Layer whose activations the CAVs live in. SACV maps in the Image tab "
                        "need the project's layer (tool bar); the last layer of most CNNs gives "
                        "every image the same gradient, so pick an earlier one."));
  mSelect->addItem(tr("labelled, else predicted"), QString());
  mSelect->addItem(tr("labelled (sub-folder)"), QStringLiteral("labelled"));
  mSelect->addItem(tr("predicted by the model"), QStringLiteral("predicted"));
  mSelect->setToolTip(tr("Which of the project's images are the class's images"));
  mDraws->setText(tr("Random draws from the project's images"));
  mDraws->setChecked(true);
  mDraws->setToolTip(tr("Each run draws a set from the project's images, disjoint while there are "
                        "enough. The class's images may be drawn, as random ImageNet images in "
                        "the paper include every class."));
  mFolders->setText(tr("Random folders (one per run)"));
  mSetSize->setRange(2, 5000);
  mSetSize->setValue(50);
  mSetSize->setToolTip(tr("Images per random set (Kim et al. use about 50)"));
  mRuns->setRange(2, 500);
  mRuns->setValue(10);
  mRuns->setToolTip(tr("Runs, each with its own random set; the t-test compares the concept's "
                       "scores with as many independent random-vs-random scores (two more "
                       "random sets each)"));
  for (const auto& name : tcavClassifierNames()) mClassifier->addItem(QString::fromStdString(name));
  mClassifier->setToolTip(tr("CAV classifier: logistic regression (sklearn's), a linear SVM by "
                             "SGD (the official code), or the difference of means (fast)"));
  mSpatial->setText(tr("SACV: score concept positions"));
  mSpatial->setToolTip(tr("Train CAVs on spatial positions and score the share of the class "
                          "images' concept positions that push the class (Wang & Lee 2022)"));
  mClassToken->setText(tr("On the class token (transformer layers)"));
  mClassToken->setToolTip(tr("Train the CAVs on each image's class token, an image-level "
                             "vector, and take the class's derivatives with respect to it, its "
                             "patches held; for layers after which the classifier reads the "
                             "class token. No SACV maps."));
  mRelative->setText(tr("Relative CAVs: each pair of concepts, A against B"));
  mRelative->setToolTip(tr("Besides concept vs random, train each concept folder against each "
                           "other one (needs two or more concept folders)"));
  mSeed->setRange(0, 1000000);
  mHint->setWordWrap(true);
  mHint->setForegroundRole(QPalette::PlaceholderText);

  auto refresh = [this] { updateRunnable(); };
  auto* form = new QFormLayout;
  form->addRow(tr("Layer"), mLayer);
  form->addRow(tr("Class"), mClass);
  form->addRow(tr("Class images"), mSelect);
  form->addRow(tr("Concept folders"),
               folderList(mConcepts, tr("One folder of example images per concept"), this,
                          [this] { addFolder(mConcepts); }, refresh));
  form->addRow(mDraws);
  form->addRow(tr("Images per set"), mSetSize);
  form->addRow(mFolders);
  form->addRow(folderList(mRandoms, tr("Folders of random images, one per run"), this,
                          [this] { addFolder(mRandoms); }, refresh));
  form->addRow(tr("Runs"), mRuns);
  form->addRow(tr("Classifier"), mClassifier);
  form->addRow(mSpatial);
  form->addRow(mClassToken);
  form->addRow(mRelative);
  form->addRow(tr("Seed"), mSeed);
  form->addRow(mRun);
  form->addRow(mHint);
  connect(mDraws, &QRadioButton::toggled, this, refresh);
  connect(mSpatial, &QCheckBox::toggled, this, refresh);
  connect(mClassToken, &QCheckBox::toggled, this, refresh);
  connect(mLayer, &QComboBox::currentTextChanged, this, refresh);
  auto* box = new QWidget;
  box->setLayout(form);
  box->setMinimumWidth(300);
  return box;
}

QWidget* TcavPanel::buildResults() {
  mChart->setRenderHint(QPainter::Antialiasing);
  mChart->setMinimumHeight(260);
  mTable->setHorizontalHeaderLabels(
      {tr("Concept"), tr("Score (mean ± std)"), tr("p-value"), tr("Significant"), tr("CAV acc.")});
  mTable->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  mTable->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  mTable->verticalHeader()->hide();
  mTable->setSelectionBehavior(QAbstractItemView::SelectRows);
  mTable->setSelectionMode(QAbstractItemView::SingleSelection);
  mTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
  mNotes->setWordWrap(true);
  mMapKind->addItems({tr("relevance R (where the concept is)"),
                      tr("contribution S (how it pushes the class)")});
  mShowMap->setToolTip(tr("The selected concept's SACV map on the image shown in the Image tab "
                          "(same layer as the project's activations)"));
  auto* map = new QHBoxLayout;
  map->addWidget(mMapKind);
  map->addWidget(mShowMap);
  map->addStretch();
  auto* box = new QWidget;
  auto* layout = new QVBoxLayout(box);
  layout->addWidget(mChart, 3);
  layout->addWidget(mTable, 2);
  layout->addWidget(mNotes);
  layout->addLayout(map);
  return box;
}

void TcavPanel::fillModel() {
  mLayer->clear();
  mClass->clear();
  auto model = mWorkbench.model();
  if (!model) return;
  mLayer->addItems(mWorkbench.layerNames());
  mLayer->setCurrentText(mWorkbench.layer());
  for (const auto& c : model->meta().classes) mClass->addItem(QString::fromStdString(c));
}

void TcavPanel::addFolder(QListWidget* list) {
  QString dir = QFileDialog::getExistingDirectory(this, tr("Add a folder of images"));
  if (!dir.isEmpty() && list->findItems(dir, Qt::MatchExactly).isEmpty()) addPath(list, dir);
  updateRunnable();
}

void TcavPanel::setConceptFolders(const QStringList& dirs) {
  mConcepts->clear();
  for (const QString& d : dirs) addPath(mConcepts, d);
  updateRunnable();
}

void TcavPanel::setRandomFolders(const QStringList& dirs) {
  mRandoms->clear();
  for (const QString& d : dirs) addPath(mRandoms, d);
  (dirs.isEmpty() ? mDraws : mFolders)->setChecked(true);
  updateRunnable();
}

TcavRequest TcavPanel::request() const {
  TcavRequest r;
  r.layer = mLayer->currentText().toStdString();
  r.classIndex = mClass->currentIndex();
  r.select = mSelect->currentData().toString().toStdString();
  for (const QString& d : texts(mConcepts)) r.conceptDirs.push_back(d.toStdString());
  if (mFolders->isChecked())
    for (const QString& d : texts(mRandoms)) r.randomDirs.push_back(d.toStdString());
  r.randomSetSize = mSetSize->value();
  r.runs = mFolders->isChecked() ? 0 : mRuns->value();  // folders: one run per folder
  r.classifier = mClassifier->currentText().toStdString();
  r.spatial = mSpatial->isChecked();
  r.classToken = mClassToken->isEnabled() && mClassToken->isChecked();
  r.relative = mRelative->isChecked();
  r.seed = uint64_t(mSeed->value());
  return r;
}

bool TcavPanel::canRun() const { return mRun->isEnabled(); }

// Run is enabled only when the workbench would accept the study; the hint says what is missing.
void TcavPanel::updateRunnable() {
  const bool folders = mFolders->isChecked();
  mSetSize->setEnabled(!folders);
  mRuns->setEnabled(!folders);
  mRandoms->setEnabled(folders);
  QString why;
  if (!mWorkbench.model() || !mWorkbench.images())
    why = tr("Open a model and images first: the class's images come from the project.");
  else if (mConcepts->count() == 0)
    why = tr("Add a folder of example images for each concept.");
  else if (folders && mRandoms->count() < 2)
    why = tr("Add at least 2 random folders, or draw random sets from the project's images.");
  else if (mWorkbench.runner().busy())
    why = tr("Waiting for %1.").arg(mWorkbench.runner().title());
  mRun->setEnabled(why.isEmpty());
  mHint->setText(why);
  mShowMap->setEnabled(mWorkbench.tcavStudy() && mWorkbench.tcavStudy()->hasMaps());
  mClassToken->setEnabled(layerHasClassToken() && !mSpatial->isChecked());
  mSpatial->setEnabled(!(mClassToken->isEnabled() && mClassToken->isChecked()));
}

bool TcavPanel::layerHasClassToken() const {
  auto model = mWorkbench.model();
  if (!model) return false;
  const std::string name = mLayer->currentText().toStdString();
  for (const auto& layer : model->meta().layers)
    if (layer.name == name) return layer.classTokens > 0;
  return false;
}

void TcavPanel::showReport() {
  auto report = mWorkbench.tcavReport();
  QChart* old = mChart->chart();
  mChart->setChart(report ? tcavChart(*report, palette()) : new QChart);
  delete old;  // setChart releases the old chart without deleting it
  mTable->setRowCount(report ? int(report->concepts.size()) : 0);
  if (!report) {
    mNotes->setText(tr("Choose concept folders and a class, then Run: the scores appear here."));
    return;
  }
  QStringList notes{tr("%1 class images (%2); random baseline %3 ± %4 over %5 independent "
                       "random-vs-random runs; %6 runs per concept.")
                        .arg(report->classImages)
                        .arg(QString::fromStdString(report->classSelection))
                        .arg(report->randomMean, 0, 'f', 3)
                        .arg(report->randomStd, 0, 'f', 3)
                        .arg(report->randomScores.size())
                        .arg(report->runs)};
  for (const auto& n : report->notes) notes << QString::fromStdString(n);
  mNotes->setText(notes.join(QLatin1Char('\n')));
  for (int i = 0; i < int(report->concepts.size()); ++i) {
    const auto& c = report->concepts[size_t(i)];
    const QStringList cells = {
        QString::fromStdString(c.name),
        QStringLiteral("%1 ± %2").arg(c.mean, 0, 'f', 3).arg(c.std, 0, 'f', 3),
        std::isnan(c.pValue) ? tr("—") : QString::number(c.pValue, 'g', 3),
        c.nearChance            ? tr("near chance")
        : std::isnan(c.pValue)  ? tr("untested")
        : c.significant         ? tr("yes")
                                : tr("n.s."),
        QString::number(c.accuracyMean, 'f', 2)};
    for (int col = 0; col < cells.size(); ++col) {
      auto* item = new QTableWidgetItem(cells[col]);
      item->setToolTip(QString::fromStdString(c.folder));
      mTable->setItem(i, col, item);
    }
  }
  mTable->selectRow(0);
}

void TcavPanel::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) showReport();  // chart colours follow the theme
}

}  // namespace dx::ui

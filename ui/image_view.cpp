#include "image_view.h"

#include "project_document.h"

#include <QEvent>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "analysis/concept_session.h"
#include "heatmap_canvas.h"
#include "view_support.h"
#include "widget_export.h"

namespace dx::ui {

ImageView::ImageView(QWidget* parent)
    : QWidget(parent), mStack(new QStackedWidget), mPlaceholder(makePlaceholder({})),
      mFigure(new QWidget), mCaption(new QLabel), mCanvas(new HeatmapCanvas(mFigure)),
      mBar(new ColourBar(mFigure)), mPrediction(new QLabel), mOpacity(new QSlider(Qt::Horizontal)),
      mThreshold(new QSlider(Qt::Horizontal)), mThresholdValue(new QLabel),
      mConcepts(new QTableWidget(0, 2)) {
  mPrediction->setWordWrap(true);
  mPrediction->setTextFormat(Qt::RichText);
  mCaption->setWordWrap(true);
  mCaption->setVisible(false);
  connect(mCaption, &QLabel::linkActivated, this, [this] { clearExtraOverlay(); });
  auto* figure = new QVBoxLayout(mFigure);
  figure->addWidget(mCaption);
  auto* picture = new QHBoxLayout;
  picture->addWidget(mCanvas, 1);
  picture->addWidget(mBar);
  figure->addLayout(picture, 1);
  figure->addWidget(mPrediction);

  mOpacity->setRange(0, 100);
  mOpacity->setValue(60);
  mOpacity->setToolTip(tr("How strongly the concept map covers the image"));
  mThreshold->setRange(0, 100);
  mThreshold->setToolTip(tr("Hide map values below this share of the image's maximum"));
  mConcepts->setHorizontalHeaderLabels({tr("Concept"), tr("Strength")});
  mConcepts->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  mConcepts->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  mConcepts->verticalHeader()->hide();
  mConcepts->setMinimumWidth(260);  // room for a label formula beside its strength
  mConcepts->setWordWrap(false);
  mConcepts->setTextElideMode(Qt::ElideRight);
  mConcepts->setSelectionBehavior(QAbstractItemView::SelectRows);
  mConcepts->setEditTriggers(QAbstractItemView::NoEditTriggers);
  mConcepts->setToolTip(tr("Concepts present in this image, strongest first. Check them to "
                           "overlay their maps (at first the one that pushed the image most "
                           "toward its prediction); double-click one to open it."));

  auto* controls = new QWidget;
  auto* side = new QVBoxLayout(controls);
  auto* form = new QFormLayout;
  form->addRow(tr("Opacity"), mOpacity);
  auto* threshold = new QHBoxLayout;
  threshold->addWidget(mThreshold, 1);
  threshold->addWidget(mThresholdValue);
  form->addRow(tr("Threshold"), threshold);
  side->addLayout(form);
  side->addWidget(mConcepts, 1);

  auto* splitter = new QSplitter;
  splitter->addWidget(mFigure);
  splitter->addWidget(controls);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 2);
  mStack->addWidget(mPlaceholder);
  mStack->addWidget(splitter);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(mStack);

  connect(mOpacity, &QSlider::valueChanged, this,
          [this](int v) { mCanvas->setOpacity(v / 100.0); });
  connect(mThreshold, &QSlider::valueChanged, this, [this] { rebuildOverlay(); });
  connect(mConcepts, &QTableWidget::itemChanged, this, &ImageView::conceptItemChanged);
  connect(mConcepts, &QTableWidget::itemDoubleClicked, this, [this](QTableWidgetItem* item) {
    Q_EMIT conceptActivated(mConcepts->item(item->row(), 0)->data(Qt::UserRole).toInt());
  });
  setSession(nullptr);
}

ImageView::~ImageView() = default;

void ImageView::setDocument(app::ProjectDocument* document) {
  followConcepts(this, document, [this, document] { setSession(document->concepts()); },
                 [this] {
                   if (mSession && mImage >= 0) fillConceptTable();
                 });
}

void ImageView::setSession(std::shared_ptr<const ConceptSession> session) {
  mSession = std::move(session);
  mChecked.clear();
  mExtra.clear();
  mImage = -1;
  mPlaceholder->setText(mSession ? tr("Choose an image to see where its concepts are.")
                                 : tr("No concepts yet: discover concepts or open a concept set "
                                      "to see them on the images."));
  mStack->setCurrentWidget(mPlaceholder);
}

void ImageView::showImage(qint64 row) {
  if (!mSession || row < 0 || size_t(row) >= mSession->images()) {
    mImage = -1;
    mStack->setCurrentWidget(mPlaceholder);
    return;
  }
  mImage = row;
  mExtra.clear();  // it was the previous image's map
  QImage base = imageFromMat(mSession->image(size_t(row)));
  if (base.isNull()) {  // images not opened: the map alone on neutral grey still says where
    base = QImage(mSession->inputWidth(), mSession->inputHeight(), QImage::Format_RGB32);
    base.fill(QColor(128, 128, 128));
  }
  mCanvas->setBase(base);
  fillConceptTable();
  fillPrediction();
  rebuildOverlay();
  mStack->setCurrentIndex(1);
}

std::vector<int> ImageView::selectedConcepts() const {
  std::vector<int> out(mChecked.begin(), mChecked.end());
  std::sort(out.begin(), out.end());
  return out;
}

void ImageView::setSelectedConcepts(const std::vector<int>& concepts) {
  mChecked = QSet<int>(concepts.begin(), concepts.end());
  mExtra.clear();
  if (!mSession || mImage < 0) return;
  fillConceptTable();
  rebuildOverlay();
}

void ImageView::fillConceptTable() {
  const std::vector<float> strengths = mSession->strengths(size_t(mImage));
  std::vector<int> shown;
  for (int c = 0; c < int(strengths.size()); ++c)
    if (strengths[size_t(c)] > 0 || mChecked.contains(c)) shown.push_back(c);
  std::stable_sort(shown.begin(), shown.end(),
                   [&](int a, int b) { return strengths[size_t(a)] > strengths[size_t(b)]; });
  const int64_t predicted = mSession->predictedClass(size_t(mImage));
  if (mChecked.isEmpty() && !shown.empty() && strengths[size_t(shown[0])] > 0) {
    // First map: the concept that pushed the image most toward its prediction ("why this
    // class?"); the strongest one can be a concept present everywhere, such as the background.
    const std::vector<int> pushing = mSession->conceptsPushingTowards(size_t(mImage), predicted, 1);
    mChecked.insert(pushing.empty() ? shown[0] : pushing[0]);
  }
  QSignalBlocker block(mConcepts);  // itemChanged would rebuild the overlay once per row
  mConcepts->setRowCount(int(shown.size()));
  for (int r = 0; r < int(shown.size()); ++r) {
    const int c = shown[size_t(r)];
    const ConceptInfo& info = mSession->concept(c);
    auto* name = new QTableWidgetItem(conceptName(*mSession, c));
    name->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable);
    name->setCheckState(mChecked.contains(c) ? Qt::Checked : Qt::Unchecked);
    name->setData(Qt::UserRole, c);
    QString tip = tr("present in %1% of the images").arg(info.imageFraction * 100, 0, 'f', 1);
    if (predicted >= 0 && size_t(predicted) < info.influence.size())
      tip += tr("\ninfluence on %1: %2")
                 .arg(className(*mSession, predicted))
                 .arg(info.influence[size_t(predicted)], 0, 'g', 3);
    const float s = strengths[size_t(c)];
    auto* strength = new QTableWidgetItem(QString::number(s, 'f', 3));
    strength->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    if (!(s > 0)) {  // kept because it is checked, greyed because it is absent here
      tip += tr("\nnot present in this image");
      name->setForeground(palette().color(QPalette::PlaceholderText));
      strength->setForeground(palette().color(QPalette::PlaceholderText));
    }
    name->setToolTip(tip);
    strength->setToolTip(tip);
    mConcepts->setItem(r, 0, name);
    mConcepts->setItem(r, 1, strength);
  }
}

void ImageView::fillPrediction() {
  const size_t i = size_t(mImage);
  const int64_t truth = mSession->trueClass(i), predicted = mSession->predictedClass(i);
  const std::vector<float> p = mSession->probabilities(i);
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  const bool known = truth >= 0;
  const QColor colour = !known ? palette().color(QPalette::WindowText)
                               : truth == predicted ? goodColour(palette()) : badColour(palette());
  QString text = tr("True: <b>%1</b> &nbsp; Predicted: <b style=\"color:%2\">%3</b>")
                     .arg(known ? className(*mSession, truth).toHtmlEscaped() : tr("unknown"),
                          colour.name(), className(*mSession, predicted).toHtmlEscaped());
  QStringList top;
  for (size_t r = 0; r < std::min<size_t>(3, order.size()); ++r)
    top << QStringLiteral("%1 %2%").arg(className(*mSession, int64_t(order[r])).toHtmlEscaped())
               .arg(p[order[r]] * 100, 0, 'f', 1);
  mPrediction->setText(text + QStringLiteral("<br>") + top.join(QStringLiteral(" · ")));
  mPrediction->setToolTip(QString::fromStdString(mSession->imageName(i)));
}

void ImageView::setExtraOverlay(const QString& name, std::vector<float> map, int h, int w) {
  if (h <= 0 || w <= 0 || map.size() != size_t(h) * size_t(w)) return clearExtraOverlay();
  mExtra = std::move(map);
  mExtraH = h;
  mExtraW = w;
  mCaption->setText(tr("<b>%1</b> &nbsp; red above 0, blue below &nbsp; "
                       "<a href=\"concepts\">show the concept maps</a>")
                        .arg(name.toHtmlEscaped()));
  rebuildOverlay();
}

void ImageView::clearExtraOverlay() {
  mExtra.clear();
  rebuildOverlay();
}

void ImageView::rebuildOverlay() {
  const bool extra = !mExtra.empty();
  mCaption->setVisible(extra);
  mCanvas->setDiverging(extra);
  mBar->setDiverging(extra);
  if (!mSession || mImage < 0) return;
  const int h = mSession->mapHeight(), w = mSession->mapWidth();
  cv::Mat combined;
  if (extra) combined = cv::Mat(mExtraH, mExtraW, CV_32F, mExtra.data()).clone();
  for (int c : mChecked) {  // several concepts: where any of them is present, the strongest
    if (extra) break;
    if (c < 0 || c >= mSession->concepts()) continue;
    std::vector<float> map = mSession->conceptMap(size_t(mImage), c);
    if (map.size() != size_t(h) * size_t(w) || map.empty()) continue;
    cv::Mat m(h, w, CV_32F, map.data());
    if (combined.empty()) combined = m.clone();
    else combined = cv::max(combined, m);
  }
  double min = 0, max = 0;
  if (!combined.empty()) cv::minMaxLoc(combined, &min, &max);
  if (extra) max = std::max(std::abs(min), std::abs(max));  // signed: one scale both ways
  const double threshold = max * mThreshold->value() / 100.0;
  mThresholdValue->setText(QString::number(threshold, 'g', 3));
  mCanvas->setThreshold(threshold);
  mCanvas->setMap(combined, float(max));
  mBar->setRange(float(max), threshold);
}

void ImageView::conceptItemChanged(QTableWidgetItem* item) {
  if (item->column() != 0) return;
  const int c = item->data(Qt::UserRole).toInt();
  if (item->checkState() == Qt::Checked) mChecked.insert(c);
  else mChecked.remove(c);
  mExtra.clear();  // choosing concepts asks for their maps
  rebuildOverlay();
}

void ImageView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  // The right/wrong colours and greyed rows are picked for the palette: redo them on a switch.
  if (event->type() == QEvent::PaletteChange && mSession && mImage >= 0) {
    fillConceptTable();
    fillPrediction();
  }
}

bool ImageView::exportImage(const QString& path) {
  if (mStack->currentIndex() != 1) return false;
  return exportWidget(mFigure, path);
}

}  // namespace dx::ui

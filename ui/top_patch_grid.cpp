#include "top_patch_grid.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>

#include "patch_image_cache.h"
#include "view_support.h"

namespace dx::ui {
namespace {
constexpr int kGap = 8;
}  // namespace

TopPatchGrid::TopPatchGrid(PatchImageCache& images, QWidget* parent)
    : QWidget(parent), mImages(images) {
  setMouseTracking(true);
  QSizePolicy policy(QSizePolicy::Preferred, QSizePolicy::Preferred);
  policy.setHeightForWidth(true);
  setSizePolicy(policy);
  connect(&mImages, &PatchImageCache::ready, this, qOverload<>(&QWidget::update));
}

void TopPatchGrid::setSession(std::shared_ptr<const ConceptSession> session) {
  mSession = std::move(session);
  setPatches({}, 0);
}

void TopPatchGrid::setPatches(std::vector<TopPatchInfo> patches, int firstRank) {
  mPatches = std::move(patches);
  mFirstRank = firstRank;
  mHovered = -1;
  updateGeometry();
  update();
}

int TopPatchGrid::columns(int width) const {
  return std::max(1, (width - kGap) / (kTile + kGap));
}

QSize TopPatchGrid::sizeHint() const {
  int w = kGap + 6 * (kTile + kGap);
  return {w, heightForWidth(w)};
}

int TopPatchGrid::heightForWidth(int width) const {
  int n = std::max<int>(1, static_cast<int>(mPatches.size()));
  int rows = (n + columns(width) - 1) / columns(width);
  return kGap + rows * (kTile + fontMetrics().height() + kGap);
}

QRect TopPatchGrid::tileRect(int i) const {
  int c = columns(width());
  int rowHeight = kTile + fontMetrics().height() + kGap;
  return {kGap + (i % c) * (kTile + kGap), kGap + (i / c) * rowHeight, kTile, kTile};
}

int TopPatchGrid::tileAt(const QPoint& pos) const {
  for (int i = 0; i < static_cast<int>(mPatches.size()); ++i)
    if (tileRect(i).contains(pos)) return i;
  return -1;
}

void TopPatchGrid::paintEvent(QPaintEvent*) {
  QPainter p(this);
  if (mPatches.empty() || !mSession) {
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(rect(), Qt::AlignCenter, tr("No top patches"));
    return;
  }
  for (int i = 0; i < static_cast<int>(mPatches.size()); ++i) paintTile(p, i);
}

void TopPatchGrid::paintTile(QPainter& p, int i) {
  const TopPatchInfo& t = mPatches[size_t(i)];
  QRect tile = tileRect(i);
  QPixmap pix = mImages.fullImage(t.image, kTile, devicePixelRatioF());
  // The image keeps its aspect ratio inside the tile; the box is mapped from the network input
  // (where patchBox() lives) onto the drawn image.
  QSizeF input(std::max(1, mSession->inputWidth()), std::max(1, mSession->inputHeight()));
  QSizeF drawn = input.scaled(QSizeF(tile.size()), Qt::KeepAspectRatio);
  QRectF target(QPointF(0, 0), drawn);
  target.moveCenter(QRectF(tile).center());
  if (pix.isNull())
    p.fillRect(target, palette().color(QPalette::Midlight));  // still decoding
  else
    p.drawPixmap(target, pix, QRectF(pix.rect()));
  cv::Rect b = mSession->patchBox(t.row, t.col);
  double s = drawn.width() / input.width();
  QRectF box(target.left() + b.x * s, target.top() + b.y * s, b.width * s, b.height * s);
  p.setRenderHint(QPainter::Antialiasing);
  p.setBrush(Qt::NoBrush);
  p.setPen(QPen(QColor(0, 0, 0, 200), 3.5));  // dark halo: the box reads on light and dark images
  p.drawRect(box);
  p.setPen(QPen(QColor(255, 200, 0), 1.8));
  p.drawRect(box);
  if (i == mHovered) {
    p.setPen(QPen(palette().color(QPalette::Highlight), 2));
    p.drawRect(QRectF(tile).adjusted(-2, -2, 2, 2));
  }
  p.setPen(palette().color(QPalette::WindowText));
  QRect caption(tile.left(), tile.bottom() + 1, tile.width(), fontMetrics().height());
  p.drawText(caption, Qt::AlignHCenter | Qt::AlignTop,
             tr("#%1  score %2").arg(mFirstRank + i + 1).arg(double(t.score), 0, 'g', 3));
}

QString TopPatchGrid::tooltip(int i) const {
  const TopPatchInfo& t = mPatches[size_t(i)];
  auto image = static_cast<size_t>(t.image);
  int64_t truth = mSession->trueClass(image), predicted = mSession->predictedClass(image);
  std::vector<float> prob = mSession->probabilities(image);
  double p = predicted >= 0 && size_t(predicted) < prob.size() ? prob[size_t(predicted)] : 0.0;
  QString tip = tr("%1\nscore %2 (map row %3, column %4)\ntrue: %5\npredicted: %6 (%7%)")
                    .arg(QString::fromStdString(mSession->imageName(image)))
                    .arg(double(t.score), 0, 'g', 3)
                    .arg(t.row)
                    .arg(t.col)
                    .arg(className(*mSession, truth), className(*mSession, predicted))
                    .arg(100 * p, 0, 'f', 0);
  if (truth >= 0 && truth != predicted) tip += tr("\nmisclassified");
  return tip + tr("\nClick to open the image");
}

bool TopPatchGrid::event(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    int i = mSession ? tileAt(help->pos()) : -1;
    if (i >= 0)
      QToolTip::showText(help->globalPos(), tooltip(i), this, tileRect(i));
    else
      QToolTip::hideText();
    return true;
  }
  return QWidget::event(event);
}

void TopPatchGrid::mouseMoveEvent(QMouseEvent* event) {
  int i = tileAt(event->position().toPoint());
  if (i == mHovered) return;
  mHovered = i;
  setCursor(i >= 0 ? Qt::PointingHandCursor : Qt::ArrowCursor);
  update();
}

void TopPatchGrid::leaveEvent(QEvent*) {
  mHovered = -1;
  update();
}

void TopPatchGrid::mouseReleaseEvent(QMouseEvent* event) {
  int i = tileAt(event->position().toPoint());
  if (event->button() == Qt::LeftButton && i >= 0) Q_EMIT imageActivated(mPatches[size_t(i)].image);
}

}  // namespace dx::ui

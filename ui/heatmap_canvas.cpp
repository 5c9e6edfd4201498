#include "heatmap_canvas.h"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "concept_charts.h"
#include "view_support.h"

namespace dx::ui {
namespace {
const int kTinyImage = 64;  // up to this size pixels are shown as crisp blocks (MNIST-like)

QRgb blend(QRgb under, QRgb over, double alpha) {
  auto mix = [alpha](int a, int b) { return int(a + (b - a) * alpha + 0.5); };
  return qRgb(mix(qRed(under), qRed(over)), mix(qGreen(under), qGreen(over)),
              mix(qBlue(under), qBlue(over)));
}
}  // namespace

HeatmapCanvas::HeatmapCanvas(QWidget* parent) : QWidget(parent) {
  setMinimumSize(160, 160);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setMouseTracking(true);  // the tooltip follows the pointer with the map's value
}

void HeatmapCanvas::setBase(QImage base) { mBase = std::move(base); invalidate(); }

void HeatmapCanvas::setMap(cv::Mat map, float max) {
  mMap = std::move(map);
  mMax = max;
  invalidate();
}

void HeatmapCanvas::setOpacity(double opacity) { mOpacity = opacity; invalidate(); }
void HeatmapCanvas::setThreshold(double threshold) { mThreshold = threshold; invalidate(); }
void HeatmapCanvas::setDiverging(bool on) { mDiverging = on; invalidate(); }

// Recomposing on the next paint (not here) lets a slider drag coalesce into one composition.
void HeatmapCanvas::invalidate() {
  mShown = {};
  update();
}

bool HeatmapCanvas::tiny() const { return std::max(mBase.width(), mBase.height()) <= kTinyImage; }

// Aspect-preserving fit; tiny images get a whole-number zoom so every pixel is the same size.
QRect HeatmapCanvas::shownRect() const {
  if (mBase.isNull()) return {};
  const double dpr = devicePixelRatioF();
  double scale = std::min(width() * dpr / mBase.width(), height() * dpr / mBase.height());
  if (tiny() && scale >= 1) scale = std::floor(scale);
  QRect rect(QPoint(0, 0), (QSizeF(mBase.size()) * (scale / dpr)).toSize());
  rect.moveCenter(this->rect().center());
  return rect;
}

void HeatmapCanvas::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  const QRect target = shownRect();
  if (target.isEmpty()) return;
  const QSize device = (QSizeF(target.size()) * devicePixelRatioF()).toSize();
  if (mShown.size() != device) compose(device);
  painter.drawImage(target.topLeft(), mShown);
}

void HeatmapCanvas::compose(QSize device) {
  mShown = mBase.scaled(device, Qt::IgnoreAspectRatio,
                        tiny() ? Qt::FastTransformation : Qt::SmoothTransformation)
               .convertToFormat(QImage::Format_RGB32);
  if (!mMap.empty() && mMax > 0 && mOpacity > 0) {
    // Bilinear, as Network Dissection upsamples unit maps to the input before thresholding.
    cv::Mat heat;
    cv::resize(mMap, heat, cv::Size(mShown.width(), mShown.height()), 0, 0, cv::INTER_LINEAR);
    const float hidden = float(std::max(0.0, mThreshold));  // <= 0 means "absent" anyway
    for (int y = 0; y < mShown.height(); ++y) {
      auto* line = reinterpret_cast<QRgb*>(mShown.scanLine(y));
      const float* h = heat.ptr<float>(y);
      for (int x = 0; x < mShown.width(); ++x) {
        if (!mDiverging && h[x] > hidden)
          line[x] = blend(line[x], viridis(h[x] / mMax), mOpacity);
        else if (mDiverging && std::abs(h[x]) > hidden)
          line[x] = blend(line[x], influenceColor(h[x], mMax).rgb(), mOpacity);
      }
    }
  }
  mShown.setDevicePixelRatio(devicePixelRatioF());
}

void HeatmapCanvas::mouseMoveEvent(QMouseEvent* event) {
  const QRect target = shownRect();
  const QPoint p = event->position().toPoint();
  if (mMap.empty() || !target.contains(p)) return QToolTip::hideText();
  const int row = std::min(mMap.rows - 1, (p.y() - target.top()) * mMap.rows / target.height());
  const int col = std::min(mMap.cols - 1, (p.x() - target.left()) * mMap.cols / target.width());
  QToolTip::showText(event->globalPosition().toPoint(),
                     tr("map cell (%1, %2): %3")
                         .arg(row)
                         .arg(col)
                         .arg(double(mMap.at<float>(row, col)), 0, 'g', 3),
                     this);
}

ColourBar::ColourBar(QWidget* parent) : QWidget(parent) {
  setToolTip(tr("Colour scale of the concept map: 0 at the bottom, the image's maximum at the "
                "top; the line marks the threshold below which nothing is drawn."));
  setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Expanding);
}

void ColourBar::setRange(float max, double threshold) {
  mMax = max;
  mThreshold = threshold;
  update();
}

void ColourBar::setDiverging(bool on) {
  mDiverging = on;
  setToolTip(on ? tr("Colour scale of a signed map: red above 0, blue below, white near 0; the "
                     "lines mark the threshold: values closer to 0 are not drawn.")
                : tr("Colour scale of the concept map: 0 at the bottom, the image's maximum at "
                     "the top; the line marks the threshold below which nothing is drawn."));
  update();
}

QSize ColourBar::sizeHint() const {
  return {fontMetrics().horizontalAdvance(QStringLiteral("-0.000e+00")) + 24, 200};
}

void ColourBar::paintEvent(QPaintEvent*) {
  if (!(mMax > 0)) return;
  QPainter painter(this);
  const QFontMetrics fm = fontMetrics();
  const QRect bar(2, fm.height() / 2, 14, std::max(1, height() - fm.height()));
  for (int y = 0; y < bar.height(); ++y) {
    const double t = double(y) / std::max(1, bar.height() - 1);
    painter.fillRect(bar.left(), bar.bottom() - y, bar.width(), 1,
                     mDiverging ? influenceColor((2 * t - 1) * mMax, mMax) : QColor(viridis(t)));
  }
  painter.setPen(palette().color(QPalette::WindowText));
  painter.drawRect(bar.adjusted(0, 0, -1, -1));
  const int x = bar.right() + 4, centre = fm.ascent() / 2 - fm.descent() / 2;
  painter.drawText(x, bar.top() + centre, QString::number(double(mMax), 'g', 3));
  if (mDiverging) {
    painter.drawText(x, bar.center().y() + centre, QStringLiteral("0"));
    painter.drawText(x, bar.bottom() + centre, QString::number(-double(mMax), 'g', 3));
  } else {
    painter.drawText(x, bar.bottom() + centre, QStringLiteral("0"));
  }
  if (mThreshold > 0) {
    // Where a value sits on the bar: [0, max] or, diverging, [-max, max].
    auto yOf = [&](double v) {
      const double t = mDiverging ? (v / mMax + 1) / 2 : v / mMax;
      return bar.bottom() - int(t * bar.height());
    };
    painter.drawLine(bar.left() - 2, yOf(mThreshold), bar.right() + 2, yOf(mThreshold));
    if (mDiverging)
      painter.drawLine(bar.left() - 2, yOf(-mThreshold), bar.right() + 2, yOf(-mThreshold));
  }
}

}  // namespace dx::ui

#pragma once
// The two painted pieces of a concept heatmap figure: the image with a concept map laid over it
// and the colour bar that says what the colours mean. Kept apart from ImageView so other views
// (a concept's detail, exports) can draw the same figure.
#include <QImage>
#include <QWidget>
#include <opencv2/core.hpp>

namespace dx::ui {

// Shows `base` scaled to fit (whole-number nearest zoom for tiny images such as 28x28, smooth
// otherwise) with `map` (a CV_32F h x w concept map, > 0 where present) upsampled bilinearly to
// the shown size, coloured with viridis over [0, max], and drawn where it exceeds the threshold.
// A signed map (setDiverging, e.g. SACV relevance) is coloured blue < 0 < red over [-max, max]
// instead, the influence colours, and drawn where |value| exceeds the threshold.
// The overlay is composed in device pixels, so it is sharp on high-DPI screens.
class HeatmapCanvas : public QWidget {
  Q_OBJECT
 public:
  explicit HeatmapCanvas(QWidget* parent = nullptr);
  void setBase(QImage base);
  // `max` <= 0 or an empty map: no overlay.
  void setMap(cv::Mat map, float max);
  void setOpacity(double opacity);      // 0..1
  void setThreshold(double threshold);  // in map units; values <= it stay clear
  void setDiverging(bool on);
  QSize sizeHint() const override { return {420, 420}; }

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;

 private:
  void invalidate();
  bool tiny() const;
  QRect shownRect() const;
  void compose(QSize device);

  QImage mBase, mShown;  // mShown: base + overlay at the last painted device size
  cv::Mat mMap;
  float mMax = 0;
  double mOpacity = 0.6, mThreshold = 0;
  bool mDiverging = false;
};

// Vertical viridis strip from 0 (bottom) to max (top) with both values and a line at the
// threshold, in the palette's text colour. Empty while max <= 0. Diverging: -max (bottom) to
// max (top) in the canvas's signed colours, lines at -threshold and threshold.
class ColourBar : public QWidget {
  Q_OBJECT
 public:
  explicit ColourBar(QWidget* parent = nullptr);
  void setRange(float max, double threshold);
  void setDiverging(bool on);
  QSize sizeHint() const override;

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  float mMax = 0;
  double mThreshold = 0;
  bool mDiverging = false;
};

}  // namespace dx::ui

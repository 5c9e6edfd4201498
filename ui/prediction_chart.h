#pragma once
// Class probabilities of one image, twice side by side (before/after an edit), as horizontal
// bars: class names stay readable on the left however many letters they have. With many classes
// (ImageNet) only the most probable of either set are drawn, so the chart stays legible.
#include <QChartView>
#include <QStringList>
#include <vector>

class QBarCategoryAxis;
class QBarSet;
class QHorizontalBarSeries;
class QValueAxis;

namespace dx::ui {

class PredictionChart : public QChartView {
  Q_OBJECT
 public:
  explicit PredictionChart(QWidget* parent = nullptr);
  // The model's classes; drops the bars.
  void setClasses(const QStringList& classes);
  void setSeriesNames(const QString& first, const QString& second);
  // One probability (0..1) per class in each; `second` may be empty (only `first` drawn). Cheap
  // when the drawn classes stay the same (values replaced in place), so it can follow a slider.
  void setProbabilities(const std::vector<float>& first, const std::vector<float>& second);
  void clearBars();
  const std::vector<float>& first() const { return mFirst; }
  const std::vector<float>& second() const { return mSecond; }
  QSize sizeHint() const override { return {420, 320}; }
  QSize minimumSizeHint() const override { return {240, 240}; }  // ten readable bar labels

 protected:
  void changeEvent(QEvent* event) override;

 private:
  std::vector<int> pickClasses(const std::vector<float>& first,
                               const std::vector<float>& second) const;
  void applyPalette();
  void showTip(bool on, int index);

  QStringList mClasses;
  std::vector<int> mShown;  // class per bar row, bottom row first (Qt draws category 0 lowest)
  std::vector<float> mFirst, mSecond;
  QHorizontalBarSeries* mSeries;
  QBarSet* mFirstSet;
  QBarSet* mSecondSet;
  QBarCategoryAxis* mClassAxis;
  QValueAxis* mValueAxis;
};

}  // namespace dx::ui

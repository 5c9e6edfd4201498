#include "prediction_chart.h"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QCursor>
#include <QEvent>
#include <QHorizontalBarSeries>
#include <QToolTip>
#include <QValueAxis>
#include <algorithm>
#include <numeric>

#include "view_support.h"

namespace dx::ui {
namespace {
const int kMaxBars = 10;  // beyond this a class name per bar is no longer readable
}

PredictionChart::PredictionChart(QWidget* parent)
    : QChartView(parent), mSeries(new QHorizontalBarSeries), mFirstSet(new QBarSet({})),
      mSecondSet(new QBarSet({})), mClassAxis(new QBarCategoryAxis), mValueAxis(new QValueAxis) {
  setRenderHint(QPainter::Antialiasing);
  mSeries->append(mFirstSet);
  mSeries->append(mSecondSet);
  mSeries->setBarWidth(0.8);
  QChart* c = chart();
  c->addSeries(mSeries);
  c->addAxis(mClassAxis, Qt::AlignLeft);
  c->addAxis(mValueAxis, Qt::AlignBottom);
  mSeries->attachAxis(mClassAxis);
  mSeries->attachAxis(mValueAxis);
  // Qt Charts sizes the category axis before its labels exist and then elides them all to "...";
  // class names are short enough to be shown whole.
  mClassAxis->setTruncateLabels(false);
  mValueAxis->setRange(0, 100);
  mValueAxis->setLabelFormat(QStringLiteral("%d%"));
  mValueAxis->setTickCount(6);
  c->legend()->setAlignment(Qt::AlignBottom);
  c->setMargins(QMargins(4, 4, 4, 4));
  c->setAnimationOptions(QChart::NoAnimation);  // animations lag behind a dragged slider
  setSeriesNames(tr("original"), tr("edited"));
  setToolTip(tr("Class probabilities; hover a bar for its value"));
  connect(mSeries, &QHorizontalBarSeries::hovered, this,
          [this](bool on, int index, QBarSet*) { showTip(on, index); });
  applyPalette();
}

void PredictionChart::setClasses(const QStringList& classes) {
  mClasses = classes;
  clearBars();
}

void PredictionChart::setSeriesNames(const QString& first, const QString& second) {
  mFirstSet->setLabel(first);
  mSecondSet->setLabel(second);
}

void PredictionChart::clearBars() {
  mShown.clear();
  mFirst.clear();
  mSecond.clear();
  mFirstSet->remove(0, mFirstSet->count());
  mSecondSet->remove(0, mSecondSet->count());
  mClassAxis->clear();
}

// All classes in model order when few; otherwise the most probable of either set, so a class the
// edit pushes up appears as soon as it matters. Listed bottom-up, most probable (first) on top.
std::vector<int> PredictionChart::pickClasses(const std::vector<float>& first,
                                              const std::vector<float>& second) const {
  std::vector<int> order(first.size());
  std::iota(order.begin(), order.end(), 0);
  if (int(order.size()) <= kMaxBars) {
    std::reverse(order.begin(), order.end());
    return order;
  }
  auto peak = [&](int k) {
    return std::max(first[size_t(k)], second.empty() ? 0.f : second[size_t(k)]);
  };
  std::partial_sort(order.begin(), order.begin() + kMaxBars, order.end(),
                    [&](int a, int b) { return peak(a) > peak(b); });
  order.resize(kMaxBars);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return first[size_t(a)] < first[size_t(b)]; });
  return order;
}

void PredictionChart::setProbabilities(const std::vector<float>& first,
                                       const std::vector<float>& second) {
  if (first.size() != size_t(mClasses.size()) ||
      (!second.empty() && second.size() != first.size())) {
    clearBars();
    return;
  }
  std::vector<int> shown = pickClasses(first, second);
  if (shown != mShown) {  // rebuilding categories is the slow path: only when the rows change
    clearBars();
    mShown = std::move(shown);
    QStringList names;
    for (int k : mShown) names << mClasses[k];
    mClassAxis->append(names);
    for (int k : mShown) {
      mFirstSet->append(100.0 * first[size_t(k)]);
      mSecondSet->append(second.empty() ? 0.0 : 100.0 * second[size_t(k)]);
    }
  } else {
    for (int i = 0; i < int(mShown.size()); ++i) {
      const size_t k = size_t(mShown[size_t(i)]);
      mFirstSet->replace(i, 100.0 * first[k]);
      mSecondSet->replace(i, second.empty() ? 0.0 : 100.0 * second[k]);
    }
  }
  mFirst = first;
  mSecond = second;
}

void PredictionChart::showTip(bool on, int index) {
  if (!on || index < 0 || index >= int(mShown.size())) return QToolTip::hideText();
  const size_t k = size_t(mShown[size_t(index)]);
  QString text = QStringLiteral("%1\n%2: %3%").arg(mClasses[int(k)], mFirstSet->label())
                     .arg(100.0 * mFirst[k], 0, 'f', 1);
  if (!mSecond.empty())
    text += QStringLiteral("\n%1: %2%").arg(mSecondSet->label()).arg(100.0 * mSecond[k], 0, 'f', 1);
  QToolTip::showText(QCursor::pos(), text, this);
}

// Qt Charts has its own themes and ignores the widget palette; pick the matching theme, then
// take background and text from the palette so the chart sits in the window like other widgets.
void PredictionChart::applyPalette() {
  QChart* c = chart();
  const QPalette& p = palette();
  c->setTheme(isDark(p) ? QChart::ChartThemeDark : QChart::ChartThemeLight);
  c->setBackgroundBrush(p.color(QPalette::Base));
  c->setBackgroundRoundness(0);
  c->setTitleBrush(p.color(QPalette::Text));
  c->legend()->setLabelColor(p.color(QPalette::Text));
  for (QAbstractAxis* axis : {static_cast<QAbstractAxis*>(mClassAxis),
                              static_cast<QAbstractAxis*>(mValueAxis)}) {
    axis->setLabelsBrush(p.color(QPalette::Text));
    axis->setGridLineColor(p.color(QPalette::Mid));
    axis->setLinePenColor(p.color(QPalette::Mid));
  }
  const QColor neutral(140, 140, 140);  // mid grey reads on light and dark bases alike
  mFirstSet->setColor(neutral);  // neutral: what the network said
  mFirstSet->setBorderColor(neutral);
  mSecondSet->setColor(p.color(QPalette::Highlight));  // the eye goes to the edited result
  mSecondSet->setBorderColor(p.color(QPalette::Highlight));
  setBackgroundBrush(p.color(QPalette::Base));
}

void PredictionChart::changeEvent(QEvent* event) {
  QChartView::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) applyPalette();
}

}  // namespace dx::ui

#include "concept_charts.h"

#include <QAreaSeries>
#include <QLegendMarker>
#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QHorizontalStackedBarSeries>
#include <QLineSeries>
#include <QPalette>
#include <QPen>
#include <QScatterSeries>
#include <QValueAxis>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "analysis/concept_session.h"

namespace dx::ui {

namespace {
const QColor kRaises(202, 0, 32), kLowers(5, 113, 176), kNeutral(247, 247, 247);

QColor mix(const QColor& a, const QColor& b, double t) {
  return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * t),
                          float(a.greenF() + (b.greenF() - a.greenF()) * t),
                          float(a.blueF() + (b.blueF() - a.blueF()) * t));
}
}  // namespace

QColor influenceColor(double value, double extent) {
  if (!(extent > 0) || !std::isfinite(value)) return kNeutral;
  double t = std::clamp(value / extent, -1.0, 1.0);
  return t >= 0 ? mix(kNeutral, kRaises, t) : mix(kNeutral, kLowers, -t);
}

void styleChart(QChart* chart, const QPalette& palette) {
  QColor text = palette.color(QPalette::WindowText);
  QColor grid = palette.color(QPalette::Mid);
  grid.setAlpha(90);
  chart->setBackgroundBrush(palette.color(QPalette::Window));
  chart->setBackgroundRoundness(0);
  chart->setTitleBrush(text);
  chart->legend()->setLabelColor(text);
  for (QAbstractAxis* axis : chart->axes()) {
    axis->setLabelsBrush(text);
    axis->setTitleBrush(text);
    axis->setLinePenColor(palette.color(QPalette::Mid));
    axis->setGridLineColor(grid);
  }
}

namespace {

// Step outline of a histogram as a filled area.
QAreaSeries* histogramArea(const std::vector<int>& counts, double min, double width, QColor colour,
                           const QString& name) {
  auto* upper = new QLineSeries;  // each bin a flat top
  for (size_t b = 0; b < counts.size(); ++b) {
    upper->append(min + double(b) * width, counts[b]);
    upper->append(min + double(b + 1) * width, counts[b]);
  }
  auto* area = new QAreaSeries(upper);
  upper->setParent(area);  // QAreaSeries does not own its line series (found by LeakSanitizer)
  area->setName(name);
  area->setPen(QPen(colour, 1));
  colour.setAlpha(140);
  area->setBrush(colour);
  return area;
}

}  // namespace

QChart* strengthHistogram(const std::vector<float>& strengths, const QPalette& palette,
                          const std::vector<uint8_t>& positives, const QString& positiveName) {
  auto* chart = new QChart;
  chart->legend()->setVisible(false);
  if (strengths.empty()) {
    chart->setTitle(QObject::tr("Strength per image: not available"));
    styleChart(chart, palette);
    return chart;
  }
  auto [lo, hi] = std::minmax_element(strengths.begin(), strengths.end());
  double min = std::min(0.0, double(*lo)), max = std::max(0.0, double(*hi));
  if (max - min < 1e-9) max = min + 1;
  // sqrt(n) bins, bounded: enough shape for 100 images, no comb for 100 000.
  int bins = std::clamp(static_cast<int>(std::sqrt(double(strengths.size()))), 10, 60);
  // With an INVERT label, positives and negatives of its formula are drawn separately: a label
  // that explains the concept separates the two (docs/methods.md 2, AUC).
  const bool split = positives.size() == strengths.size();
  std::vector<int> counts(size_t(bins), 0), positiveCounts(size_t(bins), 0);
  for (size_t i = 0; i < strengths.size(); ++i) {
    size_t b = size_t(std::clamp(static_cast<int>((strengths[i] - min) / (max - min) * bins), 0, bins - 1));
    (split && positives[i] ? positiveCounts : counts)[b]++;
  }
  double width = (max - min) / bins;
  QColor main = split ? palette.color(QPalette::Mid) : palette.color(QPalette::Highlight);
  chart->addSeries(histogramArea(counts, min, width, main,
                                 split ? QObject::tr("images where it does not hold") : QString()));
  if (split) {
    chart->addSeries(histogramArea(positiveCounts, min, width, palette.color(QPalette::Highlight),
                                   QObject::tr("images where \"%1\" holds").arg(positiveName)));
    chart->legend()->setVisible(true);
    chart->legend()->setAlignment(Qt::AlignBottom);
  }
  int top = std::max(*std::max_element(counts.begin(), counts.end()),
                     *std::max_element(positiveCounts.begin(), positiveCounts.end()));
  auto* zero = new QLineSeries;
  zero->append(0, 0);
  zero->append(0, top * 1.05);
  zero->setPen(QPen(palette.color(QPalette::WindowText), 1, Qt::DashLine));
  chart->addSeries(zero);
  if (split) chart->legend()->markers(zero).first()->setVisible(false);

  auto* x = new QValueAxis;
  x->setRange(min, max);
  x->applyNiceNumbers();  // round ticks; also avoids a "-0.0" label at the centre
  x->setTitleText(QObject::tr("strength (max of w·x − b over the patches)"));
  auto* y = new QValueAxis;
  y->setRange(0, top * 1.05);
  y->applyNiceNumbers();
  y->setLabelFormat(QStringLiteral("%d"));
  y->setTitleText(QObject::tr("images"));
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  for (QAbstractSeries* s : chart->series()) {
    s->attachAxis(x);
    s->attachAxis(y);
  }
  auto present = std::count_if(strengths.begin(), strengths.end(), [](float s) { return s > 0; });
  chart->setTitle(QObject::tr("Strength per image: present (> 0) in %1 of %2 images")
                      .arg(present)
                      .arg(strengths.size()));
  styleChart(chart, palette);
  return chart;
}

namespace {
// Per class, the spread of the per-image logit change over the bar (bars sit at y = 0..n-1 of
// the category axis, so a hidden value axis -0.5..n-0.5 lines the ranges up with them).
void addPerImageRanges(QChart* chart, const ConceptInfo& info, const std::vector<size_t>& order,
                       QValueAxis* x, const QPalette& palette) {
  auto* y = new QValueAxis;
  y->setRange(-0.5, double(order.size()) - 0.5);
  y->setVisible(false);
  chart->addAxis(y, Qt::AlignRight);
  QColor ink = palette.color(QPalette::WindowText);
  auto* medians = new QScatterSeries;
  medians->setMarkerSize(6);
  medians->setColor(ink);
  medians->setBorderColor(ink);
  int row = 0;
  for (auto it = order.rbegin(); it != order.rend(); ++it, ++row) {
    if (*it >= info.influenceQuartiles.size()) continue;
    const auto& q = info.influenceQuartiles[*it];
    for (auto [from, to, width] : {std::tuple{q[0], q[4], 1}, std::tuple{q[1], q[3], 4}}) {
      auto* line = new QLineSeries;
      line->append(from, row);
      line->append(to, row);
      line->setPen(QPen(ink, width));
      chart->addSeries(line);
      line->attachAxis(x);
      line->attachAxis(y);
      for (QLegendMarker* m : chart->legend()->markers(line)) m->setVisible(false);
    }
    medians->append(q[2], row);
  }
  chart->addSeries(medians);
  medians->attachAxis(x);
  medians->attachAxis(y);
  for (QLegendMarker* m : chart->legend()->markers(medians)) m->setVisible(false);
}
}  // namespace

QChart* influenceChart(const ConceptInfo& info, const std::vector<std::string>& classes,
                       int maxBars, const QPalette& palette, int* shown) {
  auto* chart = new QChart;
  size_t k = std::min(info.influence.size(), classes.size());
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::fabs(info.influence[a]) > std::fabs(info.influence[b]);
  });
  order.resize(std::min(order.size(), size_t(std::max(0, maxBars))));
  if (shown) *shown = static_cast<int>(order.size());
  // Categories run bottom-up in a horizontal bar chart: append the weakest first so the
  // strongest class ends on top. One bar set per colour, stacked, so each class has one bar.
  auto* raises = new QBarSet(QObject::tr("marked, raises the logit"));
  auto* lowers = new QBarSet(QObject::tr("marked, lowers the logit"));
  auto* weak = new QBarSet(QObject::tr("not marked"));
  QStringList names;
  double extent = 1e-6;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    float v = info.influence[*it];
    bool sig = *it < info.significant.size() && info.significant[*it];
    // Category names must be unique (ImageNet has two "crane"s) and short enough to leave
    // room for the bars.
    QString name = QString::fromStdString(classes[*it]);
    if (name.size() > 28) name = name.left(27) + QChar(0x2026);
    if (names.contains(name)) name += QStringLiteral(" #%1").arg(*it);
    names << name;
    *raises << (sig && v > 0 ? v : 0.0);
    *lowers << (sig && v <= 0 ? v : 0.0);
    *weak << (sig ? 0.0 : v);
    extent = std::max(extent, std::fabs(double(v)));
    if (*it < info.influenceQuartiles.size())
      for (float q : info.influenceQuartiles[*it]) extent = std::max(extent, std::fabs(double(q)));
  }
  raises->setColor(kRaises);
  lowers->setColor(kLowers);
  QColor grey = palette.color(QPalette::Mid);
  weak->setColor(grey);
  for (QBarSet* set : {raises, lowers, weak}) set->setBorderColor(Qt::transparent);
  auto* series = new QHorizontalStackedBarSeries;
  series->append({raises, lowers, weak});
  series->setBarWidth(0.7);
  chart->addSeries(series);
  auto* y = new QBarCategoryAxis;
  y->append(names);
  y->setTruncateLabels(false);  // Qt Charts 6.4 elides them to "..." even when they fit
  auto* x = new QValueAxis;
  x->setRange(-extent * 1.1, extent * 1.1);  // symmetric: the sign is the message
  x->setTitleText(QObject::tr("logit change · bar: mean · line: per-image range · dot: median"));
  chart->addAxis(y, Qt::AlignLeft);
  chart->addAxis(x, Qt::AlignBottom);
  series->attachAxis(y);
  series->attachAxis(x);
  addPerImageRanges(chart, info, order, x, palette);
  chart->legend()->setAlignment(Qt::AlignBottom);
  styleChart(chart, palette);
  return chart;
}

}  // namespace dx::ui

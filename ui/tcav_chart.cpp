#include "tcav_chart.h"

#include <QAreaSeries>
#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QCursor>
#include <QLegendMarker>
#include <QLineSeries>
#include <QPalette>
#include <QScatterSeries>
#include <QStackedBarSeries>
#include <QToolTip>
#include <QValueAxis>
#include <algorithm>
#include <cmath>

#include "concept_charts.h"
#include "tcav/tcav_study.h"

namespace dx::ui {
namespace {

void hideFromLegend(QChart* chart, QAbstractSeries* series) {
  for (QLegendMarker* m : chart->legend()->markers(series)) m->setVisible(false);
}

QString barTip(const TcavReport& r, const TcavConceptReport& c) {
  return QObject::tr("%1: score %2 ± %3 over %4 runs (random %5 ± %6)\n"
                     "p = %7 (t = %8); %9 at p ≤ %10 (%11 / %12 concepts, Bonferroni)\n"
                     "held-out CAV accuracy %13")
      .arg(QString::fromStdString(c.name))
      .arg(c.mean, 0, 'f', 3)
      .arg(c.std, 0, 'f', 3)
      .arg(c.scores.size())
      .arg(r.randomMean, 0, 'f', 3)
      .arg(r.randomStd, 0, 'f', 3)
      .arg(c.pValue, 0, 'g', 3)
      .arg(c.t, 0, 'f', 2)
      .arg(c.significant ? QObject::tr("significant") : QObject::tr("not significant"))
      .arg(r.threshold, 0, 'g', 3)
      .arg(r.threshold * double(r.concepts.size()), 0, 'g', 3)
      .arg(r.concepts.size())
      .arg(c.accuracyMean, 0, 'f', 2);
}

// An error bar at category i from lo to hi: cap, stem, cap, drawn as one polyline.
QLineSeries* errorBar(int i, double lo, double hi, const QColor& colour) {
  auto* s = new QLineSeries;
  const double x = i, cap = 0.08;
  s->append({{x - cap, lo}, {x + cap, lo}, {x, lo}, {x, hi}, {x - cap, hi}, {x + cap, hi}});
  s->setPen(QPen(colour, 1.5));
  return s;
}

}  // namespace

QChart* tcavChart(const TcavReport& r, const QPalette& palette) {
  auto* chart = new QChart;
  const int n = int(r.concepts.size());
  const QColor text = palette.color(QPalette::WindowText);
  auto* significant = new QBarSet(QObject::tr("significant"));
  auto* weak = new QBarSet(QObject::tr("not significant (n.s.)"));
  QStringList names;
  double top = std::max(1.0, r.randomMean + r.randomStd);
  for (const auto& c : r.concepts) {
    QString name = QString::fromStdString(c.name);
    if (name.size() > 24) name = name.left(23) + QChar(0x2026);
    names << name;
    // Stacked with one of the two at 0: one bar per concept in its colour.
    *significant << (c.significant ? c.mean : 0.0);
    *weak << (c.significant ? 0.0 : c.mean);
    top = std::max(top, c.mean + c.std);
  }
  significant->setColor(palette.color(QPalette::Highlight));
  weak->setColor(palette.color(QPalette::Mid));
  for (QBarSet* set : {significant, weak}) {
    set->setBorderColor(Qt::transparent);
    QObject::connect(set, &QBarSet::hovered, set, [r](bool on, int i) {
      if (on && i >= 0 && i < int(r.concepts.size()))
        QToolTip::showText(QCursor::pos(), barTip(r, r.concepts[size_t(i)]));
      else
        QToolTip::hideText();
    });
  }
  auto* bars = new QStackedBarSeries;
  bars->append({significant, weak});
  bars->setBarWidth(0.6);
  chart->addSeries(bars);

  // Random baseline: band of ± std, then the dashed mean, across the whole category range.
  const double left = -0.5, right = n - 0.5;
  auto* lower = new QLineSeries;
  auto* upper = new QLineSeries;
  lower->append({{left, r.randomMean - r.randomStd}, {right, r.randomMean - r.randomStd}});
  upper->append({{left, r.randomMean + r.randomStd}, {right, r.randomMean + r.randomStd}});
  auto* band = new QAreaSeries(upper, lower);
  upper->setParent(band);  // QAreaSeries does not own its line series (found by LeakSanitizer)
  lower->setParent(band);
  QColor grey = palette.color(QPalette::Mid);
  grey.setAlpha(60);
  band->setBrush(grey);
  band->setPen(Qt::NoPen);
  chart->addSeries(band);
  auto* baseline = new QLineSeries;
  baseline->setName(QObject::tr("random baseline (mean ± std)"));
  baseline->append({{left, r.randomMean}, {right, r.randomMean}});
  baseline->setPen(QPen(text, 1.5, Qt::DashLine));
  chart->addSeries(baseline);

  auto* marks = new QScatterSeries;  // "n.s." above the error bar of each failing concept
  marks->setPointLabelsFormat(QStringLiteral("n.s."));
  marks->setPointLabelsVisible(true);
  marks->setPointLabelsColor(text);
  marks->setPointLabelsClipping(false);
  marks->setColor(Qt::transparent);
  marks->setBorderColor(Qt::transparent);
  marks->setMarkerSize(1);
  for (int i = 0; i < n; ++i) {
    const auto& c = r.concepts[size_t(i)];
    chart->addSeries(errorBar(i, c.mean - c.std, c.mean + c.std, text));
    if (!c.significant) marks->append(i, c.mean + c.std + 0.02);
  }
  chart->addSeries(marks);

  auto* x = new QBarCategoryAxis;
  x->append(names);
  x->setTruncateLabels(false);  // Qt Charts 6.4 elides them to "..." even when they fit
  auto* y = new QValueAxis;
  // Ticks every 0.2 (scores are shares), with room above the highest bar for its "n.s.".
  const double yMax = std::ceil((top + 0.08) * 5) / 5;
  y->setRange(0, yMax);
  y->setTickCount(int(std::lround(yMax * 5)) + 1);
  y->setLabelFormat(QStringLiteral("%.1f"));
  y->setTitleText(r.method == "sacv" ? QObject::tr("SACV score (share of concept positions "
                                                   "pushing the class)")
                                     : QObject::tr("TCAV score (share of class images)"));
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  for (QAbstractSeries* s : chart->series()) {
    s->attachAxis(x);
    s->attachAxis(y);
    if (s != bars && s != baseline) hideFromLegend(chart, s);
  }
  chart->setTitle(QObject::tr("%1 for class %2 at %3: %4 runs, %5 CAVs, %6 class images")
                      .arg(QString::fromStdString(r.method).toUpper(),
                           QString::fromStdString(r.className), QString::fromStdString(r.layer))
                      .arg(r.runs)
                      .arg(QString::fromStdString(r.classifier))
                      .arg(r.classImages));
  chart->legend()->setAlignment(Qt::AlignBottom);
  styleChart(chart, palette);
  return chart;
}

}  // namespace dx::ui

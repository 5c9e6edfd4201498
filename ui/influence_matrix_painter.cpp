#include "influence_matrix_painter.h"

#include <QFontMetrics>
#include <QLinearGradient>
#include <QPainter>
#include <QPalette>
#include <algorithm>
#include <cmath>

#include "concept_charts.h"
#include "analysis/concept_session.h"
#include "discovery/degenerate.h"

namespace dx::ui {
namespace {
constexpr int kPad = 6, kMaxHeader = 180, kBarWidth = 200, kBarHeight = 12;

QString change(double v) { return QString::asprintf("%+.3f", v); }
}  // namespace

void InfluenceMatrixPainter::setSession(const ConceptSession* session, bool withDegenerate) {
  mClasses.clear();
  mConcepts.clear();
  mConceptOf.clear();
  mHidden = 0;
  mValues.clear();
  mProbability.clear();
  mP.clear();
  mSignificant.clear();
  mExtent = 0;
  if (!session) return;
  for (const std::string& c : session->classes()) mClasses << QString::fromStdString(c);
  int all = session->concepts(), k = rows();
  for (int i = 0; i < all; ++i) {
    if (!withDegenerate && !degeneracyReason(session->concept(i).patchFraction).empty()) {
      ++mHidden;
      continue;
    }
    mConceptOf.push_back(i);
    QString label = QString::fromStdString(session->concept(i).label);
    mConcepts << (label.isEmpty() ? QString::number(i) : QStringLiteral("%1 %2").arg(i).arg(label));
  }
  int n = columns();
  bool any = false;
  for (int i = 0; i < all && !any; ++i) any = !session->concept(i).influence.empty();
  if (!any || k == 0) return;  // a concept set without the head: nothing to colour
  mTest = session->influenceTest();
  mValues.assign(size_t(k) * size_t(n), 0.f);
  mProbability.assign(mValues.size(), 0.f);
  mP.assign(mValues.size(), std::nanf(""));
  mSignificant.assign(mValues.size(), 0);
  for (int column = 0; column < n; ++column) {
    const ConceptInfo& info = session->concept(mConceptOf[size_t(column)]);
    for (int r = 0; r < k; ++r) {
      size_t at = size_t(r) * size_t(n) + size_t(column);
      if (size_t(r) < info.influence.size()) mValues[at] = info.influence[size_t(r)];
      if (size_t(r) < info.probabilityChange.size())
        mProbability[at] = info.probabilityChange[size_t(r)];
      if (size_t(r) < info.pValues.size()) mP[at] = info.pValues[size_t(r)];
      if (size_t(r) < info.significant.size()) mSignificant[at] = info.significant[size_t(r)];
      mExtent = std::max(mExtent, double(std::fabs(mValues[at])));
    }
  }
}

int InfluenceMatrixPainter::rowHeaderWidth(const QFontMetrics& fm) const {
  int w = 0;
  for (const QString& c : mClasses) w = std::max(w, fm.horizontalAdvance(c));
  return std::min(w, kMaxHeader) + 3 * kPad;  // one pad of slack: eliding measures in floats
}

int InfluenceMatrixPainter::columnHeaderHeight(const QFontMetrics& fm) const {
  int h = 0;
  for (const QString& c : mConcepts) h = std::max(h, fm.horizontalAdvance(c));
  return std::min(h, kMaxHeader) + 3 * kPad;
}

int InfluenceMatrixPainter::legendHeight(const QFontMetrics& fm) {
  return kBarHeight + fm.height() + 3 * 4;
}

int InfluenceMatrixPainter::labelStep(const QFontMetrics& fm) const {
  return std::max(1, (fm.height() + mCell - 1) / std::max(1, mCell));
}

int InfluenceMatrixPainter::rowAt(int y) const {
  int r = y >= 0 ? y / mCell : -1;
  return r < rows() ? r : -1;
}

int InfluenceMatrixPainter::columnAt(int x) const {
  int c = x >= 0 ? x / mCell : -1;
  return c < columns() ? c : -1;
}

QString InfluenceMatrixPainter::cellTooltip(int row, int column) const {
  QString head = tr("class: %1\nconcept %2")
                     .arg(mClasses[row], mConcepts[column]);
  if (!hasInfluence()) return head;
  size_t at = size_t(row * columns() + column);
  double p = mP[at];
  QString test = std::isnan(p) ? tr("not tested") : tr("p = %1").arg(p, 0, 'g', 2);
  return head + tr("\nchange of the class logit: %1\nchange of p(class): %2\n%3: %4\n"
                   "Click to open the concept")
                    .arg(change(value(row, column)), change(mProbability[at]), test,
                         significant(row, column) ? tr("marked (a discovery, large enough)")
                                                  : tr("not marked"));
}

void InfluenceMatrixPainter::paintCells(QPainter& p, const QRect& exposed,
                                        const QPalette& palette) const {
  if (empty()) return;
  int r0 = std::max(0, exposed.top() / mCell), r1 = std::min(rows() - 1, exposed.bottom() / mCell);
  int c0 = std::max(0, exposed.left() / mCell);
  int c1 = std::min(columns() - 1, exposed.right() / mCell);
  // A 1 px gap in the window colour separates large cells; small ones would turn to stripes.
  int gap = mCell >= 10 ? 1 : 0;
  p.save();
  p.setRenderHint(QPainter::Antialiasing);
  for (int r = r0; r <= r1; ++r) {
    for (int c = c0; c <= c1; ++c) {
      QRect cell(c * mCell, r * mCell, mCell - gap, mCell - gap);
      if (!hasInfluence()) {
        p.fillRect(cell, palette.color(QPalette::Midlight));
        continue;
      }
      QColor colour = influenceColor(value(r, c), mExtent);
      p.fillRect(cell, colour);
      if (!significant(r, c)) continue;
      // Dark dot on light cells, light dot on saturated ones.
      p.setPen(Qt::NoPen);
      p.setBrush(colour.lightnessF() > 0.55 ? QColor(20, 20, 20) : QColor(250, 250, 250));
      double radius = std::max(1.5, mCell * 0.16);
      p.drawEllipse(QRectF(cell).center(), radius, radius);
    }
  }
  p.restore();
}

void InfluenceMatrixPainter::paintRowHeader(QPainter& p, const QRect& exposed, int width,
                                            const QPalette& palette, int hovered) const {
  QFontMetrics fm = p.fontMetrics();
  int step = labelStep(fm);
  int r0 = std::max(0, exposed.top() / mCell), r1 = std::min(rows() - 1, exposed.bottom() / mCell);
  for (int r = r0 - r0 % step; r <= r1; r += step) {
    QRect box(0, r * mCell + mCell / 2 - fm.height() / 2, width - kPad, fm.height());
    if (r == hovered)
      p.fillRect(QRect(0, r * mCell, width, mCell), palette.color(QPalette::Highlight));
    p.setPen(palette.color(r == hovered ? QPalette::HighlightedText : QPalette::WindowText));
    p.drawText(box, Qt::AlignRight | Qt::AlignVCenter,
               fm.elidedText(mClasses[r], Qt::ElideRight, width - 2 * kPad));
  }
}

void InfluenceMatrixPainter::paintColumnHeader(QPainter& p, const QRect& exposed, int height,
                                               const QPalette& palette, int hovered) const {
  QFontMetrics fm = p.fontMetrics();
  int step = labelStep(fm);
  int c0 = std::max(0, exposed.left() / mCell);
  int c1 = std::min(columns() - 1, exposed.right() / mCell);
  for (int c = c0 - c0 % step; c <= c1; c += step) {
    if (c == hovered)
      p.fillRect(QRect(c * mCell, 0, mCell, height), palette.color(QPalette::Highlight));
    p.save();
    // Rotated -90 degrees about the bottom of the column: text runs upwards from the cells.
    p.translate(c * mCell + mCell / 2 + (fm.ascent() - fm.descent()) / 2, height - kPad);
    p.rotate(-90);
    p.setPen(palette.color(c == hovered ? QPalette::HighlightedText : QPalette::WindowText));
    p.drawText(0, 0, fm.elidedText(mConcepts[c], Qt::ElideRight, height - 2 * kPad));
    p.restore();
  }
}

QStringList InfluenceMatrixPainter::legendLines() const {
  QString marked = tr("marked: Benjamini-Hochberg q ≤ %1 over %2 cells and |change| ≥ %3")
                       .arg(mTest.fdr, 0, 'g', 2)
                       .arg(mTest.tests)
                       .arg(mTest.minEffect, 0, 'g', 2);
  QString test = tr("%1 null, %2")
                     .arg(QString::fromStdString(mTest.null))
                     .arg(mTest.exact ? tr("exact test")
                                      : tr("%1 null draws").arg(mTest.nullDraws));
  if (mHidden > 0) test += tr("; %n degenerate concept(s) not shown", "", mHidden);
  return {marked, test};
}

QString InfluenceMatrixPainter::legendNote() const {
  QStringList lines = legendLines();
  return lines[0] + QStringLiteral(" (") + lines[1] + QStringLiteral(")");
}

int InfluenceMatrixPainter::legendWidth(const QFontMetrics& fm) const {
  int tick = fm.horizontalAdvance(change(-mExtent));
  return kPad + fm.horizontalAdvance(tr("change of class logit")) + kPad + tick +
         kBarWidth + tick + 3 * kPad + 12 +
         std::max(fm.horizontalAdvance(legendLines()[0]), fm.horizontalAdvance(legendLines()[1])) +
         kPad;
}

void InfluenceMatrixPainter::paintLegend(QPainter& p, const QRect& area,
                                         const QPalette& palette) const {
  QFontMetrics fm = p.fontMetrics();
  QColor text = palette.color(QPalette::WindowText);
  p.save();
  p.setPen(text);
  if (!hasInfluence()) {
    p.drawText(area.adjusted(kPad, 0, 0, 0), Qt::AlignLeft | Qt::AlignVCenter,
               tr("No influence: the concept set was computed without the model's head."));
    p.restore();
    return;
  }
  // title | bar with ticks under its ends and middle | dot and what it means
  QString title = tr("change of class logit");
  int tick = fm.horizontalAdvance(change(-mExtent));
  int y = area.top() + 4, x = area.left() + kPad;
  int barMiddle = y + kBarHeight / 2 + fm.ascent() / 2 - 1;  // text baseline level with the bar
  p.drawText(x, barMiddle, title);
  x += fm.horizontalAdvance(title) + kPad + tick / 2;
  QRect bar(x, y, kBarWidth, kBarHeight);
  QLinearGradient g(bar.topLeft(), bar.topRight());
  g.setColorAt(0, influenceColor(-mExtent, mExtent));
  g.setColorAt(0.5, influenceColor(0, mExtent));
  g.setColorAt(1, influenceColor(mExtent, mExtent));
  p.fillRect(bar, g);
  p.setPen(palette.color(QPalette::Mid));
  p.drawRect(bar.adjusted(0, 0, -1, -1));
  p.setPen(text);
  auto tickAt = [&](int cx, const QString& label) {
    p.drawText(QRect(cx - tick, bar.bottom() + 2, 2 * tick, fm.height()), Qt::AlignHCenter,
               label);
  };
  tickAt(bar.left(), change(-mExtent));
  tickAt(bar.center().x(), QStringLiteral("0"));
  tickAt(bar.right(), change(mExtent));
  x = bar.right() + tick / 2 + 3 * kPad;
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(Qt::NoPen);
  p.setBrush(text);
  p.drawEllipse(QPointF(x + 4, y + kBarHeight / 2.0), 3, 3);
  p.setPen(text);
  // Two lines, level with the bar and with its ticks, so the legend stays narrow.
  QStringList lines = legendLines();
  p.drawText(x + 12, barMiddle, lines[0]);
  p.drawText(x + 12, barMiddle + fm.height(), lines[1]);
  p.restore();
}

}  // namespace dx::ui

#pragma once
// The class x concept influence heatmap as geometry and painting, apart from any widget: the
// screen paints it in three scrolled parts (cells, row and column headers), the export paints it
// whole, and both get the same picture. Rows are classes, columns concepts; a cell is the mean
// change of the class logit when the concept is amplified (analysis/influence.h, docs/methods.md
// 1.6), coloured on a diverging blue-white-red scale centred at 0 (the effect), with a dot where
// the change is both a Benjamini-Hochberg discovery and at least the minimum effect (significance).
#include <QColor>
#include <QCoreApplication>
#include <QRect>
#include <QStringList>
#include <vector>

#include "analysis/influence_test_info.h"

class QFontMetrics;
class QPainter;
class QPalette;

namespace dx {
class ConceptSession;
}

namespace dx::ui {

class InfluenceMatrixPainter {
  Q_DECLARE_TR_FUNCTIONS(InfluenceMatrixPainter)

 public:
  // Copies what it paints, so painting never walks the session. nullptr = empty. Degenerate
  // concepts (discovery/degenerate.h) get no column unless `withDegenerate`.
  void setSession(const ConceptSession* session, bool withDegenerate = false);
  int conceptOf(int column) const { return mConceptOf[size_t(column)]; }
  int hiddenDegenerate() const { return mHidden; }
  bool empty() const { return mClasses.isEmpty() || mConcepts.isEmpty(); }
  bool hasInfluence() const { return !mValues.empty(); }
  int rows() const { return static_cast<int>(mClasses.size()); }
  int columns() const { return static_cast<int>(mConcepts.size()); }
  const QString& className(int row) const { return mClasses[row]; }
  const QString& conceptName(int column) const { return mConcepts[column]; }

  void setCellSize(int pixels) { mCell = pixels; }
  int cellSize() const { return mCell; }
  QSize cellsSize() const { return {columns() * mCell, rows() * mCell}; }
  int rowHeaderWidth(const QFontMetrics& fm) const;
  int columnHeaderHeight(const QFontMetrics& fm) const;
  static int legendHeight(const QFontMetrics& fm);
  int legendWidth(const QFontMetrics& fm) const;
  QString legendNote() const;  // what the dot means: the test, its correction, the minimum effect
  QStringList legendLines() const;  // the same in two lines: what is marked; the null and test
  double extent() const { return mExtent; }  // the colour scale runs -extent..extent

  int rowAt(int y) const;     // -1 outside; y in cell coordinates
  int columnAt(int x) const;  // -1 outside
  QString cellTooltip(int row, int column) const;

  // `exposed` is in cell coordinates (0,0 = top left of the first cell).
  void paintCells(QPainter& p, const QRect& exposed, const QPalette& palette) const;
  // Row header `width` wide, y in cell coordinates; `hovered` row is emphasised.
  void paintRowHeader(QPainter& p, const QRect& exposed, int width, const QPalette& palette,
                      int hovered) const;
  // Column header `height` high, x in cell coordinates; labels rotated to read bottom-up.
  void paintColumnHeader(QPainter& p, const QRect& exposed, int height, const QPalette& palette,
                         int hovered) const;
  // Colour bar with its scale and the dot's meaning, inside `area`.
  void paintLegend(QPainter& p, const QRect& area, const QPalette& palette) const;

 private:
  float value(int row, int column) const { return mValues[size_t(row * columns() + column)]; }
  bool significant(int row, int column) const {
    return mSignificant[size_t(row * columns() + column)] != 0;
  }
  int labelStep(const QFontMetrics& fm) const;  // label every n-th row/column when cells are small

  QStringList mClasses, mConcepts;
  std::vector<int> mConceptOf;       // column -> concept index in the session
  int mHidden = 0;                   // degenerate concepts left out
  std::vector<float> mValues, mProbability, mP;  // rows x columns, row-major; empty without
  std::vector<char> mSignificant;                // influence
  double mExtent = 0;
  InfluenceTestInfo mTest;
  int mCell = 16;
};

}  // namespace dx::ui

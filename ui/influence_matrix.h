#pragma once
// Influence of every concept on every class as a heatmap (rows classes, columns concepts) with
// a colour bar, sticky row and column headers and a cell-size slider. Degenerate concepts
// (discovery/degenerate.h) are left out unless "Show degenerate concepts" is checked. Hover a cell
// for its numbers; click a cell or a concept header to open the concept, a class header to select
// the class. The picture itself is InfluenceMatrixPainter's.
#include <QWidget>
#include <memory>

class QCheckBox;
class QLabel;
class QSlider;
class QStackedWidget;

namespace dx {
class ConceptSession;
}

namespace dx::app {
class ProjectDocument;
}

namespace dx::ui {

class InfluenceMatrixPainter;
class MatrixScrollArea;
class PaintedStrip;

class InfluenceMatrix : public QWidget {
  Q_OBJECT
 public:
  explicit InfluenceMatrix(QWidget* parent = nullptr);
  ~InfluenceMatrix() override;

  // nullptr clears the view and shows how to get concepts.
  void setSession(std::shared_ptr<const ConceptSession> session);
  void setDocument(app::ProjectDocument* document);  // follows its concept set and names
  // The whole matrix with headers and colour bar (not only the visible part): SVG when the name
  // ends in .svg (and the build has Qt6Svg), else PNG; a PNG over 256 Mpx falls back to what is
  // visible. False on failure.
  bool exportImage(const QString& path);

 public Q_SLOTS:
  void refresh();  // re-read labels and numbers (e.g. after a rename)

 Q_SIGNALS:
  void conceptActivated(int concept);
  void classActivated(int classIndex);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void setCellSize(int pixels);
  void relayout();
  void hover(int row, int column);

  std::shared_ptr<const ConceptSession> mSession;
  std::unique_ptr<InfluenceMatrixPainter> mMatrix;
  QStackedWidget* mStack;
  QLabel* mPlaceholder;
  PaintedStrip* mLegend;
  QSlider* mZoom;
  QCheckBox* mShowDegenerate;
  MatrixScrollArea* mArea;
  PaintedStrip* mCells;
  PaintedStrip* mRowHeader;
  PaintedStrip* mColumnHeader;
  int mHoverRow = -1, mHoverColumn = -1;
};

}  // namespace dx::ui

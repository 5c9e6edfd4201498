#include "influence_matrix.h"

#include "project_document.h"

#include <algorithm>

#include <QCheckBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QScrollArea>
#include <QScrollBar>
#include <QSlider>
#include <QStackedWidget>
#include <QToolTip>
#include <QVBoxLayout>
#include <functional>

#include "analysis/concept_session.h"
#include "influence_matrix_painter.h"
#include "widget_export.h"
#include "view_support.h"

namespace dx::ui {

// A widget that paints and answers the mouse through callbacks, in content coordinates: the
// cells, the two headers and the legend are the same thing with different callbacks. `offset`
// maps widget to content coordinates (the scroll position for the sticky headers).
class PaintedStrip : public QWidget {
 public:
  std::function<void(QPainter&, const QRect&)> paint;
  std::function<QPoint()> offset = [] { return QPoint(); };
  std::function<void(const QPoint&)> clicked, hovered;
  std::function<QString(const QPoint&)> tooltip;

  PaintedStrip() { setMouseTracking(true); }

 protected:
  void paintEvent(QPaintEvent* event) override {
    QPainter p(this);
    QPoint o = offset();
    p.translate(-o);
    if (paint) paint(p, event->rect().translated(o));
  }
  void mouseMoveEvent(QMouseEvent* e) override {
    if (hovered) hovered(e->position().toPoint() + offset());
  }
  void leaveEvent(QEvent*) override {
    if (hovered) hovered(QPoint(-1, -1));
  }
  void mouseReleaseEvent(QMouseEvent* e) override {
    if (clicked && e->button() == Qt::LeftButton) clicked(e->position().toPoint() + offset());
  }
  bool event(QEvent* e) override {
    if (e->type() != QEvent::ToolTip || !tooltip) return QWidget::event(e);
    auto* help = static_cast<QHelpEvent*>(e);
    QString text = tooltip(help->pos() + offset());
    if (text.isEmpty())
      QToolTip::hideText();
    else
      QToolTip::showText(help->globalPos(), text, this);
    return true;
  }
};

// The cells scroll; the row and column headers sit in the viewport margins and follow the
// scroll bars, so class and concept names stay in view on a 1000 x 4000 matrix.
class MatrixScrollArea : public QScrollArea {
 public:
  PaintedStrip* rowHeader = nullptr;
  PaintedStrip* columnHeader = nullptr;

  void setHeaderSizes(int width, int height) {
    setViewportMargins(width, height, 0, 0);
    layoutHeaders();
  }

 protected:
  void resizeEvent(QResizeEvent* event) override {
    QScrollArea::resizeEvent(event);
    layoutHeaders();
  }

 private:
  void layoutHeaders() {
    QRect vp = viewport()->geometry();
    QMargins m = viewportMargins();
    rowHeader->setGeometry(vp.left() - m.left(), vp.top(), m.left(), vp.height());
    columnHeader->setGeometry(vp.left(), vp.top() - m.top(), vp.width(), m.top());
  }
};

InfluenceMatrix::InfluenceMatrix(QWidget* parent)
    : QWidget(parent), mMatrix(std::make_unique<InfluenceMatrixPainter>()),
      mStack(new QStackedWidget), mPlaceholder(new QLabel), mLegend(new PaintedStrip),
      mZoom(new QSlider(Qt::Horizontal)),
      mShowDegenerate(new QCheckBox(tr("Show degenerate concepts"))),
      mArea(new MatrixScrollArea), mCells(new PaintedStrip),
      mRowHeader(new PaintedStrip), mColumnHeader(new PaintedStrip) {
  setWindowTitle(tr("Influence of concepts on classes"));
  mPlaceholder->setText(tr("No concepts yet — open a model and images, then Discover."));
  mPlaceholder->setAlignment(Qt::AlignCenter);
  mPlaceholder->setWordWrap(true);
  mPlaceholder->setForegroundRole(QPalette::PlaceholderText);

  mZoom->setRange(4, 40);
  mZoom->setValue(mMatrix->cellSize());
  mZoom->setMaximumWidth(160);
  mZoom->setToolTip(tr("Cell size"));
  connect(mZoom, &QSlider::valueChanged, this, &InfluenceMatrix::setCellSize);
  mLegend->paint = [this](QPainter& p, const QRect&) {
    mMatrix->paintLegend(p, mLegend->rect(), palette());
  };

  mArea->rowHeader = mRowHeader;
  mArea->columnHeader = mColumnHeader;
  mRowHeader->setParent(mArea);
  mColumnHeader->setParent(mArea);
  mArea->setWidget(mCells);
  // The 1 px gaps between cells and the area beside a small matrix show the window colour.
  mArea->setBackgroundRole(QPalette::Window);
  mCells->setAutoFillBackground(true);
  mCells->setBackgroundRole(QPalette::Window);
  mCells->paint = [this](QPainter& p, const QRect& r) {
    mMatrix->paintCells(p, r, palette());
    if (mHoverRow < 0 || mHoverColumn < 0) return;
    int c = mMatrix->cellSize();
    p.setPen(QPen(palette().color(QPalette::WindowText), 2));
    p.setBrush(Qt::NoBrush);
    p.drawRect(QRect(mHoverColumn * c, mHoverRow * c, c, c).adjusted(1, 1, -1, -1));
  };
  mCells->hovered = [this](const QPoint& at) {
    hover(mMatrix->rowAt(at.y()), mMatrix->columnAt(at.x()));
  };
  mCells->tooltip = [this](const QPoint& at) {
    int r = mMatrix->rowAt(at.y()), c = mMatrix->columnAt(at.x());
    return r >= 0 && c >= 0 ? mMatrix->cellTooltip(r, c) : QString();
  };
  mCells->clicked = [this](const QPoint& at) {
    int c = mMatrix->columnAt(at.x());
    if (mMatrix->rowAt(at.y()) >= 0 && c >= 0) Q_EMIT conceptActivated(mMatrix->conceptOf(c));
  };

  mRowHeader->offset = [this] { return QPoint(0, mArea->verticalScrollBar()->value()); };
  mRowHeader->paint = [this](QPainter& p, const QRect& r) {
    mMatrix->paintRowHeader(p, r, mRowHeader->width(), palette(), mHoverRow);
  };
  mRowHeader->hovered = [this](const QPoint& at) { hover(mMatrix->rowAt(at.y()), -1); };
  mRowHeader->tooltip = [this](const QPoint& at) {
    int r = mMatrix->rowAt(at.y());
    return r < 0 ? QString() : tr("%1\nClick to select the class").arg(mMatrix->className(r));
  };
  mRowHeader->clicked = [this](const QPoint& at) {
    int r = mMatrix->rowAt(at.y());
    if (r >= 0) Q_EMIT classActivated(r);
  };

  mColumnHeader->offset = [this] { return QPoint(mArea->horizontalScrollBar()->value(), 0); };
  mColumnHeader->paint = [this](QPainter& p, const QRect& r) {
    mMatrix->paintColumnHeader(p, r, mColumnHeader->height(), palette(), mHoverColumn);
  };
  mColumnHeader->hovered = [this](const QPoint& at) { hover(-1, mMatrix->columnAt(at.x())); };
  mColumnHeader->tooltip = [this](const QPoint& at) {
    int c = mMatrix->columnAt(at.x());
    return c < 0 ? QString()
                 : tr("concept %1\nClick to open the concept").arg(mMatrix->conceptName(c));
  };
  mColumnHeader->clicked = [this](const QPoint& at) {
    int c = mMatrix->columnAt(at.x());
    if (c >= 0) Q_EMIT conceptActivated(mMatrix->conceptOf(c));
  };
  connect(mArea->verticalScrollBar(), &QScrollBar::valueChanged, mRowHeader,
          qOverload<>(&QWidget::update));
  connect(mArea->horizontalScrollBar(), &QScrollBar::valueChanged, mColumnHeader,
          qOverload<>(&QWidget::update));

  auto* top = new QHBoxLayout;
  top->addWidget(mLegend, 1);
  mShowDegenerate->setToolTip(tr("Degenerate concepts fire on more than half of all patches, or "
                                 "on none: catch-alls or dead detectors, not concepts."));
  connect(mShowDegenerate, &QCheckBox::toggled, this, &InfluenceMatrix::refresh);
  top->addWidget(mShowDegenerate);
  top->addWidget(new QLabel(tr("Cell size:")));
  top->addWidget(mZoom);
  auto* content = new QWidget;
  auto* layout = new QVBoxLayout(content);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(top);
  layout->addWidget(mArea, 1);
  fillWithPlaceholderStack(this, mStack, mPlaceholder, content);
  setSession(nullptr);
}

InfluenceMatrix::~InfluenceMatrix() = default;

void InfluenceMatrix::setDocument(app::ProjectDocument* document) {
  followConcepts(this, document, [this, document] { setSession(document->concepts()); },
                 [this] { refresh(); });
}

void InfluenceMatrix::setSession(std::shared_ptr<const ConceptSession> session) {
  mSession = std::move(session);
  // Few concepts: large cells that fill the width; thousands: the smallest readable ones.
  if (mSession && mSession->concepts() > 0) {
    int fit = (std::max(width(), 800) - 200) / mSession->concepts();
    mZoom->setValue(std::clamp(fit, mZoom->minimum(), mZoom->maximum()));
  }
  refresh();
}

void InfluenceMatrix::refresh() {
  mMatrix->setSession(mSession.get(), mShowDegenerate->isChecked());
  mHoverRow = mHoverColumn = -1;
  mStack->setCurrentIndex(mMatrix->empty() ? 0 : 1);
  // The legend may be clipped in a narrow window; its tooltip says it all.
  mLegend->setToolTip(tr("Red: amplifying the concept raises the class logit, blue: lowers it.\n%1\n%2")
                          .arg(mMatrix->legendNote(),
                               mSession ? QString::fromStdString(
                                              mSession->influenceTest().description)
                                        : QString()));
  relayout();
}

void InfluenceMatrix::setCellSize(int pixels) {
  mMatrix->setCellSize(pixels);
  relayout();
}

// Sizes follow the data, the cell size and the font; called whenever one of them changes.
void InfluenceMatrix::relayout() {
  QFontMetrics fm = fontMetrics();
  mCells->setFixedSize(mMatrix->cellsSize().expandedTo(QSize(1, 1)));
  mArea->setHeaderSizes(mMatrix->rowHeaderWidth(fm), mMatrix->columnHeaderHeight(fm));
  mLegend->setMinimumHeight(InfluenceMatrixPainter::legendHeight(fm));
  for (QWidget* w : {static_cast<QWidget*>(mCells), static_cast<QWidget*>(mRowHeader),
                     static_cast<QWidget*>(mColumnHeader), static_cast<QWidget*>(mLegend)})
    w->update();
}

void InfluenceMatrix::hover(int row, int column) {
  if (row == mHoverRow && column == mHoverColumn) return;
  mHoverRow = row;
  mHoverColumn = column;
  mCells->update();
  mRowHeader->update();
  mColumnHeader->update();
}

void InfluenceMatrix::changeEvent(QEvent* event) {
  if (event->type() == QEvent::FontChange) relayout();  // header sizes depend on the font
  QWidget::changeEvent(event);
}

bool InfluenceMatrix::exportImage(const QString& path) {
  if (mMatrix->empty()) return exportWidget(this, path);  // the placeholder, as shown
  QFontMetrics fm = fontMetrics();
  int rw = mMatrix->rowHeaderWidth(fm), ch = mMatrix->columnHeaderHeight(fm);
  int lh = InfluenceMatrixPainter::legendHeight(fm);
  QSize cells = mMatrix->cellsSize();
  QSize size(std::max(rw + cells.width(), mMatrix->legendWidth(fm)), lh + ch + cells.height());
  QPalette pal = palette();
  auto paint = [&](QPainter& p) {
    p.setFont(font());
    mMatrix->paintLegend(p, QRect(0, 0, size.width(), lh), pal);
    p.save();
    p.translate(rw, lh);
    mMatrix->paintColumnHeader(p, QRect(QPoint(0, 0), QSize(cells.width(), ch)), ch, pal, -1);
    p.translate(0, ch);
    mMatrix->paintCells(p, QRect(QPoint(0, 0), cells), pal);
    p.translate(-rw, 0);
    mMatrix->paintRowHeader(p, QRect(QPoint(0, 0), QSize(rw, cells.height())), rw, pal, -1);
    p.restore();
  };
  if (exportPainting(size, devicePixelRatioF(), pal.color(QPalette::Window), paint, path,
                     windowTitle()))
    return true;
  // Too large for one raster image: what is visible, rather than nothing.
  return !path.endsWith(QStringLiteral(".svg"), Qt::CaseInsensitive) && exportWidget(this, path);
}

}  // namespace dx::ui

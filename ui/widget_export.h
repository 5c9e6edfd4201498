#pragma once
// Writing what a view shows to a file, shared by the concept views: SVG when the file name ends
// in .svg (vector text and shapes, for papers), a raster image otherwise (PNG at the screen's
// device pixel ratio, so exports from a high-DPI screen stay sharp).
#include <QSize>
#include <QString>
#include <functional>

class QColor;
class QPainter;
class QWidget;

namespace dx::ui {

// True when this build can write SVG (Qt6Svg was found at configure time).
bool svgExportAvailable();

// Renders `widget` as it is on screen. Returns false when the file cannot be written or SVG was
// asked for without SVG support.
bool exportWidget(QWidget* widget, const QString& path);

// Renders `paint` (logical coordinates, origin top left) on a `size` canvas filled with
// `background`. For views whose content is larger than what is visible (the influence matrix).
bool exportPainting(const QSize& size, qreal devicePixelRatio, const QColor& background,
                    const std::function<void(QPainter&)>& paint, const QString& path,
                    const QString& title);

}  // namespace dx::ui

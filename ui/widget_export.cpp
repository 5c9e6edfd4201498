#include "widget_export.h"

#include <QBuffer>
#include <QColor>
#include <QFileInfo>
#include <QImage>
#include <QPainter>
#include <QPixmap>
#include <QSaveFile>
#include <QWidget>

#ifdef DIRECTRIX_HAVE_SVG
#include <QSvgGenerator>
#endif

namespace dx::ui {
namespace {

bool wantsSvg(const QString& path) {
  return path.endsWith(QStringLiteral(".svg"), Qt::CaseInsensitive);
}

// Through QSaveFile (a temporary file renamed over `path` once complete): a full disk never
// leaves a truncated image where an earlier export was. The image is encoded in memory and then
// written, so a full disk fails in our write, not inside the encoder: Qt's PNG writer leaves
// libpng by longjmp on a write error, past the destructors of its image copies (LeakSanitizer
// found them leaked).
bool saveImage(const QImage& image, const QString& path) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return false;
  const QByteArray format = QFileInfo(path).suffix().toLower().toLatin1();
  QByteArray bytes;
  QBuffer buffer(&bytes);
  return buffer.open(QIODevice::WriteOnly) &&
         image.save(&buffer, format.isEmpty() ? "png" : format.constData()) &&
         file.write(bytes) == bytes.size() && file.commit();
}

}  // namespace

bool svgExportAvailable() {
#ifdef DIRECTRIX_HAVE_SVG
  return true;
#else
  return false;
#endif
}

bool exportWidget(QWidget* widget, const QString& path) {
  if (!widget) return false;
  if (!wantsSvg(path)) return saveImage(widget->grab().toImage(), path);  // keeps the pixel ratio
  return exportPainting(widget->size(), 1.0, widget->palette().color(widget->backgroundRole()),
                        [widget](QPainter& p) { widget->render(&p); }, path,
                        widget->windowTitle());
}

bool exportPainting(const QSize& size, qreal devicePixelRatio, const QColor& background,
                    const std::function<void(QPainter&)>& paint, const QString& path,
                    const QString& title) {
  if (size.isEmpty()) return false;
  if (wantsSvg(path)) {
#ifdef DIRECTRIX_HAVE_SVG
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return false;
    QSvgGenerator svg;
    svg.setOutputDevice(&file);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(title);
    svg.setDescription(QStringLiteral("Exported from Directrix"));
    QPainter p;
    if (!p.begin(&svg)) return false;
    p.fillRect(QRect(QPoint(0, 0), size), background);
    paint(p);
    return p.end() && file.commit();
#else
    Q_UNUSED(title);
    return false;
#endif
  }
  // QImage refuses sizes beyond 2^31 bytes; very large views should go to SVG instead.
  QSize pixels = (QSizeF(size) * devicePixelRatio).toSize();
  if (qint64(pixels.width()) * pixels.height() > 256LL * 1024 * 1024) return false;
  QImage image(pixels, QImage::Format_ARGB32_Premultiplied);
  if (image.isNull()) return false;
  image.setDevicePixelRatio(devicePixelRatio);
  image.fill(background);
  QPainter p(&image);
  p.setRenderHint(QPainter::Antialiasing);
  paint(p);
  p.end();
  return saveImage(image, path);
}

}  // namespace dx::ui

#pragma once
// Small helpers the concept views share, so each view states only what is its own: turning the
// core's cv::Mat into a QImage, naming concepts and classes the same way everywhere, colours that
// stay readable in light and dark palettes, and a perceptual colormap.
// (Export to PNG/SVG lives in widget_export.h.)
#include <QColor>
#include <QImage>
#include <QString>
#include <cstdint>
#include <functional>

class QLabel;
class QPalette;
class QStackedWidget;
class QWidget;

namespace cv {
class Mat;
}

namespace dx {
class ConceptSession;
}
namespace dx::app {
class ProjectDocument;
}

namespace dx::ui {

// Deep copy of an 8-bit BGR, BGRA or gray Mat (what ConceptSession::image() returns); null
// QImage for an empty or unsupported Mat. The copy lets the Mat go right away.
QImage imageFromMat(const cv::Mat& mat);

// A view's subscription to the document: onConcepts when the concept set changes (a new
// discovery, layer or project), onNames when concepts are renamed or named by INVERT. Both run
// with `view` as context, so the connection ends with the view.
void followConcepts(QWidget* view, app::ProjectDocument* document,
                    const std::function<void()>& onConcepts, const std::function<void()>& onNames);

// "#3 striped sleeve" or "#3" when the concept has no label yet.
QString conceptName(const ConceptSession& session, int concept);
// The model's class name, "?" for -1 or out of range (unlabelled images).
QString className(const ConceptSession& session, int64_t k);

// True when the palette's window colour is dark (a dark desktop theme).
bool isDark(const QPalette& palette);
// Green/red for "correct"/"wrong" that keep contrast on the palette's base colour.
QColor goodColour(const QPalette& palette);
QColor badColour(const QPalette& palette);

// Viridis (perceptually uniform, readable by colour-blind users and in grey print):
// t in [0, 1] -> colour, from a 256-entry table interpolated from matplotlib's anchors.
QRgb viridis(double t);

// Centred, word-wrapped, muted text shown instead of a view's content (no session, no image).
QLabel* makePlaceholder(const QString& text, QWidget* parent = nullptr);
// The layout every view shares: `owner` shows `stack`, whose page 0 is the placeholder (no
// project yet) and page 1 the view's content.
void fillWithPlaceholderStack(QWidget* owner, QStackedWidget* stack, QWidget* placeholder,
                              QWidget* content);

}  // namespace dx::ui

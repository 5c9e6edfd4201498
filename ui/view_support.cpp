#include "view_support.h"

#include "project_document.h"

#include <QLabel>
#include <QPalette>
#include <QStackedWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/core.hpp>

#include "analysis/concept_session.h"

namespace dx::ui {

QImage imageFromMat(const cv::Mat& mat) {
  if (mat.empty() || mat.depth() != CV_8U) return {};
  QImage::Format format;
  switch (mat.channels()) {
    case 1: format = QImage::Format_Grayscale8; break;
    case 3: format = QImage::Format_BGR888; break;  // OpenCV order, no per-pixel swap needed
    case 4: format = QImage::Format_ARGB32; break;  // BGRA bytes = ARGB32 on little endian
    default: return {};
  }
  return QImage(mat.data, mat.cols, mat.rows, static_cast<qsizetype>(mat.step), format).copy();
}

void followConcepts(QWidget* view, app::ProjectDocument* document,
                    const std::function<void()>& onConcepts, const std::function<void()>& onNames) {
  using Change = app::ProjectDocument::Change;
  QObject::connect(document, &app::ProjectDocument::changed, view, [=](Change what) {
    if (what == Change::Concepts) onConcepts();
    if (what == Change::ConceptNames) onNames();
  });
}

QString conceptName(const ConceptSession& session, int concept) {
  QString number = QStringLiteral("#%1").arg(concept);
  if (concept < 0 || concept >= session.concepts()) return number;
  const std::string& label = session.concept(concept).label;
  return label.empty() ? number : number + QLatin1Char(' ') + QString::fromStdString(label);
}

QString className(const ConceptSession& session, int64_t k) {
  const auto& classes = session.classes();
  if (k < 0 || size_t(k) >= classes.size()) return QStringLiteral("?");
  return QString::fromStdString(classes[size_t(k)]);
}

bool isDark(const QPalette& palette) {
  return palette.color(QPalette::Window).lightnessF() < 0.5;
}

// Fixed colours tuned for each background rather than palette roles: no palette role means
// "good" or "bad", and these keep a contrast ratio above 4.5 on typical light/dark bases.
QColor goodColour(const QPalette& palette) {
  return isDark(palette) ? QColor(110, 215, 130) : QColor(20, 120, 50);
}

QColor badColour(const QPalette& palette) {
  return isDark(palette) ? QColor(255, 120, 110) : QColor(180, 30, 30);
}

QRgb viridis(double t) {
  // matplotlib's viridis at 0, 1/8, ..., 1; linear interpolation between them stays within a
  // few units of the full 256-entry table, far below what a heatmap overlay can show.
  static const std::array<std::array<int, 3>, 9> kAnchors{{{68, 1, 84},
                                                            {72, 40, 120},
                                                            {62, 73, 137},
                                                            {49, 104, 142},
                                                            {38, 130, 142},
                                                            {31, 158, 137},
                                                            {53, 183, 121},
                                                            {110, 206, 88},
                                                            {253, 231, 37}}};
  static const std::array<QRgb, 256> kTable = [] {
    std::array<QRgb, 256> table{};
    for (int i = 0; i < 256; ++i) {
      double x = i / 255.0 * 8.0;
      int a = std::min(7, int(x));
      double f = x - a;
      int rgb[3];
      for (int c = 0; c < 3; ++c)
        rgb[c] = int(std::lround(kAnchors[a][c] * (1 - f) + kAnchors[a + 1][c] * f));
      table[size_t(i)] = qRgb(rgb[0], rgb[1], rgb[2]);
    }
    return table;
  }();
  if (!(t > 0)) return kTable[0];  // also catches NaN
  return kTable[size_t(std::min(255L, std::lround(t * 255)))];
}

QLabel* makePlaceholder(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  label->setAlignment(Qt::AlignCenter);
  label->setWordWrap(true);
  label->setMargin(24);
  label->setForegroundRole(QPalette::PlaceholderText);  // muted in light and dark themes
  return label;
}

void fillWithPlaceholderStack(QWidget* owner, QStackedWidget* stack, QWidget* placeholder,
                              QWidget* content) {
  stack->addWidget(placeholder);
  stack->addWidget(content);
  auto* outer = new QVBoxLayout(owner);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(stack);
}

}  // namespace dx::ui

#pragma once
// The two Qt Charts of the concept detail, built from plain numbers so they can be rebuilt when
// the palette changes (light/dark) without touching the session again.
#include <QColor>
#include <QString>
#include <string>
#include <vector>

class QChart;
class QPalette;

namespace dx {
struct ConceptInfo;
}

namespace dx::ui {

// Histogram of one concept's per-image strength I (max over patches of w.x - b); a dashed line
// at 0 separates images where the concept is present (> 0) from the rest.
// With `positives` (one per strength, e.g. an INVERT label's images) the histogram is split.
QChart* strengthHistogram(const std::vector<float>& strengths, const QPalette& palette,
                          const std::vector<uint8_t>& positives = {},
                          const QString& positiveName = {});

// Horizontal bars of the mean change of the class logit per class, the `maxBars` classes with the
// largest |change| only (a 1000-class model would be unreadable): marked raising bars red, marked
// lowering bars blue (as in the influence matrix), the rest grey; over each bar the per-image
// distribution (range, middle half, median).
// `shown` receives how many classes are drawn.
QChart* influenceChart(const ConceptInfo& info, const std::vector<std::string>& classes,
                       int maxBars, const QPalette& palette, int* shown = nullptr);

// Diverging blue-white-red colour of an influence `value` on a scale of -extent..extent
// (ColorBrewer RdBu ends), shared by the bar chart and the influence matrix.
QColor influenceColor(double value, double extent);

// Background, text and grid colours from the palette, so charts read in light and dark themes.
void styleChart(QChart* chart, const QPalette& palette);

}  // namespace dx::ui

#pragma once
// The TCAV result as Kim et al. (2018, Fig. 4) draw it: one bar per concept at its mean score
// over the runs with an error bar of one standard deviation, the random baseline (random-vs-random
// CAVs) as a dashed line in a grey band of ± one std, and bars that fail the t-test greyed and
// marked "n.s.". Qt Charts has no error bars, so each is a line series shaped like an I.
// Hovering a bar shows its numbers (p-value, t, CAV accuracy).
class QChart;
class QPalette;

namespace dx {
struct TcavReport;
}

namespace dx::ui {

QChart* tcavChart(const TcavReport& report, const QPalette& palette);

}  // namespace dx::ui

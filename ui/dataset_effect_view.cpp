#include "dataset_effect_view.h"

#include <QEvent>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cstdlib>

#include "analysis/concept_session.h"
#include "view_support.h"

namespace dx::ui {
namespace {
const int kMaxConfusionRows = 50;  // the largest changes; the rest is noise for a reader
const int kDeltaRole = Qt::UserRole + 1;

QTableWidget* makeTable(const QStringList& headers, const QString& tip) {
  auto* table = new QTableWidget(0, int(headers.size()));
  table->setHorizontalHeaderLabels(headers);
  table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);  // class names
  table->verticalHeader()->hide();
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setToolTip(tip);
  return table;
}

QTableWidgetItem* cell(const QString& text, double delta = 0, bool number = true) {
  auto* item = new QTableWidgetItem(text);
  if (number) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  item->setData(kDeltaRole, delta);
  return item;
}

QString percent(int64_t correct, int64_t total) {
  return total > 0 ? QStringLiteral("%1%").arg(100.0 * double(correct) / double(total), 0, 'f', 1)
                   : QStringLiteral("–");
}

QString signedNumber(double v, int decimals) {
  return (v > 0 ? QStringLiteral("+") : QString()) + QString::number(v, 'f', decimals);
}
}  // namespace

DatasetEffectView::DatasetEffectView(QWidget* parent)
    : QWidget(parent), mSummary(new QLabel),
      mPerClass(makeTable({tr("True class"), tr("Images"), tr("Before"), tr("After"), tr("Δ")},
                          tr("Accuracy per true class without and with the edits"))),
      mConfusion(makeTable({tr("True"), tr("Predicted"), tr("Before"), tr("After"), tr("Δ")},
                           tr("Misclassification counts (true → predicted) that the edits "
                              "changed, largest change first"))) {
  mSummary->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(mSummary);
  layout->addWidget(mPerClass, 3);
  layout->addWidget(mConfusion, 2);
  clear();
}

void DatasetEffectView::setClasses(const QStringList& classes) {
  mClasses = classes;
  clear();
}

void DatasetEffectView::clear() {
  mShown.reset();
  showMessage(tr("Apply the edits to the dataset to see how accuracy changes."));
}

void DatasetEffectView::showMessage(const QString& text) {
  mShown.reset();
  mSummary->setText(text);
  mPerClass->setRowCount(0);
  mConfusion->setRowCount(0);
}

void DatasetEffectView::showEffect(const DatasetEffect& effect, const QString& caption) {
  mShown = effect;
  const double delta = 100.0 * (effect.accuracyAfter - effect.accuracyBefore);
  mSummary->setText(tr("%1\nAccuracy %2% → %3% (%4 points)")
                        .arg(caption)
                        .arg(100.0 * effect.accuracyBefore, 0, 'f', 2)
                        .arg(100.0 * effect.accuracyAfter, 0, 'f', 2)
                        .arg(signedNumber(delta, 2)));
  fillPerClass(effect);
  fillConfusion(effect);
  colourDeltas();
}

void DatasetEffectView::fillPerClass(const DatasetEffect& effect) {
  const size_t k = std::min({effect.images.size(), effect.correctBefore.size(),
                             effect.correctAfter.size(), size_t(mClasses.size())});
  mPerClass->setRowCount(0);
  for (size_t c = 0; c < k; ++c) {
    const int64_t n = effect.images[c];
    if (n == 0) continue;  // classes the dataset has no labelled image of
    const double d = 100.0 * double(effect.correctAfter[c] - effect.correctBefore[c]) / double(n);
    const int r = mPerClass->rowCount();
    mPerClass->insertRow(r);
    mPerClass->setItem(r, 0, cell(mClasses[int(c)], 0, false));
    mPerClass->setItem(r, 1, cell(QString::number(n)));
    mPerClass->setItem(r, 2, cell(percent(effect.correctBefore[c], n)));
    mPerClass->setItem(r, 3, cell(percent(effect.correctAfter[c], n)));
    mPerClass->setItem(r, 4, cell(signedNumber(d, 1), d));
  }
}

void DatasetEffectView::fillConfusion(const DatasetEffect& effect) {
  struct Change {
    int truth, predicted;
    int64_t before, after;
  };
  const int k = int(mClasses.size());
  std::vector<Change> changes;
  if (effect.confusionBefore.size() == size_t(k) * size_t(k) &&
      effect.confusionAfter.size() == effect.confusionBefore.size())
    for (int t = 0; t < k; ++t)
      for (int p = 0; p < k; ++p) {
        const size_t i = size_t(t) * size_t(k) + size_t(p);
        if (t != p && effect.confusionBefore[i] != effect.confusionAfter[i])
          changes.push_back({t, p, effect.confusionBefore[i], effect.confusionAfter[i]});
      }
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    return std::llabs(a.after - a.before) > std::llabs(b.after - b.before);
  });
  mConfusion->setRowCount(int(std::min<size_t>(changes.size(), kMaxConfusionRows)));
  for (int r = 0; r < mConfusion->rowCount(); ++r) {
    const Change& c = changes[size_t(r)];
    // Fewer errors in a cell is an improvement: the colour follows -Δ.
    const double d = double(c.after - c.before);
    mConfusion->setItem(r, 0, cell(mClasses[c.truth], 0, false));
    mConfusion->setItem(r, 1, cell(mClasses[c.predicted], 0, false));
    mConfusion->setItem(r, 2, cell(QString::number(c.before)));
    mConfusion->setItem(r, 3, cell(QString::number(c.after)));
    mConfusion->setItem(r, 4, cell(signedNumber(d, 0), -d));
  }
  mConfusion->setToolTip(tr("%n confusion cell(s) changed", nullptr, int(changes.size())) +
                         (changes.size() > size_t(kMaxConfusionRows)
                              ? tr("; the %1 largest are listed").arg(kMaxConfusionRows)
                              : QString()));
}

// Δ cells in the palette's good/bad colours; redone on palette changes (dark mode switch).
void DatasetEffectView::colourDeltas() {
  for (QTableWidget* table : {mPerClass, mConfusion})
    for (int r = 0; r < table->rowCount(); ++r)
      if (QTableWidgetItem* item = table->item(r, 4)) {
        const double d = item->data(kDeltaRole).toDouble();
        if (d > 0) item->setForeground(goodColour(palette()));
        else if (d < 0) item->setForeground(badColour(palette()));
      }
}

void DatasetEffectView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) colourDeltas();
}

}  // namespace dx::ui

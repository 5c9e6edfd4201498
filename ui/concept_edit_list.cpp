#include "concept_edit_list.h"

#include <QCheckBox>
#include <QGridLayout>
#include <QLabel>
#include <QScrollBar>
#include <QSignalBlocker>
#include <QSlider>
#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "view_support.h"

namespace dx::ui {
namespace {
// Sliders work in hundredths: -100 = off (strength -1), 0 = unchanged, 200 = twice as strong.
const int kOff = -100, kMaxAmplify = 200;
}  // namespace

QString strengthText(int hundredths) {
  if (hundredths == kOff) return QObject::tr("off");
  if (hundredths == 0) return QStringLiteral("0");
  return (hundredths > 0 ? QStringLiteral("+") : QString()) +
         QString::number(hundredths / 100.0, 'f', 2);
}

ConceptEditList::ConceptEditList(QWidget* parent) : QScrollArea(parent), mHost(new QWidget) {
  new QGridLayout(mHost);
  setWidget(mHost);
  setWidgetResizable(true);
  setToolTip(tr("Concepts, strongest in this image first. \"off\" removes a concept from the "
                "image; the slider scales it from -1 (off) to +2 (amplified)."));
}

void ConceptEditList::clearRows() {
  for (const Row& r : mRows)
    for (QWidget* w : {static_cast<QWidget*>(r.name), static_cast<QWidget*>(r.present),
                       static_cast<QWidget*>(r.off), static_cast<QWidget*>(r.strength),
                       static_cast<QWidget*>(r.value)})
      delete w;
  mRows.clear();
}

void ConceptEditList::setSession(const ConceptSession* session) {
  clearRows();
  if (!session) return;
  for (int c = 0; c < session->concepts(); ++c) {
    Row r{c, new QLabel(conceptName(*session, c)), new QLabel, new QCheckBox(tr("off")),
          new QSlider(Qt::Horizontal), new QLabel(strengthText(0))};
    r.name->setToolTip(r.name->text());
    r.name->setMaximumWidth(r.name->fontMetrics().averageCharWidth() * 28);  // long INVERT formulas
    r.off->setToolTip(tr("Remove this concept from the image (strength -1)"));
    r.strength->setRange(kOff, kMaxAmplify);
    r.strength->setPageStep(25);
    r.strength->setTickPosition(QSlider::TicksBelow);
    r.strength->setTickInterval(100);  // ticks at -1, 0, +1, +2
    r.strength->setMinimumWidth(120);
    r.strength->setToolTip(tr("-1 removes the concept, 0 leaves it, +2 doubles it"));
    r.value->setMinimumWidth(r.value->fontMetrics().horizontalAdvance(QStringLiteral("+0.00 ")));
    const size_t row = mRows.size();
    connect(r.off, &QCheckBox::toggled, this, [this, row] { rowEdited(row, true); });
    connect(r.strength, &QSlider::valueChanged, this, [this, row] { rowEdited(row, false); });
    mRows.push_back(r);
  }
  setStrengths({});
}

void ConceptEditList::refreshNames(const ConceptSession& session) {
  for (const Row& r : mRows) {
    r.name->setText(conceptName(session, r.concept));
    r.name->setToolTip(r.name->text());
  }
}

void ConceptEditList::setStrengths(const std::vector<float>& strengths) {
  auto strength = [&](const Row& r) {
    return size_t(r.concept) < strengths.size() ? strengths[size_t(r.concept)] : 0.f;
  };
  std::vector<const Row*> order;
  for (const Row& r : mRows) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(),
                   [&](const Row* a, const Row* b) { return strength(*a) > strength(*b); });
  mStrengths = strengths;
  auto* grid = static_cast<QGridLayout*>(mHost->layout());
  for (int i = 0; i < int(order.size()); ++i) {
    const Row& r = *order[size_t(i)];
    int column = 0;
    for (QWidget* w : {static_cast<QWidget*>(r.name), static_cast<QWidget*>(r.present),
                       static_cast<QWidget*>(r.off), static_cast<QWidget*>(r.strength),
                       static_cast<QWidget*>(r.value)}) {
      grid->removeWidget(w);  // re-adding without removing would leave stale layout items
      grid->addWidget(w, i, column++);
    }
  }
  grid->setColumnStretch(3, 1);
  grid->setRowStretch(int(order.size()), 1);  // rows packed at the top when few
  setEditedStrengths({});
}

void ConceptEditList::setEditedStrengths(const std::vector<float>& edited) {
  for (const Row& r : mRows) {
    const size_t c = size_t(r.concept);
    QString text, tip = tr("Strength of the concept in this image (0 = absent)");
    bool sideEffect = false;
    if (c < mStrengths.size()) {
      const float before = mStrengths[c];
      text = QString::number(before, 'f', 2);
      // Moves below the shown precision are not news.
      if (c < edited.size() && std::abs(edited[c] - before) >= 0.005f) {
        text += QStringLiteral(" → ") + QString::number(edited[c], 'f', 2);
        sideEffect = r.strength->value() == 0;
        tip = sideEffect ? tr("Not edited, but the edits moved it: the edited concepts' encoders "
                              "are not orthogonal to this concept's detector")
                         : tr("Strength before → after the edits (0 = absent)");
      }
    }
    r.present->setText(text);
    r.present->setToolTip(tip);
    r.present->setForegroundRole(sideEffect ? QPalette::Link : QPalette::PlaceholderText);
  }
}

QString ConceptEditList::presentText(int concept) const {
  for (const Row& r : mRows)
    if (r.concept == concept) return r.present->text();
  return {};
}

QSize ConceptEditList::sizeHint() const {
  return {mHost->sizeHint().width() + verticalScrollBar()->sizeHint().width() + 2 * frameWidth(),
          320};
}

QSize ConceptEditList::minimumSizeHint() const { return {sizeHint().width(), 120}; }

void ConceptEditList::rowEdited(size_t row, bool fromCheckBox) {
  const Row& r = mRows[row];
  if (fromCheckBox) {
    QSignalBlocker block(r.strength);
    r.strength->setValue(r.off->isChecked() ? kOff : 0);
  } else {
    QSignalBlocker block(r.off);
    r.off->setChecked(r.strength->value() == kOff);
  }
  r.value->setText(strengthText(r.strength->value()));
  Q_EMIT edited();
}

std::vector<ConceptToggle> ConceptEditList::toggles() const {
  std::vector<ConceptToggle> out;
  for (const Row& r : mRows)
    if (r.strength->value() != 0) out.push_back({r.concept, r.strength->value() / 100.0});
  return out;
}

bool ConceptEditList::setToggles(const std::vector<ConceptToggle>& toggles) {
  std::vector<int> values(mRows.size(), 0);
  for (const ConceptToggle& t : toggles)
    if (t.concept >= 0 && size_t(t.concept) < values.size() && std::isfinite(t.strength))
      values[size_t(t.concept)] = std::clamp(int(std::lround(t.strength * 100)), kOff, kMaxAmplify);
  bool changed = false;
  for (size_t i = 0; i < mRows.size(); ++i) {
    const Row& r = mRows[i];
    if (r.strength->value() == values[i]) continue;
    changed = true;
    QSignalBlocker blockSlider(r.strength), blockBox(r.off);  // the caller updates once
    r.strength->setValue(values[i]);
    r.off->setChecked(values[i] == kOff);
    r.value->setText(strengthText(values[i]));
  }
  return changed;
}

}  // namespace dx::ui

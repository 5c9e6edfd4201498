#include "concept_gallery_model.h"

#include <QCollator>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/concept_session.h"
#include "discovery/degenerate.h"

namespace dx::ui {
namespace {

QString percent(double fraction) {
  double p = 100 * fraction;
  return QString::number(p, 'f', p > 0 && p < 10 ? 1 : 0) + QLatin1Char('%');
}

// Influence is a change of class probability (docs/methods.md 1.6); the sign says which way.
QString change(float v) { return QString::asprintf("%+.3f", double(v)); }

}  // namespace

ConceptGalleryModel::ConceptGalleryModel(QObject* parent) : QAbstractListModel(parent) {}
ConceptGalleryModel::~ConceptGalleryModel() = default;

void ConceptGalleryModel::setSession(std::shared_ptr<const ConceptSession> session) {
  mSession = std::move(session);
  mPinned.clear();  // pins belong to a concept set; the project restores them with setPinned()
  refresh();
}

void ConceptGalleryModel::refresh() {
  mCards.clear();
  int n = mSession ? mSession->concepts() : 0;
  mCards.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) mCards.push_back(makeCard(i));
  rebuild();
}

ConceptGalleryModel::Card ConceptGalleryModel::makeCard(int concept) const {
  const ConceptInfo& info = mSession->concept(concept);
  const auto& classes = mSession->classes();
  Card c;
  QString label = QString::fromStdString(info.label);
  QString name = tr("concept %1").arg(concept);
  c.title = label.isEmpty() ? name : label;
  c.labelled = !label.isEmpty();
  c.frequency = info.imageFraction;
  c.fires = tr("fires in %1 of images").arg(percent(info.imageFraction));

  // Classes by |influence|, strongest first; the card shows 2, the tooltip the significant ones.
  std::vector<size_t> order(std::min(info.influence.size(), classes.size()));
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::fabs(info.influence[a]) > std::fabs(info.influence[b]);
  });
  auto significant = [&](size_t k) { return k < info.significant.size() && info.significant[k]; };
  QStringList strongest, search{label.toLower(), name};
  for (size_t j = 0; j < order.size() && j < 2; ++j) {
    size_t k = order[j];
    QString cls = QString::fromStdString(classes[k]);
    strongest << cls + QLatin1Char(' ') + change(info.influence[k]) +
                     (significant(k) ? QStringLiteral("*") : QString());
    search << cls.toLower();
  }
  c.strongest = order.empty() ? 0.0 : std::fabs(info.influence[order[0]]);
  c.classes = order.empty() ? tr("influence unknown") : strongest.join(QStringLiteral(", "));

  QStringList tip{QStringLiteral("<b>%1</b>").arg(c.title.toHtmlEscaped())};
  if (!label.isEmpty()) tip << name;
  QString reason = QString::fromStdString(degeneracyReason(info.patchFraction));
  if (!reason.isEmpty()) {
    c.warning = info.patchFraction > 0 ? tr("⚠ degenerate: %1 of patches")
                                             .arg(percent(info.patchFraction))
                                       : tr("⚠ degenerate: never fires");
    tip << tr("<b>Degenerate:</b> %1; not a concept. Left out of the influence matrix unless "
              "you show degenerate concepts there.").arg(reason);
  }
  if (!std::isnan(info.stability)) {  // measured by refits (Check Seed Stability, the CLI)
    bool unstable = info.stability < kUnstableBelow;
    if (unstable && c.warning.isEmpty())  // the badge keeps the frequency beside it
      c.warning = tr("⚠ unstable (%1) · in %2 of images")
                      .arg(info.stability, 0, 'f', 2)
                      .arg(percent(info.imageFraction));
    tip << (unstable ? tr("<b>Unstable:</b> refits with other seeds mark its patches with an "
                          "IoU of %1 (lower median); it may be one fit's accident, not a "
                          "property of the layer.")
                     : tr("seed stability: refits with other seeds mark its patches with an "
                          "IoU of %1 (lower median)"))
               .arg(info.stability, 0, 'f', 2);
  }
  tip << tr("fires in %1 of images, %2 of patches")
             .arg(percent(info.imageFraction), percent(info.patchFraction));
  tip << tr("mean score where present: %1").arg(info.meanScoreWhenPresent, 0, 'g', 3);
  int listed = 0;
  for (size_t k : order) {
    if (!significant(k)) continue;
    QString cls = QString::fromStdString(classes[k]);
    search << cls.toLower();
    if (++listed <= 8) {
      double p = k < info.pValues.size() ? double(info.pValues[k]) : std::nan("");
      tip << tr("%1: logit %2 (p = %3) *").arg(cls.toHtmlEscaped(), change(info.influence[k]))
                 .arg(p, 0, 'g', 2);
    }
  }
  if (!order.empty() && listed == 0) tip << tr("no marked influence on any class");
  tip << tr("<i>* marked: a significant change of the class logit, large enough (see the "
            "influence matrix's legend). Double-click to open, right-click to pin.</i>");
  c.tooltip = tip.join(QStringLiteral("<br>"));
  c.search = search.join(QLatin1Char('\n'));
  return c;
}

void ConceptGalleryModel::setSort(Sort sort) {
  if (sort == mSort) return;
  mSort = sort;
  rebuild();
}

void ConceptGalleryModel::setFilter(const QString& text) {
  QString f = text.trimmed().toLower();
  if (f == mFilter) return;
  mFilter = f;
  rebuild();
}

void ConceptGalleryModel::setPinnedOnly(bool on) {
  if (on == mPinnedOnly) return;
  mPinnedOnly = on;
  rebuild();
}

void ConceptGalleryModel::setPinned(std::set<int> concepts) {
  if (concepts == mPinned) return;
  mPinned = std::move(concepts);
  rebuild();
  Q_EMIT pinnedChanged();
}

void ConceptGalleryModel::togglePinned(int concept) {
  if (concept < 0 || concept >= totalConcepts()) return;
  if (!mPinned.erase(concept)) mPinned.insert(concept);
  rebuild();  // pinned cards move to the front
  Q_EMIT pinnedChanged();
}

void ConceptGalleryModel::rebuild() {
  beginResetModel();
  mOrder.clear();
  for (int i = 0; i < totalConcepts(); ++i) {
    bool pinned = mPinned.count(i) > 0;
    if (mPinnedOnly && !pinned) continue;
    if (!mFilter.isEmpty() && !mCards[size_t(i)].search.contains(mFilter)) continue;
    mOrder.push_back(i);
  }
  QCollator collator;
  collator.setNumericMode(true);  // "concept 2" before "concept 10"
  collator.setCaseSensitivity(Qt::CaseInsensitive);
  auto before = [&](int a, int b) {
    bool pa = mPinned.count(a) > 0, pb = mPinned.count(b) > 0;
    if (pa != pb) return pa;
    const Card &ca = mCards[size_t(a)], &cb = mCards[size_t(b)];
    switch (mSort) {
      case Sort::Frequency: return ca.frequency > cb.frequency;
      case Sort::Influence: return ca.strongest > cb.strongest;
      case Sort::Label:  // named concepts first: they are the ones someone looked at
        if (ca.labelled != cb.labelled) return ca.labelled;
        return ca.labelled && collator.compare(ca.title, cb.title) < 0;
      case Sort::Index: break;
    }
    return false;  // stable sort keeps the index order
  };
  std::stable_sort(mOrder.begin(), mOrder.end(), before);
  endResetModel();
}

int ConceptGalleryModel::conceptAt(int row) const {
  return row >= 0 && row < rowCount() ? mOrder[size_t(row)] : -1;
}

int ConceptGalleryModel::rowOf(int concept) const {
  auto it = std::find(mOrder.begin(), mOrder.end(), concept);
  return it == mOrder.end() ? -1 : static_cast<int>(it - mOrder.begin());
}

int ConceptGalleryModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(mOrder.size());
}

QVariant ConceptGalleryModel::data(const QModelIndex& index, int role) const {
  int concept = conceptAt(index.row());
  if (!index.isValid() || concept < 0) return {};
  const Card& c = mCards[size_t(concept)];
  switch (role) {
    case Qt::DisplayRole: return c.title;
    case Qt::ToolTipRole: return c.tooltip;
    case ConceptRole: return concept;
    case PinnedRole: return mPinned.count(concept) > 0;
    case FiresRole: return c.fires;
    case ClassesRole: return c.classes;
    case WarningRole: return c.warning;
    default: return {};
  }
}

}  // namespace dx::ui

#include "concept_card_delegate.h"

#include <QAbstractItemView>
#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include "concept_gallery_model.h"
#include "analysis/concept_session.h"
#include "patch_image_cache.h"
#include "view_support.h"

namespace dx::ui {
namespace {
constexpr int kPad = 8, kGap = 4, kPin = 20;
}  // namespace

ConceptCardDelegate::ConceptCardDelegate(const ConceptGalleryModel& model,
                                         PatchImageCache& images, QObject* parent)
    : QStyledItemDelegate(parent), mModel(model), mImages(images) {}

QSize ConceptCardDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex&) const {
  int width = 2 * kPad + kPatches * kPatchSide + (kPatches - 1) * kGap;
  int lines = option.fontMetrics.height() * 3 + 4;  // title (bold) + fires + classes
  return {width, 2 * kPad + kPatchSide + 6 + lines};
}

QRect ConceptCardDelegate::patchRect(const QRect& card, int i) const {
  return {card.left() + kPad + i * (kPatchSide + kGap), card.top() + kPad, kPatchSide, kPatchSide};
}

QRect ConceptCardDelegate::pinRect(const QRect& card) const {
  return {card.right() - kPad - kPin, card.top() + kPad + kPatchSide + 4, kPin, kPin};
}

void ConceptCardDelegate::paint(QPainter* p, const QStyleOptionViewItem& option,
                                const QModelIndex& index) const {
  const QPalette& pal = option.palette;
  QRect card = option.rect.adjusted(2, 2, -2, -2);
  bool selected = option.state & QStyle::State_Selected;
  bool hovered = option.state & QStyle::State_MouseOver;
  p->save();
  p->setRenderHint(QPainter::Antialiasing);
  // A tinted highlight instead of the solid one keeps the palette's text colours readable.
  QColor fill = pal.color(QPalette::Base);
  if (selected) {
    QColor h = pal.color(QPalette::Highlight);
    fill = QColor::fromRgbF(0.75f * fill.redF() + 0.25f * h.redF(),
                            0.75f * fill.greenF() + 0.25f * h.greenF(),
                            0.75f * fill.blueF() + 0.25f * h.blueF());
  }
  p->setPen(QPen(selected || hovered ? pal.color(QPalette::Highlight) : pal.color(QPalette::Mid),
                 selected ? 2 : 1));
  p->setBrush(fill);
  p->drawRoundedRect(QRectF(card).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6);

  int concept = index.data(ConceptGalleryModel::ConceptRole).toInt();
  paintPatches(p, option, concept);

  // Text block under the strip; the pin star sits at the right of the title line.
  QFontMetrics fm = option.fontMetrics;
  int x = card.left() + kPad, w = card.width() - 2 * kPad;
  int y = card.top() + kPad + kPatchSide + 6;
  QFont bold = option.font;
  bold.setBold(true);
  p->setFont(bold);
  p->setPen(pal.color(QPalette::Text));
  QString title = QFontMetrics(bold).elidedText(index.data(Qt::DisplayRole).toString(),
                                                Qt::ElideRight, w - kPin - 4);
  p->drawText(QRect(x, y, w - kPin - 4, fm.height()), Qt::AlignLeft | Qt::AlignVCenter, title);
  p->setFont(option.font);
  bool pinned = index.data(ConceptGalleryModel::PinnedRole).toBool();
  p->setPen(pinned ? pal.color(QPalette::Highlight) : pal.color(QPalette::PlaceholderText));
  p->drawText(pinRect(card), Qt::AlignCenter, pinned ? QStringLiteral("★") : QStringLiteral("☆"));
  p->setPen(pal.color(QPalette::Text));
  y += fm.height() + 2;
  QString fires = index.data(ConceptGalleryModel::FiresRole).toString();
  QString warning = index.data(ConceptGalleryModel::WarningRole).toString();
  if (!warning.isEmpty()) {  // a badge in place of the frequency: not (reliably) a concept
    fires = warning;
    p->setPen(badColour(pal));
  }
  p->drawText(QRect(x, y, w, fm.height()), Qt::AlignLeft,
              fm.elidedText(fires, Qt::ElideRight, w));
  y += fm.height() + 2;
  p->setPen(pal.color(QPalette::PlaceholderText));  // secondary, still readable in both themes
  QString classes = index.data(ConceptGalleryModel::ClassesRole).toString();
  p->drawText(QRect(x, y, w, fm.height()), Qt::AlignLeft,
              fm.elidedText(classes, Qt::ElideRight, w));
  p->restore();
}

void ConceptCardDelegate::paintPatches(QPainter* p, const QStyleOptionViewItem& option,
                                       int concept) const {
  const auto& session = mModel.session();
  if (!session || concept < 0) return;
  const auto& top = session->concept(concept).top;
  // Crops are made for the screen the view is on, so they stay sharp on high-DPI displays.
  qreal dpr = option.widget ? option.widget->devicePixelRatioF() : p->device()->devicePixelRatioF();
  QRect card = option.rect.adjusted(2, 2, -2, -2);
  for (int i = 0; i < kPatches; ++i) {
    QRect r = patchRect(card, i);
    if (size_t(i) >= top.size()) {  // fewer top patches than slots: an empty frame
      p->setPen(QPen(option.palette.color(QPalette::Mid), 1, Qt::DotLine));
      p->setBrush(Qt::NoBrush);
      p->drawRect(r);
      continue;
    }
    QPixmap pix = mImages.patch(top[size_t(i)].image, top[size_t(i)].row, top[size_t(i)].col,
                                kPatchSide, dpr);
    if (pix.isNull()) {  // still decoding
      p->fillRect(r, option.palette.color(QPalette::Midlight));
      continue;
    }
    QSize s = (QSizeF(pix.size()) / pix.devicePixelRatio()).toSize();
    QRect target(QPoint(0, 0), s);
    target.moveCenter(r.center());
    p->drawPixmap(target, pix);
  }
}

bool ConceptCardDelegate::editorEvent(QEvent* event, QAbstractItemModel* model,
                                      const QStyleOptionViewItem& option,
                                      const QModelIndex& index) {
  auto type = event->type();
  if (type == QEvent::MouseButtonPress || type == QEvent::MouseButtonRelease ||
      type == QEvent::MouseButtonDblClick) {
    auto* mouse = static_cast<QMouseEvent*>(event);
    if (mouse->button() == Qt::LeftButton &&
        pinRect(option.rect.adjusted(2, 2, -2, -2)).contains(mouse->position().toPoint())) {
      if (type == QEvent::MouseButtonRelease)
        Q_EMIT pinToggled(index.data(ConceptGalleryModel::ConceptRole).toInt());
      return true;  // the star toggles the pin, it does not select or open the card
    }
  }
  return QStyledItemDelegate::editorEvent(event, model, option, index);
}

bool ConceptCardDelegate::helpEvent(QHelpEvent* event, QAbstractItemView* view,
                                    const QStyleOptionViewItem& option, const QModelIndex& index) {
  const auto& session = mModel.session();
  QRect card = option.rect.adjusted(2, 2, -2, -2);
  if (event->type() == QEvent::ToolTip && session && index.isValid()) {
    int concept = index.data(ConceptGalleryModel::ConceptRole).toInt();
    const auto& top = session->concept(concept).top;
    for (int i = 0; i < kPatches && size_t(i) < top.size(); ++i) {
      if (!patchRect(card, i).contains(event->pos())) continue;
      const TopPatchInfo& t = top[size_t(i)];
      QToolTip::showText(event->globalPos(),
                         tr("%1\nscore %2 at row %3, column %4")
                             .arg(QString::fromStdString(session->imageName(size_t(t.image))))
                             .arg(double(t.score), 0, 'g', 3)
                             .arg(t.row)
                             .arg(t.col),
                         view);
      return true;
    }
    if (pinRect(card).contains(event->pos())) {
      QToolTip::showText(event->globalPos(), tr("Pin: pinned concepts come first"), view);
      return true;
    }
  }
  return QStyledItemDelegate::helpEvent(event, view, option, index);
}

}  // namespace dx::ui

#pragma once
// Paints one concept of the gallery as a card: a strip of its top 4 patches, its name, how
// often it fires and its 2 strongest classes, with a pin toggle (star) in the corner. Painting
// only reads prepared texts and cached pixmaps, so thousands of cards scroll smoothly; missing
// crops are asked from the PatchImageCache and appear when decoded.
#include <QStyledItemDelegate>

namespace dx::ui {

class ConceptGalleryModel;
class PatchImageCache;

class ConceptCardDelegate : public QStyledItemDelegate {
  Q_OBJECT
 public:
  static constexpr int kPatches = 4;
  static constexpr int kPatchSide = 56;  // logical pixels

  ConceptCardDelegate(const ConceptGalleryModel& model, PatchImageCache& images,
                      QObject* parent = nullptr);

  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;
  bool editorEvent(QEvent* event, QAbstractItemModel* model, const QStyleOptionViewItem& option,
                   const QModelIndex& index) override;
  bool helpEvent(QHelpEvent* event, QAbstractItemView* view, const QStyleOptionViewItem& option,
                 const QModelIndex& index) override;

 Q_SIGNALS:
  void pinToggled(int concept);

 private:
  QRect patchRect(const QRect& card, int i) const;
  QRect pinRect(const QRect& card) const;
  void paintPatches(QPainter* p, const QStyleOptionViewItem& option, int concept) const;

  const ConceptGalleryModel& mModel;
  PatchImageCache& mImages;
};

}  // namespace dx::ui

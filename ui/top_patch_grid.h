#pragma once
// One page of a concept's top patches: each tile is the whole network-view image with the patch
// box drawn on it, so one sees what the concept fires on and in which context. Hover for the
// image's name, score and classes; click to open the image.
#include <QWidget>
#include <memory>
#include <vector>

#include "analysis/concept_session.h"

namespace dx::ui {

class PatchImageCache;

class TopPatchGrid : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kTile = 120;  // logical pixels
  explicit TopPatchGrid(PatchImageCache& images, QWidget* parent = nullptr);

  void setSession(std::shared_ptr<const ConceptSession> session);
  // The patches of this page; `firstRank` is the rank (0-based) of the first one.
  void setPatches(std::vector<TopPatchInfo> patches, int firstRank);

  QSize sizeHint() const override;
  bool hasHeightForWidth() const override { return true; }
  int heightForWidth(int width) const override;

 Q_SIGNALS:
  void imageActivated(qint64 image);

 protected:
  bool event(QEvent* event) override;
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  int columns(int width) const;
  QRect tileRect(int i) const;  // image square; the score line is under it
  int tileAt(const QPoint& pos) const;
  void paintTile(QPainter& p, int i);
  QString tooltip(int i) const;

  PatchImageCache& mImages;
  std::shared_ptr<const ConceptSession> mSession;
  std::vector<TopPatchInfo> mPatches;
  int mFirstRank = 0;
  int mHovered = -1;
};

}  // namespace dx::ui

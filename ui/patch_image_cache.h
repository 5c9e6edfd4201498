#pragma once
// Pictures of a concept session's images for the concept views: the crop a top patch looks at,
// or a whole network-view image. Views ask from their paint code; a hit returns the pixmap, a
// miss returns a null pixmap and schedules the decoding on the app's task lane (task_lane.h),
// and `ready()` asks the views to repaint. The GUI thread never decodes an image, so scrolling
// thousands of concept cards stays fluid.
//
// Requires: the session's const image()/patchBox() may be called from one worker thread while
// the GUI thread reads the session (they only read).
#include <QCache>
#include <QObject>
#include <QPixmap>
#include <QSet>
#include <memory>

#include "task_lane.h"

namespace dx {
class ConceptSession;
}

namespace dx::ui {

class PatchImageCache : public QObject {
  Q_OBJECT
 public:
  explicit PatchImageCache(QObject* parent = nullptr);
  ~PatchImageCache() override;
  void setTasks(app::TaskLane* lane) { mTasks = lane; }  // where crops are decoded

  // Drops everything cached and pending; nullptr = no session.
  void setSession(std::shared_ptr<const ConceptSession> session);

  // The crop of `image` at map position (row, col), fitted in side x side logical pixels and
  // rendered for `devicePixelRatio`. Null until ready (then a grey tile if the image could not
  // be read, so views do not ask again).
  QPixmap patch(qint64 image, int row, int col, int side, qreal devicePixelRatio);
  // The whole network view of `image`, same rules.
  QPixmap fullImage(qint64 image, int side, qreal devicePixelRatio);

 Q_SIGNALS:
  // Something asked for became available (or the queue was trimmed): repaint.
  void ready();

 private:
  QPixmap lookup(qint64 image, int row, int col, int side, qreal devicePixelRatio);
  void arrived(quint64 generation, const QString& key, const QImage& image, qreal dpr, int px);

  std::shared_ptr<const ConceptSession> mSession;
  QCache<QString, QPixmap> mPixmaps{64 * 1024};  // cost in KiB: 64 MiB
  QSet<QString> mPending;
  app::TaskLane* mTasks = nullptr;
  quint64 mGeneration = 0;
  int mNextPriority = 0;
};

}  // namespace dx::ui

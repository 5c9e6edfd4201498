#pragma once
// List model of the images of the workbench: a thumbnail of what the network sees, the true
// label and, once activations are extracted, the prediction with its probability (wrong ones
// in red). Thumbnails are decoded on the app's task lane and cached, so scrolling a folder of
// any size never blocks the GUI thread.
#include <QAbstractListModel>
#include <QCache>
#include <QHash>
#include <QImage>
#include <QSet>
#include <memory>

#include "activations/activation_cache.h"
#include "data/image_source.h"
#include "model/model_meta.h"
#include "task_lane.h"

namespace dx::ui {

class ThumbnailModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum Role { PredictionRole = Qt::UserRole + 1, LabelRole, CorrectRole };
  explicit ThumbnailModel(QObject* parent = nullptr);
  ~ThumbnailModel() override;
  void setTasks(app::TaskLane* lane) { mTasks = lane; }  // where thumbnails are decoded

  // Images without predictions (before extraction).
  void setImages(ImageSourcePtr source, const InputSpec& spec);
  // Rows become the cache's images, with their predictions.
  void setActivations(std::shared_ptr<const ActivationCache> cache);
  void clear();
  int thumbnailSize() const { return mSize; }
  int pendingThumbnails() const { return mPending.size(); }

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;

 private:
  struct Row {
    size_t sourceIndex;
    QString name, label, prediction;
    float probability;
    int correct;  // 1 right, 0 wrong, -1 unknown (no label or no prediction)
  };
  void requestThumbnail(int row) const;
  void thumbnailReady(quint64 generation, int row, const QImage& image);
  Row rowFromCache(size_t i) const;

  ImageSourcePtr mSource;
  InputSpec mSpec;
  std::shared_ptr<const ActivationCache> mCache;
  std::vector<Row> mRows;
  QHash<QString, size_t> mSourceIndex;  // item name -> source index
  mutable QCache<int, QImage> mThumbnails{4000};
  mutable QSet<int> mPending;
  app::TaskLane* mTasks = nullptr;
  quint64 mGeneration = 0;
  int mSize = 96;
  QImage mPlaceholder;
};

}  // namespace dx::ui

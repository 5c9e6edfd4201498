#pragma once
// Table model of the images the network gets wrong (true class known and != predicted class):
// thumbnail and name, true class, predicted class, confidence in the wrong class. Filterable by
// true and predicted class, sortable by any column. Thumbnails are decoded on a background
// thread and cached by image, so neither scrolling nor refiltering blocks the GUI thread.
#include <QAbstractTableModel>
#include <QCache>
#include <QImage>
#include <QSet>
#include <memory>
#include <vector>

#include "task_lane.h"

namespace dx {
class ConceptSession;
}

namespace dx::ui {

class MisclassifiedModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { ImageColumn, TrueColumn, PredictedColumn, ConfidenceColumn, ColumnCount };
  enum Role { ImageRole = Qt::UserRole + 1 };  // qint64: the session's image index

  explicit MisclassifiedModel(QObject* parent = nullptr);
  ~MisclassifiedModel() override;
  void setTasks(app::TaskLane* lane) { mTasks = lane; }  // where thumbnails are decoded

  // Lists the session's misclassified images (nullptr: none). Runs on the calling thread: one
  // pass over the cached predictions, no image is decoded.
  void setSession(std::shared_ptr<const ConceptSession> session);
  // -1 = any class.
  void setFilter(int64_t trueClass, int64_t predictedClass);
  // Side of the thumbnails in logical pixels and the screen's device pixel ratio (sharp on HiDPI).
  void setThumbnailSize(int side, qreal devicePixelRatio);

  int total() const { return int(mAll.size()); }    // misclassified images, unfiltered
  int labelled() const { return int(mLabelled); }    // images with a known true class
  // Misclassified images per true class and per predicted class (for the filter menus).
  std::vector<int> countByTrueClass() const;
  std::vector<int> countByPredictedClass() const;
  qint64 imageAt(int row) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
  void sort(int column, Qt::SortOrder order) override;

 private:
  struct Item {
    qint64 image;
    int64_t truth, predicted;
    float confidence, trueProbability;
    QString name;
  };
  void requestThumbnail(qint64 image) const;
  void thumbnailReady(quint64 generation, qint64 image, const QImage& thumbnail);
  void resort();

  std::shared_ptr<const ConceptSession> mSession;
  std::vector<Item> mAll;
  std::vector<size_t> mShown;  // indices into mAll, filtered and sorted
  size_t mLabelled = 0;
  int64_t mTrueFilter = -1, mPredictedFilter = -1;
  int mSortColumn = ConfidenceColumn;
  Qt::SortOrder mSortOrder = Qt::DescendingOrder;
  int mSide = 48;
  qreal mDpr = 1;
  mutable QCache<qint64, QImage> mThumbnails{2000};
  mutable QSet<qint64> mPending;
  app::TaskLane* mTasks = nullptr;
  quint64 mGeneration = 0;
};

}  // namespace dx::ui

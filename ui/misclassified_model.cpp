#include "misclassified_model.h"

#include <QMetaObject>
#include <algorithm>

#include "analysis/concept_session.h"
#include "view_support.h"

namespace dx::ui {

MisclassifiedModel::MisclassifiedModel(QObject* parent) : QAbstractTableModel(parent) {}

MisclassifiedModel::~MisclassifiedModel() {
  if (mTasks) mTasks->cancel(this);
}

void MisclassifiedModel::setSession(std::shared_ptr<const ConceptSession> session) {
  beginResetModel();
  ++mGeneration;  // thumbnails still decoding belong to the old session
  if (mTasks) mTasks->cancel(this);
  mThumbnails.clear();
  mPending.clear();
  mSession = std::move(session);
  mAll.clear();
  mLabelled = 0;
  mTrueFilter = mPredictedFilter = -1;
  if (mSession) {
    for (size_t i = 0; i < mSession->images(); ++i) {
      const int64_t truth = mSession->trueClass(i), predicted = mSession->predictedClass(i);
      if (truth < 0) continue;
      ++mLabelled;
      if (truth == predicted) continue;
      const std::vector<float> p = mSession->probabilities(i);  // only for the wrong ones
      auto at = [&p](int64_t k) { return k >= 0 && size_t(k) < p.size() ? p[size_t(k)] : 0.f; };
      mAll.push_back({qint64(i), truth, predicted, at(predicted), at(truth),
                      QString::fromStdString(mSession->imageName(i))});
    }
  }
  resort();
  endResetModel();
}

void MisclassifiedModel::setFilter(int64_t trueClass, int64_t predictedClass) {
  beginResetModel();
  mTrueFilter = trueClass;
  mPredictedFilter = predictedClass;
  resort();
  endResetModel();
}

void MisclassifiedModel::setThumbnailSize(int side, qreal devicePixelRatio) {
  if (side == mSide && qFuzzyCompare(devicePixelRatio, mDpr)) return;
  beginResetModel();
  ++mGeneration;
  mSide = side;
  mDpr = devicePixelRatio;
  mThumbnails.clear();
  mPending.clear();
  endResetModel();
}

std::vector<int> MisclassifiedModel::countByTrueClass() const {
  std::vector<int> n(mSession ? mSession->classes().size() : 0, 0);
  for (const Item& item : mAll)
    if (size_t(item.truth) < n.size()) ++n[size_t(item.truth)];
  return n;
}

std::vector<int> MisclassifiedModel::countByPredictedClass() const {
  std::vector<int> n(mSession ? mSession->classes().size() : 0, 0);
  for (const Item& item : mAll)
    if (size_t(item.predicted) < n.size()) ++n[size_t(item.predicted)];
  return n;
}

qint64 MisclassifiedModel::imageAt(int row) const {
  return row >= 0 && row < rowCount() ? mAll[mShown[size_t(row)]].image : -1;
}

// Rebuilds mShown from the filter and the sort; callers wrap it in a model reset.
void MisclassifiedModel::resort() {
  mShown.clear();
  for (size_t i = 0; i < mAll.size(); ++i)
    if ((mTrueFilter < 0 || mAll[i].truth == mTrueFilter) &&
        (mPredictedFilter < 0 || mAll[i].predicted == mPredictedFilter))
      mShown.push_back(i);
  auto key = [this](const Item& a, const Item& b) {
    switch (mSortColumn) {
      case ImageColumn: return a.image < b.image;
      case TrueColumn: return a.truth < b.truth;
      case PredictedColumn: return a.predicted < b.predicted;
      default: return a.confidence < b.confidence;
    }
  };
  std::stable_sort(mShown.begin(), mShown.end(), [&](size_t a, size_t b) {
    return mSortOrder == Qt::AscendingOrder ? key(mAll[a], mAll[b]) : key(mAll[b], mAll[a]);
  });
}

void MisclassifiedModel::sort(int column, Qt::SortOrder order) {
  Q_EMIT layoutAboutToBeChanged();
  mSortColumn = column;
  mSortOrder = order;
  const QModelIndexList before = persistentIndexList();
  std::vector<qint64> images;
  for (const QModelIndex& i : before) images.push_back(imageAt(i.row()));
  resort();
  QModelIndexList after;  // keep the selection on the same images
  for (size_t n = 0; n < images.size(); ++n) {
    int row = -1;
    for (int r = 0; r < rowCount() && row < 0; ++r)
      if (imageAt(r) == images[n]) row = r;
    after << (row < 0 ? QModelIndex() : index(row, before[int(n)].column()));
  }
  changePersistentIndexList(before, after);
  Q_EMIT layoutChanged();
}

int MisclassifiedModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(mShown.size());
}

int MisclassifiedModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant MisclassifiedModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const Item& item = mAll[mShown[size_t(index.row())]];
  if (role == ImageRole) return item.image;
  if (role == Qt::ToolTipRole)
    return tr("%1\ntrue: %2 (%3%)\npredicted: %4 (%5%)\nDouble-click to open the image")
        .arg(item.name, className(*mSession, item.truth))
        .arg(100.0 * item.trueProbability, 0, 'f', 1)
        .arg(className(*mSession, item.predicted))
        .arg(100.0 * item.confidence, 0, 'f', 1);
  switch (index.column()) {
    case ImageColumn:
      if (role == Qt::DisplayRole) return item.name;
      if (role == Qt::DecorationRole) {
        if (QImage* img = mThumbnails.object(item.image)) return *img;
        requestThumbnail(item.image);
      }
      return {};
    case TrueColumn: return role == Qt::DisplayRole ? className(*mSession, item.truth) : QVariant();
    case PredictedColumn:
      return role == Qt::DisplayRole ? className(*mSession, item.predicted) : QVariant();
    case ConfidenceColumn:
      if (role == Qt::DisplayRole)
        return QStringLiteral("%1%").arg(100.0 * item.confidence, 0, 'f', 1);
      if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    default: return {};
  }
}

QVariant MisclassifiedModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case ImageColumn: return tr("Image");
    case TrueColumn: return tr("True class");
    case PredictedColumn: return tr("Predicted");
    case ConfidenceColumn: return tr("Confidence");
    default: return {};
  }
}

void MisclassifiedModel::requestThumbnail(qint64 image) const {
  if (mPending.contains(image) || !mSession) return;
  mPending.insert(image);
  auto session = mSession;  // the worker keeps the session alive on its own
  const quint64 generation = mGeneration;
  const int pixels = int(mSide * mDpr);
  const qreal dpr = mDpr;
  auto* self = const_cast<MisclassifiedModel*>(this);
  auto decode = [self, session, generation, image, pixels, dpr](const CancelToken&) {
    // Assumes ConceptSession's const image() may run beside the GUI thread's calls (its image
    // source must be thread-safe, ImageSource::load says so).
    QImage img = imageFromMat(session->image(size_t(image)));
    if (!img.isNull()) {
      const bool tiny = std::max(img.width(), img.height()) < pixels;  // crisp pixels for MNIST
      img = img.scaled(pixels, pixels, Qt::KeepAspectRatio,
                       tiny ? Qt::FastTransformation : Qt::SmoothTransformation);
      img.setDevicePixelRatio(dpr);
    }
    return std::function<void()>([self, generation, image, img] {
      self->thumbnailReady(generation, image, img);
    });
  };
  // Cancelled (Esc): forget the request, so the next paint asks again.
  auto dropped = [self, generation, image] {
    if (generation == self->mGeneration) self->mPending.remove(image);
  };
  app::TaskLane::post(mTasks, self, tr("Decoding thumbnails"), decode, 0, dropped);
}

void MisclassifiedModel::thumbnailReady(quint64 generation, qint64 image, const QImage& thumbnail) {
  if (generation != mGeneration) return;
  mPending.remove(image);
  QImage shown = thumbnail;
  if (shown.isNull()) {  // images not opened or unreadable: a grey tile, and no retry loop
    shown = QImage(QSize(mSide, mSide) * mDpr, QImage::Format_RGB32);
    shown.fill(QColor(128, 128, 128));
    shown.setDevicePixelRatio(mDpr);
  }
  mThumbnails.insert(image, new QImage(shown));
  for (int r = 0; r < rowCount(); ++r)
    if (imageAt(r) == image) {
      const QModelIndex i = index(r, ImageColumn);
      Q_EMIT dataChanged(i, i, {Qt::DecorationRole});
    }
}

}  // namespace dx::ui

#include "thumbnail_model.h"

#include <QColor>
#include <QSize>
#include <QMetaObject>
#include <QPointer>
#include <cmath>

#include "model/preprocess.h"
#include "view_support.h"

namespace dx::ui {
namespace {

// Softmax probability of the predicted class from a row of logits.
float topProbability(const float* logits, size_t k, size_t predicted) {
  float mx = logits[0];
  for (size_t i = 1; i < k; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) sum += std::exp(double(logits[i] - mx));
  return static_cast<float>(std::exp(double(logits[predicted] - mx)) / sum);
}

}  // namespace

ThumbnailModel::ThumbnailModel(QObject* parent) : QAbstractListModel(parent) {
  mPlaceholder = QImage(mSize, mSize, QImage::Format_RGB888);
  mPlaceholder.fill(QColor(200, 200, 200));
}

ThumbnailModel::~ThumbnailModel() {
  if (mTasks) mTasks->cancel(this);
}

void ThumbnailModel::clear() {
  beginResetModel();
  ++mGeneration;
  if (mTasks) mTasks->cancel(this);  // queued decodes are for the old rows
  mRows.clear();
  mThumbnails.clear();
  mPending.clear();
  mCache.reset();
  endResetModel();
}

void ThumbnailModel::setImages(ImageSourcePtr source, const InputSpec& spec) {
  beginResetModel();
  ++mGeneration;
  if (mTasks) mTasks->cancel(this);  // queued decodes are for the old rows
  mSource = std::move(source);
  mSpec = spec;
  mCache.reset();
  mThumbnails.clear();
  mPending.clear();
  mRows.clear();
  mSourceIndex.clear();
  if (mSource) {
    for (size_t i = 0; i < mSource->size(); ++i) {
      QString name = QString::fromStdString(mSource->itemName(i));
      mSourceIndex.insert(name, i);
      int label = mSource->label(i);
      QString labelName = label >= 0 ? QString::fromStdString(mSource->classNames()[size_t(label)]) : QString();
      mRows.push_back({i, name, labelName, {}, 0.f, -1});
    }
  }
  endResetModel();
}

ThumbnailModel::Row ThumbnailModel::rowFromCache(size_t i) const {
  QString name = QString::fromStdString(mCache->files()[i]);
  int64_t label = mCache->label(i), predicted = mCache->prediction(i);
  QString labelName = label >= 0 && size_t(label) < mCache->labelClasses().size()
                          ? QString::fromStdString(mCache->labelClasses()[size_t(label)])
                          : QString();
  QString predName = QString::fromStdString(mCache->classes()[size_t(predicted)]);
  const auto* logits = reinterpret_cast<const float*>(mCache->logits().row(i));
  float p = topProbability(logits, mCache->classes().size(), size_t(predicted));
  int correct = labelName.isEmpty() ? -1 : (labelName == predName ? 1 : 0);
  return {mSourceIndex.value(name, 0), name, labelName, predName, p, correct};
}

void ThumbnailModel::setActivations(std::shared_ptr<const ActivationCache> cache) {
  if (!cache || !mSource) return;
  beginResetModel();
  ++mGeneration;
  if (mTasks) mTasks->cancel(this);  // queued decodes are for the old rows
  mCache = std::move(cache);
  mThumbnails.clear();
  mPending.clear();
  mRows.clear();
  for (size_t i = 0; i < mCache->size(); ++i) mRows.push_back(rowFromCache(i));
  endResetModel();
}

int ThumbnailModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(mRows.size());
}

QVariant ThumbnailModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const Row& r = mRows[size_t(index.row())];
  switch (role) {
    case Qt::DisplayRole: {
      QString text = r.label.isEmpty() ? QStringLiteral("(no label)") : r.label;
      if (!r.prediction.isEmpty())
        text += QStringLiteral("\n→ %1 %2%").arg(r.prediction).arg(std::lround(r.probability * 100));
      return text;
    }
    case Qt::DecorationRole:
      if (QImage* img = mThumbnails.object(index.row())) return *img;
      requestThumbnail(index.row());
      return mPlaceholder;  // full size, so the view lays items out right before decoding ends
    case Qt::ForegroundRole:
      if (r.correct == 0) return QColor(200, 40, 40);
      return {};
    case Qt::ToolTipRole:
      return QStringLiteral("%1\ntrue: %2\npredicted: %3 (%4%)")
          .arg(r.name, r.label.isEmpty() ? QStringLiteral("-") : r.label,
               r.prediction.isEmpty() ? QStringLiteral("not yet") : r.prediction)
          .arg(std::lround(r.probability * 100));
    case Qt::SizeHintRole:  // room for "→ Ankle boot 100%" under the thumbnail
      return QSize(mSize + 60, mSize + 40);
    case PredictionRole: return r.prediction;
    case LabelRole: return r.label;
    case CorrectRole: return r.correct;
    default: return {};
  }
}

void ThumbnailModel::requestThumbnail(int row) const {
  if (mPending.contains(row) || !mSource) return;
  mPending.insert(row);
  auto source = mSource;
  auto spec = mSpec;
  size_t index = mRows[size_t(row)].sourceIndex;
  quint64 generation = mGeneration;
  int size = mSize;
  auto* self = const_cast<ThumbnailModel*>(this);
  auto decode = [self, source, spec, index, generation, row, size](const CancelToken&) {
    QImage img;
    try {
      img = imageFromMat(networkView(source->load(index), spec));
    } catch (const std::exception&) {
      // Unreadable: thumbnailReady shows a grey tile; extraction reports the file itself.
    }
    if (!img.isNull()) img = img.scaled(size, size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return std::function<void()>([self, generation, row, img] {
      self->thumbnailReady(generation, row, img);
    });
  };
  // Cancelled (Esc): forget the request, so the next paint asks again.
  auto dropped = [self, generation, row] {
    if (generation != self->mGeneration) return;
    self->mPending.remove(row);
    QModelIndex i = self->index(row);
    Q_EMIT self->dataChanged(i, i, {Qt::DecorationRole});
  };
  app::TaskLane::post(mTasks, self, tr("Decoding thumbnails"), decode, 0, dropped);
}

void ThumbnailModel::thumbnailReady(quint64 generation, int row, const QImage& image) {
  if (generation != mGeneration) return;  // the rows changed meanwhile
  mPending.remove(row);
  QImage shown = image;
  if (shown.isNull()) {  // unreadable: a grey tile rather than a hole
    shown = QImage(mSize, mSize, QImage::Format_RGB888);
    shown.fill(QColor(90, 90, 90));
  }
  mThumbnails.insert(row, new QImage(shown));
  QModelIndex i = index(row);
  Q_EMIT dataChanged(i, i, {Qt::DecorationRole});
}

}  // namespace dx::ui

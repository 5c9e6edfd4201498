#include "patch_image_cache.h"

#include <QImage>
#include <QPainter>
#include <QPointer>
#include <algorithm>
#include <limits>

#include "analysis/concept_session.h"
#include "view_support.h"

namespace dx::ui {
namespace {

// More pending decodes than this means the user scrolled past most of them: drop the queue,
// and the views ask again for what is visible now.
constexpr int kMaxPending = 256;

// A patch alone is often a few pixels of texture; twice its size around it shows what it is
// part of, with the patch itself outlined.
cv::Rect withContext(const cv::Rect& box, const cv::Size& image) {
  int side = std::max({box.width, box.height}) * 2;
  side = std::min({std::max(side, std::min(image.width, image.height) / 2), image.width, image.height});
  int x = std::clamp(box.x + box.width / 2 - side / 2, 0, image.width - side);
  int y = std::clamp(box.y + box.height / 2 - side / 2, 0, image.height - side);
  return {x, y, side, side};
}

// Runs on the worker thread. row < 0 means the whole image.
QImage render(const ConceptSession& session, qint64 image, int row, int col, int px) {
  cv::Mat m = session.image(static_cast<size_t>(image));
  if (m.empty()) return {};
  cv::Rect box, context(0, 0, m.cols, m.rows);
  if (row >= 0) {
    box = session.patchBox(row, col) & context;
    if (box.empty()) return {};
    context = withContext(box, m.size());
    m = m(context);
  }
  QImage q = imageFromMat(m);  // BGR or gray, as session->image() returns
  if (q.isNull()) return {};
  // Small patches magnified a lot stay pixel-sharp: blurring them would invent detail.
  bool magnified = q.width() * 2 <= px && q.height() * 2 <= px;
  QImage scaled = q.scaled(px, px, Qt::KeepAspectRatio,
                           magnified ? Qt::FastTransformation : Qt::SmoothTransformation)
                      .convertToFormat(QImage::Format_RGB32);
  if (row >= 0) {
    double f = double(scaled.width()) / context.width;
    QPainter painter(&scaled);
    painter.setPen(QPen(QColor(255, 196, 0), std::max(1.0, px / 40.0)));
    painter.drawRect(QRectF((box.x - context.x) * f, (box.y - context.y) * f, box.width * f,
                            box.height * f).adjusted(0.5, 0.5, -0.5, -0.5));
  }
  return scaled;
}

QString keyOf(qint64 image, int row, int col, int px) {
  return QStringLiteral("%1:%2:%3:%4").arg(image).arg(row).arg(col).arg(px);
}

}  // namespace

PatchImageCache::PatchImageCache(QObject* parent) : QObject(parent) {}

PatchImageCache::~PatchImageCache() {
  if (mTasks) mTasks->cancel(this);
}

void PatchImageCache::setSession(std::shared_ptr<const ConceptSession> session) {
  if (mTasks) mTasks->cancel(this);  // decodes of the old session
  ++mGeneration;  // results of running ones are ignored on arrival
  mSession = std::move(session);
  mPixmaps.clear();
  mPending.clear();
}

QPixmap PatchImageCache::patch(qint64 image, int row, int col, int side, qreal dpr) {
  return lookup(image, std::max(row, 0), std::max(col, 0), side, dpr);
}

QPixmap PatchImageCache::fullImage(qint64 image, int side, qreal dpr) {
  return lookup(image, -1, -1, side, dpr);
}

QPixmap PatchImageCache::lookup(qint64 image, int row, int col, int side, qreal dpr) {
  if (!mSession || image < 0 || static_cast<size_t>(image) >= mSession->images()) return {};
  int px = std::max(1, qRound(side * dpr));
  QString key = keyOf(image, row, col, px);
  if (QPixmap* hit = mPixmaps.object(key)) return *hit;
  if (mPending.contains(key)) return {};
  if (mPending.size() >= kMaxPending) {
    if (mTasks) mTasks->cancel(this);
    mPending.clear();
    // What this paint asked for before the trim was dropped too: ask the views to repaint.
    QMetaObject::invokeMethod(this, &PatchImageCache::ready, Qt::QueuedConnection);
  }
  mPending.insert(key);
  auto session = mSession;
  quint64 generation = mGeneration;
  // Newest first: what is on screen now matters more than what was on screen a second ago.
  if (mNextPriority == std::numeric_limits<int>::max()) mNextPriority = 0;
  auto decode = [this, session, generation, key, image, row, col, px, dpr](const CancelToken&) {
    QImage q;
    try {
      q = render(*session, image, row, col, px);
    } catch (const std::exception&) {
      // An unreadable file becomes a grey tile; the views have nothing better to say.
    }
    return std::function<void()>([this, generation, key, q, dpr, px] {
      arrived(generation, key, q, dpr, px);
    });
  };
  // Cancelled (Esc): forget the request; views repaint later and ask again.
  auto dropped = [this, generation, key] {
    if (generation == mGeneration) mPending.remove(key);
  };
  app::TaskLane::post(mTasks, this, tr("Decoding patch crops"), decode, ++mNextPriority, dropped);
  return {};
}

void PatchImageCache::arrived(quint64 generation, const QString& key, const QImage& image,
                              qreal dpr, int px) {
  if (generation != mGeneration) return;  // from a session that is gone
  mPending.remove(key);
  QPixmap pixmap;
  if (image.isNull()) {
    pixmap = QPixmap(px, px);
    pixmap.fill(QColor(128, 128, 128, 90));  // half-transparent: readable on light and dark
  } else {
    pixmap = QPixmap::fromImage(image);
  }
  pixmap.setDevicePixelRatio(dpr);
  int cost = std::max(1, pixmap.width() * pixmap.height() * 4 / 1024);
  mPixmaps.insert(key, new QPixmap(pixmap), cost);
  Q_EMIT ready();
}

}  // namespace dx::ui

#include "workbench.h"

#include <utility>

#include "demo.h"
#include "extractor.h"
#include "source_factory.h"

namespace cs::app {

Workbench::Workbench(QObject* parent)
    : QObject(parent), mCacheRoot(QString::fromStdString(defaultCacheRoot())) {
  // Continuations run on the GUI thread, after the job ended.
  connect(&mRunner, &JobRunner::finished, this, [this] {
    auto next = std::exchange(mOnDone, {});
    if (next) next();
  });
  connect(&mRunner, &JobRunner::failed, this, [this](const QString& title, const QString& msg) {
    mOnDone = {};
    mDemoPending = false;
    Q_EMIT error(title + " failed:\n" + msg);
  });
  connect(&mRunner, &JobRunner::cancelled, this, [this] {
    mOnDone = {};
    mDemoPending = false;
  });
}

QStringList Workbench::layerNames() const {
  QStringList names;
  if (mModel)
    for (const auto& l : mModel->meta().layers) names << QString::fromStdString(l.name);
  return names;
}

void Workbench::startIfIdle(const QString& title, JobRunner::Job job,
                            std::function<void()> onDone) {
  if (mRunner.busy()) {
    Q_EMIT error(mRunner.title() + " is still running; wait for it or cancel it first.");
    return;
  }
  mOnDone = std::move(onDone);
  mRunner.start(title, std::move(job));
}

void Workbench::openModel(const QString& path) {
  auto loaded = std::make_shared<std::shared_ptr<ConceptModel>>();
  std::string file = path.toStdString();
  startIfIdle(tr("Loading model %1").arg(path),
              [loaded, file](const ProgressSink&, const CancelToken&) {
                *loaded = ConceptModel::load(file);
              },
              [this, path, loaded] { afterModelLoaded(path, *loaded); });
}

void Workbench::afterModelLoaded(const QString& path, std::shared_ptr<ConceptModel> model) {
  mModel = std::move(model);
  mModelPath = path;
  mLayer = QString::fromStdString(mModel->meta().deepestLayer().name);
  mCache.reset();  // activations of another model no longer apply
  Q_EMIT changed(Change::Model);
  if (mDemoPending) openImages(QStringLiteral("fashion-mnist:test"));
  else if (mImages) extract();
}

void Workbench::openImages(const QString& spec) {
  auto opened = std::make_shared<ImageSourcePtr>();
  std::string s = spec.toStdString();
  startIfIdle(tr("Opening images %1").arg(spec),
              [opened, s](const ProgressSink&, const CancelToken&) { *opened = openImageSource(s); },
              [this, spec, opened] {
                mImages = *opened;
                mImagesSpec = spec;
                mCache.reset();
                Q_EMIT changed(Change::Images);
                if (mModel) extract();
              });
}

void Workbench::openDemo() {
  mDemoPending = true;
  try {
    openModel(QString::fromStdString(demoModelPath()));
  } catch (const UserError& e) {
    mDemoPending = false;
    Q_EMIT error(QString::fromStdString(e.what()));
  }
}

void Workbench::setLayer(const QString& layer) {
  if (layer == mLayer || !mModel) return;
  mLayer = layer;
  mCache.reset();
  Q_EMIT changed(Change::Layer);
  if (mImages) extract();
}

void Workbench::extract() {
  if (!mModel || !mImages) {
    Q_EMIT error(tr("Open a model and an image folder first."));
    return;
  }
  ExtractionRequest r;
  r.model = mModel;
  r.source = mImages;
  r.layer = mLayer.toStdString();
  std::string key = extractionKey(r);
  r.outDir = mCacheRoot.toStdString() + "/" + key;
  auto cache = std::make_shared<std::shared_ptr<ActivationCache>>();
  startIfIdle(tr("Extracting %1").arg(mLayer),
              [r, cache](const ProgressSink& progress, const CancelToken& cancel) {
                auto result = extractActivations(r, progress, cancel);
                *cache = std::make_shared<ActivationCache>(result.dir);
              },
              [this, cache] {
                mCache = *cache;
                Q_EMIT changed(Change::Activations);
                if (mDemoPending) {
                  mDemoPending = false;
                  Q_EMIT demoReady();
                }
              });
}

}  // namespace cs::app

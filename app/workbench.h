#pragma once
// The state of the open work (model, images, layer, activation cache) and the asynchronous
// operations on it. Widgets observe it through `changed` and call its slots; every slow step
// runs on the JobRunner so the GUI thread never blocks. Nothing computed is dropped on an error
// or a cancel: the previous model, images and cache stay in place.
#include <QObject>
#include <QString>
#include <QStringList>
#include <functional>
#include <memory>

#include "activation_cache.h"
#include "concept_model.h"
#include "image_source.h"
#include "job_runner.h"

namespace cs::app {

class Workbench : public QObject {
  Q_OBJECT
 public:
  enum class Change { Model, Images, Layer, Activations };
  Q_ENUM(Change)

  explicit Workbench(QObject* parent = nullptr);

  std::shared_ptr<const ConceptModel> model() const { return mModel; }
  ImageSourcePtr images() const { return mImages; }
  std::shared_ptr<const ActivationCache> activations() const { return mCache; }
  QString modelPath() const { return mModelPath; }
  QString imagesSpec() const { return mImagesSpec; }
  QString layer() const { return mLayer; }
  QStringList layerNames() const;
  JobRunner& runner() { return mRunner; }
  // Where caches go (default: cs::defaultCacheRoot()); tests point it at a temp folder.
  void setCacheRoot(const QString& dir) { mCacheRoot = dir; }

  // Asynchronous; each ends in `changed` or `error` (and the runner's signals).
  void openModel(const QString& path);
  void openImages(const QString& spec);  // folder or fashion-mnist[:train|:test]
  void openDemo();                       // demo model + Fashion-MNIST test, then extraction
  void setLayer(const QString& layer);
  void extract();                        // of the current layer; reuses a complete cache
  void cancel() { mRunner.cancel(); }

 Q_SIGNALS:
  void changed(cs::app::Workbench::Change what);
  void error(const QString& message);
  // Emitted after the demo is fully loaded (model, images, activations).
  void demoReady();

 private:
  void afterModelLoaded(const QString& path, std::shared_ptr<ConceptModel> model);
  void startIfIdle(const QString& title, JobRunner::Job job, std::function<void()> onDone);

  JobRunner mRunner;
  std::shared_ptr<const ConceptModel> mModel;
  ImageSourcePtr mImages;
  std::shared_ptr<const ActivationCache> mCache;
  QString mModelPath, mImagesSpec, mLayer, mCacheRoot;
  bool mDemoPending = false;
  std::function<void()> mOnDone;  // continuation of the running job on success
};

}  // namespace cs::app

#pragma once
// The state of the open work (model, images, layer, activation cache) and the asynchronous
// operations on it. Widgets observe it through `changed` and call its slots; every slow step
// runs on the JobRunner so the GUI thread never blocks. Nothing computed is dropped on an error
// or a cancel: the previous model, images and cache stay in place.
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include "activations/activation_cache.h"
#include "model/concept_model.h"
#include "analysis/concept_session.h"
#include "data/image_source.h"
#include "job_runner.h"
#include "task_lane.h"
#include "tcav/tcav_study.h"

namespace dx::app {

class Workbench : public QObject {
  Q_OBJECT
 public:
  enum class Change { Model, Images, Layer, Activations, Concepts, Labels, Tcav };
  Q_ENUM(Change)

  explicit Workbench(QObject* parent = nullptr);

  std::shared_ptr<const ConceptModel> model() const { return mModel; }
  ImageSourcePtr images() const { return mImages; }
  std::shared_ptr<const ActivationCache> activations() const { return mCache; }
  // Const: edits go through ProjectDocument, the one writer of the concept set.
  std::shared_ptr<const ConceptSession> concepts() const { return mConcepts; }
  const DiscoverySettings& discoverySettings() const { return mSettings; }
  QString modelPath() const { return mModelPath; }
  QString imagesSpec() const { return mImagesSpec; }
  QString layer() const { return mLayer; }
  // The last TCAV study (runTcav), null before one finished or after the model changed.
  std::shared_ptr<const TcavReport> tcavReport() const { return mTcavReport; }
  std::shared_ptr<const TcavStudy> tcavStudy() const { return mTcavStudy; }
  QStringList layerNames() const;
  JobRunner& runner() { return mRunner; }
  // The views' lane for short background work (task_lane.h).
  TaskLane& tasks() { return mTasks; }
  // Where caches go (default: dx::defaultCacheRoot()); tests point it at a temp folder.
  void setCacheRoot(const QString& dir) { mCacheRoot = dir; }

  // Asynchronous; each ends in `changed` or `error` (and the runner's signals).
  void openModel(const QString& path);
  // Opens `images` once the model has loaded (drag and drop of both at once).
  void openModelThenImages(const QString& model, const QString& images) {
    mPendingImages = images;
    openModel(model);
  }
  void openImages(const QString& spec);  // folder or fashion-mnist[:train|:test]
  void openDemo();                       // demo model + Fashion-MNIST test, then extraction
  // The second demo: the ConceptWorld CNN with its watermark shortcut, on the test split.
  void openConceptWorldDemo();
  // Forgets model, images, activations and concepts (File > New Project); caches stay on disk.
  void clear();
  // thenDiscover: discover these settings once the layer is extracted (an undo brings a
  // layer's concepts back).
  void setLayer(const QString& layer, std::optional<DiscoverySettings> thenDiscover = {});
  void extract();                        // of the current layer; reuses a complete cache
  // Concepts of the current activations with `settings`; reopens them from the cache folder
  // when this exact discovery ran before (nothing is recomputed).
  void discover(const DiscoverySettings& settings);
  // Forgets the concept set (undo of a first discovery); the files stay in the cache.
  void dropConcepts();
  // Names the concepts with INVERT (classes, ConceptWorld tags, an optional tags file); ends in
  // changed(Labels). Discovery already does this with the classes (and ConceptWorld's tags).
  // meanOverPositions: a concept's per-image score is the mean of its map, not the maximum.
  void labelConcepts(const QString& tagsCsv = {}, bool meanOverPositions = false);
  // Refits the concepts with `refits` other seeds and records each concept's seed stability
  // (discovery/concept_stability.h); ends in changed(Labels) and stabilityChecked().
  void checkStability(int refits = 2);
  // After every extraction, discover with the current settings (the demo, reopened projects).
  void setAutoDiscover(bool on) { mAutoDiscover = on; }
  // Stops every kind of background work: the running job and the views' tasks.
  void cancel() {
    mRunner.cancel();
    mTasks.cancelAll();
  }
  // TCAV (or SACV) scores of concept folders for one class (docs/methods.md 3); ends in
  // changed(Tcav). Fills what the request leaves empty: the model, the project's images as the
  // class images and, when the layer is the current one, the cache (nothing recomputed).
  void runTcav(TcavRequest request);

  // A project: model + images + layer + discovery settings (+ the GUI's own state, opaque
  // here). Saving writes a small JSON file; the heavy results stay in the cache folder.
  bool saveProject(const QString& path, const QJsonObject& uiState);
  void openProject(const QString& path);  // asynchronous; ends in changed(Concepts) or error
  QString projectPath() const { return mProjectPath; }
  QJsonObject projectUiState() const { return mUiState; }
  // The folder where the concepts of `settings` on the current activations are kept.
  QString conceptsDir(const DiscoverySettings& settings) const;

 Q_SIGNALS:
  void changed(dx::app::Workbench::Change what);
  void error(const QString& message);
  // Emitted after the demo is fully loaded (model, images, activations, concepts).
  void demoReady();
  void projectOpened(const QString& path);
  void stabilityChecked();

 private:
  friend class ProjectDocument;
  void afterModelLoaded(const QString& path, std::shared_ptr<ConceptModel> model);
  void afterExtraction();
  void openDemoModel(const std::string& path, const QString& images, int concepts);
  void finishPending();
  void startIfIdle(const QString& title, JobRunner::Job job, std::function<void()> onDone);

  JobRunner mRunner;
  TaskLane mTasks;
  std::shared_ptr<const ConceptModel> mModel;
  ImageSourcePtr mImages;
  std::shared_ptr<const ActivationCache> mCache;
  std::shared_ptr<ConceptSession> mConcepts;
  std::shared_ptr<const TcavReport> mTcavReport;
  std::shared_ptr<const TcavStudy> mTcavStudy;
  DiscoverySettings mSettings;
  QString mModelPath, mImagesSpec, mLayer, mCacheRoot, mProjectPath, mPendingImages;
  QJsonObject mUiState;
  bool mDemoPending = false, mAutoDiscover = false, mProjectPending = false,
       mProjectWantsConcepts = false;
  std::function<void()> mOnDone;  // continuation of the running job on success
  std::optional<DiscoverySettings> mDiscoverAfterExtraction;
  // The last concept sets by folder, kept in memory so that undo and redo bring back the same
  // set (with its unsaved names) without reading or computing anything.
  std::map<std::string, std::shared_ptr<ConceptSession>> mSessions;
  std::deque<std::string> mSessionOrder;
  void rememberSession(const std::string& dir, std::shared_ptr<ConceptSession> session);
};

}  // namespace dx::app

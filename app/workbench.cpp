#include "workbench.h"

#include "project_file.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <utility>

#include "labeling/concept_labeling.h"
#include "data/demo.h"
#include "activations/extractor.h"
#include "data/source_factory.h"

namespace dx::app {

Workbench::Workbench(QObject* parent)
    : QObject(parent), mCacheRoot(QString::fromStdString(defaultCacheRoot())) {
  // Continuations run on the GUI thread, after the job ended.
  connect(&mRunner, &JobRunner::finished, this, [this] {
    auto next = std::exchange(mOnDone, {});
    if (next) next();
  });
  connect(&mRunner, &JobRunner::failed, this, [this](const QString& title, const QString& msg) {
    mOnDone = {};
    mDemoPending = mProjectPending = mProjectWantsConcepts = false;
    mPendingImages.clear();
    Q_EMIT error(title + " failed:\n" + msg);
  });
  connect(&mRunner, &JobRunner::cancelled, this, [this] {
    mOnDone = {};
    mDemoPending = mProjectPending = mProjectWantsConcepts = false;
    mPendingImages.clear();
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
  if (!mModel->meta().findLayer(mLayer.toStdString()))
    mLayer = QString::fromStdString(mModel->meta().deepestLayer().name);
  mCache.reset();  // activations of another model no longer apply
  mConcepts.reset();
  mSessions.clear();
  mSessionOrder.clear();
  mTcavReport.reset();  // its classes and CAVs belong to the old model
  mTcavStudy.reset();
  Q_EMIT changed(Change::Model);
  if (!mPendingImages.isEmpty()) openImages(std::exchange(mPendingImages, {}));
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
                mConcepts.reset();
                Q_EMIT changed(Change::Images);
                if (mModel) extract();
              });
}

void Workbench::openDemo() {
  try {
    openDemoModel(demoModelPath(), QStringLiteral("fashion-mnist:test"), 16);
  } catch (const UserError& e) {
    Q_EMIT error(QString::fromStdString(e.what()));
  }
}

void Workbench::openConceptWorldDemo() {
  try {
    // 32 concepts: with 16 the watermark shares a concept with other corner content.
    openDemoModel(conceptWorldModelPath(), QStringLiteral("conceptworld:test"), 32);
  } catch (const UserError& e) {
    Q_EMIT error(QString::fromStdString(e.what()));
  }
}

void Workbench::openDemoModel(const std::string& path, const QString& images, int concepts) {
  if (mRunner.busy()) {
    Q_EMIT error(mRunner.title() + " is still running; wait for it or cancel it first.");
    return;
  }
  mDemoPending = true;
  mAutoDiscover = true;
  mSettings = DiscoverySettings{};
  mSettings.concepts = concepts;
  mPendingImages = images;
  mLayer.clear();
  openModel(QString::fromStdString(path));
}

void Workbench::clear() {
  cancel();
  mRunner.wait();
  mModel.reset();
  mImages.reset();
  mCache.reset();
  mConcepts.reset();
  mSessions.clear();
  mSessionOrder.clear();
  mTcavReport.reset();
  mTcavStudy.reset();
  mModelPath.clear();
  mImagesSpec.clear();
  mLayer.clear();
  mProjectPath.clear();
  mUiState = {};
  mAutoDiscover = false;
  Q_EMIT changed(Change::Model);
}

void Workbench::setLayer(const QString& layer, std::optional<DiscoverySettings> thenDiscover) {
  if (layer == mLayer || !mModel) return;
  mDiscoverAfterExtraction = std::move(thenDiscover);
  mLayer = layer;
  mCache.reset();
  mConcepts.reset();
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
                if (!mCache || mCache->key() != (*cache)->key()) mConcepts.reset();
                mCache = *cache;
                afterExtraction();
              });
}

void Workbench::afterExtraction() {
  Q_EMIT changed(Change::Activations);
  if (auto wanted = std::exchange(mDiscoverAfterExtraction, std::nullopt)) discover(*wanted);
  else if (mAutoDiscover || std::exchange(mProjectWantsConcepts, false)) discover(mSettings);
  else finishPending();
}

void Workbench::finishPending() {
  if (std::exchange(mDemoPending, false)) Q_EMIT demoReady();
  if (std::exchange(mProjectPending, false)) Q_EMIT projectOpened(mProjectPath);
}

QString Workbench::conceptsDir(const DiscoverySettings& s) const {
  if (!mCache) return {};
  return QString::fromStdString(mCache->dir()) +
         QStringLiteral("/concepts-%1-%2-%3-seed%4-v%5")
             .arg(QString::fromStdString(s.method), QString::fromStdString(s.preset))
             .arg(s.concepts)
             .arg(s.seed)
             .arg(kConceptEngineVersion);
}

void Workbench::discover(const DiscoverySettings& settings) {
  if (!mCache || !mModel) {
    Q_EMIT error(tr("Extract activations first: open a model and images."));
    return;
  }
  auto model = mModel;
  auto cache = mCache;
  std::string dir = conceptsDir(settings).toStdString();
  if (auto known = mSessions.find(dir); known != mSessions.end() && !mRunner.busy()) {
    mSettings = settings;
    mConcepts = known->second;
    Q_EMIT changed(Change::Concepts);
    finishPending();
    return;
  }
  auto session = std::make_shared<std::shared_ptr<ConceptSession>>();
  auto images = mImages;
  bool saved = QFileInfo::exists(QString::fromStdString(dir + "/concepts.json"));
  startIfIdle(saved ? tr("Opening concepts") : tr("Discovering %1 concepts (%2, %3)")
                                                    .arg(settings.concepts)
                                                    .arg(QString::fromStdString(settings.method),
                                                         QString::fromStdString(settings.preset)),
              [=](const ProgressSink& progress, const CancelToken& cancel) {
                if (saved) {
                  try {
                    *session = ConceptSession::open(model, cache, dir);
                    return;
                  } catch (const UserError&) {
                    // Unreadable or stale files: discover again below, overwriting them.
                  }
                }
                *session = ConceptSession::discover(model, cache, settings, dir, progress, cancel);
                // First names from INVERT while nobody else sees the session yet.
                (*session)->setImages(images);
                ConceptLabelingOptions o;
                o.invert.progress = progress;
                o.invert.cancel = cancel;
                try {
                  applyConceptLabels(**session, dx::labelConcepts(**session, o));
                } catch (const UserError&) {
                  return;  // no classes or tags to name concepts with: they stay unnamed
                }
                (*session)->save();  // a failure reaches the user through the runner
              },
              [this, session, settings, dir] {
                mSettings = settings;  // only now: a cancelled run keeps the old settings too
                mConcepts = *session;
                mConcepts->setImages(mImages);
                rememberSession(dir, mConcepts);
                Q_EMIT changed(Change::Concepts);
                finishPending();
              });
}

void Workbench::rememberSession(const std::string& dir, std::shared_ptr<ConceptSession> session) {
  if (!mSessions.count(dir)) mSessionOrder.push_back(dir);
  mSessions[dir] = std::move(session);
  while (mSessionOrder.size() > 4) {
    mSessions.erase(mSessionOrder.front());
    mSessionOrder.pop_front();
  }
}

void Workbench::dropConcepts() {
  if (!mConcepts) return;
  mConcepts.reset();
  Q_EMIT changed(Change::Concepts);
}

void Workbench::labelConcepts(const QString& tagsCsv, bool meanOverPositions) {
  if (!mConcepts) {
    Q_EMIT error(tr("Discover concepts first (F6)."));
    return;
  }
  auto session = mConcepts;
  auto labels = std::make_shared<std::vector<ConceptLabel>>();
  std::string tags = tagsCsv.toStdString();
  startIfIdle(tr("Naming concepts (INVERT)"),
              [session, labels, tags, meanOverPositions](const ProgressSink& progress,
                                                         const CancelToken& cancel) {
                ConceptLabelingOptions o;
                o.tagsCsv = tags;
                o.meanOverPositions = meanOverPositions;
                o.invert.progress = progress;
                o.invert.cancel = cancel;
                *labels = dx::labelConcepts(*session, o);
              },
              [this, session, labels] {
                if (session != mConcepts) return;  // another project was opened meanwhile
                applyConceptLabels(*session, *labels);
                Q_EMIT changed(Change::Labels);
                try {
                  session->save();
                } catch (const std::exception& e) {
                  Q_EMIT error(tr("The names are shown but not saved: %1").arg(e.what()));
                }
              });
}

void Workbench::checkStability(int refits) {
  if (!mConcepts) {
    Q_EMIT error(tr("Discover concepts first (F6)."));
    return;
  }
  auto session = mConcepts;
  auto stability = std::make_shared<StabilityCheck>();
  startIfIdle(tr("Checking seed stability (%1 refits)").arg(refits),
              [session, stability, refits](const ProgressSink& progress,
                                           const CancelToken& cancel) {
                *stability = session->measureStability(refits, progress, cancel);
              },
              [this, session, stability] {
                if (session != mConcepts) return;  // another project was opened meanwhile
                session->setStability(*stability);
                Q_EMIT changed(Change::Labels);
                try {
                  session->save();
                } catch (const std::exception& e) {
                  Q_EMIT error(tr("The stability is shown but not saved: %1").arg(e.what()));
                }
                Q_EMIT stabilityChecked();
              });
}

void Workbench::runTcav(TcavRequest request) {
  if (!request.model) request.model = mModel;
  if (!request.classImages) request.classImages = mImages;
  if (!request.model || !request.classImages) {
    Q_EMIT error(tr("Open a model and an image folder first: TCAV takes the class's images "
                    "from the project."));
    return;
  }
  if (request.layer.empty()) request.layer = mLayer.toStdString();
  if (!request.cache && request.model == mModel && request.classImages == mImages)
    request.cache = mCache;  // used by the core only when its layer is the study's
  auto outcome = std::make_shared<TcavOutcome>();
  const auto& classes = request.model->meta().classes;
  QString name = request.classIndex >= 0 && size_t(request.classIndex) < classes.size()
                     ? QString::fromStdString(classes[size_t(request.classIndex)])
                     : QString::number(request.classIndex);
  const QString method = request.spatial ? QStringLiteral("SACV") : QStringLiteral("TCAV");
  startIfIdle(tr("%1 for class %2").arg(method, name),
              [request, outcome](const ProgressSink& progress, const CancelToken& cancel) {
                *outcome = runTcavStudy(request, progress, cancel);
              },
              [this, outcome, model = request.model] {
                if (model != mModel) return;  // another model was opened meanwhile
                mTcavReport = std::make_shared<const TcavReport>(std::move(outcome->report));
                mTcavStudy = outcome->study;
                Q_EMIT changed(Change::Tcav);
              });
}

bool Workbench::saveProject(const QString& path, const QJsonObject& uiState) {
  if (!mModel || !mImages) {
    Q_EMIT error(tr("Nothing to save yet: open a model and images first."));
    return false;
  }
  ProjectFile project;
  project.model = QFileInfo(mModelPath).absoluteFilePath();
  project.images =
      QFileInfo::exists(mImagesSpec) ? QFileInfo(mImagesSpec).absoluteFilePath() : mImagesSpec;
  project.layer = mLayer;
  project.method = QString::fromStdString(mSettings.method);
  project.preset = QString::fromStdString(mSettings.preset);
  project.concepts = mSettings.concepts;
  project.seed = mSettings.seed;
  project.hasConcepts = bool(mConcepts);
  project.ui = uiState;
  // The concept folder first (labels the user gave live there), then the project file: each is
  // written atomically, so on any failure or kill the previous project still opens.
  try {
    if (mConcepts) mConcepts->save();
  } catch (const std::exception& e) {
    Q_EMIT error(tr("Project not saved: %1").arg(e.what()));
    return false;
  }
  QString why;
  if (!writeProjectFile(path, project, &why)) {
    Q_EMIT error(tr("Could not write %1: %2. The earlier project file is unchanged; free disk "
                    "space or choose another folder.")
                     .arg(path, why));
    return false;
  }
  mProjectPath = path;
  mUiState = uiState;
  return true;
}

void Workbench::openProject(const QString& path) {
  ProjectFile project;
  QString why;
  if (!readProjectFile(path, &project, &why)) {
    Q_EMIT error(tr("%1 cannot be opened as a Directrix project: %2.").arg(path, why));
    return;
  }
  mSettings.method = project.method.toStdString();
  mSettings.preset = project.preset.toStdString();
  mSettings.concepts = project.concepts;
  mSettings.seed = project.seed;
  mProjectPath = path;
  mUiState = project.ui;
  mProjectPending = true;
  mProjectWantsConcepts = project.hasConcepts;
  mLayer = project.layer;
  mPendingImages = project.images;
  openModel(project.model);
}

}  // namespace dx::app

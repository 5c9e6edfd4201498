#include <QJsonArray>
#include <QSignalSpy>
#include <QTemporaryDir>

#include <fstream>

#include <gtest/gtest.h>

#include "file_size_limit.h"
#include <opencv2/imgcodecs.hpp>

#include "data/demo.h"
#include "test_models.h"
#include "ui_fixtures.h"
#include "ui/main_window.h"
#include "ui/thumbnail_model.h"
#include "project_document.h"
#include "workbench.h"

using dx::app::Workbench;
using dx::test::makeImages;
using dx::test::waitFor;
using dx::test::waitForActivations;


TEST(Workbench, ModelThenImagesExtractAndFillTheGrid) {
  QTemporaryDir tmp;
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  dx::ui::MainWindow window(w);
  w.openModel(QString::fromStdString(dx::test::testModel("good_rgb.pt")));
  QSignalSpy modelLoaded(&w, &Workbench::changed);
  ASSERT_TRUE(modelLoaded.wait(20000));
  EXPECT_EQ(w.layerNames(), (QStringList{"conv1", "conv2"}));
  EXPECT_EQ(w.layer(), "conv2");
  w.openImages(makeImages(tmp));
  ASSERT_TRUE(waitForActivations(w));
  EXPECT_EQ(w.activations()->size(), 6u);
  auto& grid = window.thumbnails();
  ASSERT_EQ(grid.rowCount(), 6);
  EXPECT_FALSE(grid.data(grid.index(0), dx::ui::ThumbnailModel::PredictionRole).toString().isEmpty());
  EXPECT_FALSE(grid.data(grid.index(0), dx::ui::ThumbnailModel::LabelRole).toString().isEmpty());
  // Switching the layer re-extracts into another cache.
  w.setLayer("conv1");
  EXPECT_EQ(w.activations(), nullptr);
  ASSERT_TRUE(waitForActivations(w));
  EXPECT_EQ(w.activations()->layer(), "conv1");
}

TEST(Workbench, BadModelReportsTheFileAndKeepsWhatWasLoaded) {
  Workbench w;
  w.openModel(QString::fromStdString(dx::test::testModel("good_gray.pt")));
  QSignalSpy changed(&w, &Workbench::changed);
  ASSERT_TRUE(changed.wait(20000));
  auto before = w.model();
  QSignalSpy error(&w, &Workbench::error);
  w.openModel(QString::fromStdString(dx::test::testModel("not_a_model.pt")));
  ASSERT_TRUE(error.wait(20000));
  QString message = error.at(0).at(0).toString();
  EXPECT_TRUE(message.contains("not_a_model.pt")) << message.toStdString();
  EXPECT_TRUE(message.contains("export_model.py")) << message.toStdString();
  EXPECT_EQ(w.model(), before);
  EXPECT_FALSE(w.runner().busy());
}

TEST(Workbench, CancelStopsExtractionAndLeavesStateConsistent) {
  QTemporaryDir tmp;
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  w.openModel(QString::fromStdString(dx::demoModelPath()));
  QSignalSpy changed(&w, &Workbench::changed);
  ASSERT_TRUE(changed.wait(20000));
  QSignalSpy progressed(&w.runner(), &dx::app::JobRunner::progressed);
  QSignalSpy cancelled(&w.runner(), &dx::app::JobRunner::cancelled);
  w.openImages("fashion-mnist:test");  // 10,000 images: long enough to cancel mid-way
  ASSERT_TRUE(progressed.wait(30000));
  QElapsedTimer t;
  t.start();
  w.cancel();
  ASSERT_TRUE(cancelled.count() > 0 || cancelled.wait(5000));
  EXPECT_LT(t.elapsed(), 2000) << "cancel must take effect at the next batch";
  EXPECT_FALSE(w.runner().busy());
  EXPECT_EQ(w.activations(), nullptr);
  EXPECT_NE(w.images(), nullptr);  // the opened images stay
  QDir cache(tmp.filePath("cache"));
  EXPECT_TRUE(cache.entryList(QDir::Dirs | QDir::NoDotAndDotDot).isEmpty())
      << "no partial cache may remain: " << cache.entryList().join(",").toStdString();
}

TEST(Workbench, BusyRunnerRefusesASecondJobWithAMessage) {
  Workbench w;
  QSignalSpy error(&w, &Workbench::error);
  w.openModel(QString::fromStdString(dx::demoModelPath()));
  w.openModel(QString::fromStdString(dx::demoModelPath()));
  ASSERT_GE(error.count(), 1);
  EXPECT_TRUE(error.at(0).at(0).toString().contains("still running"));
  w.runner().wait();
}


TEST(Workbench, DiscoverThenSaveAndReopenTheProjectWithoutRecomputing) {
  QTemporaryDir tmp;
  QString project = tmp.filePath("p.directrix");
  dx::DiscoverySettings settings{"kmeans", "quick", 3, 7};
  std::vector<dx::TopPatchInfo> top;
  std::vector<float> shifted;
  {
    Workbench w;
    w.setCacheRoot(tmp.filePath("cache"));
    w.openModel(QString::fromStdString(dx::test::testModel("good_rgb.pt")));
    QSignalSpy loaded(&w, &Workbench::changed);
    ASSERT_TRUE(loaded.wait(20000));
    w.openImages(makeImages(tmp));
    ASSERT_TRUE(waitForActivations(w));
    w.discover(settings);
    ASSERT_TRUE(waitFor([&] { return w.concepts() != nullptr; }, &w));
    auto session = w.concepts();
    ASSERT_EQ(session->concepts(), 3);
    top = session->concept(1).top;
    EXPECT_FALSE(top.empty());
    ASSERT_FALSE(session->image(0).empty()) << "images are not attached to the session";
    // Amplifying every concept must move the prediction of some image.
    auto base = session->probabilities(0);
    bool moved = false;
    for (int i = 0; i < 3 && !moved; ++i) {
      shifted = session->counterfactual(0, {{i, 2.0}});
      for (size_t k = 0; k < base.size(); ++k) moved |= std::abs(shifted[k] - base[k]) > 1e-5;
    }
    EXPECT_TRUE(moved);
    dx::app::ProjectDocument(w).renameConcept(2, "stripes AND NOT dots");
    ASSERT_TRUE(w.saveProject(project, QJsonObject{{"pinned", QJsonArray{2}}}));
  }
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  QSignalSpy jobs(&w.runner(), &dx::app::JobRunner::started);
  QSignalSpy opened(&w, &Workbench::projectOpened);
  w.openProject(project);
  ASSERT_TRUE(opened.wait(60000));
  ASSERT_NE(w.concepts(), nullptr);
  EXPECT_EQ(w.concepts()->concepts(), 3);
  EXPECT_EQ(w.concepts()->concept(2).label, "stripes AND NOT dots");
  ASSERT_EQ(w.concepts()->concept(1).top.size(), top.size());
  EXPECT_EQ(w.concepts()->concept(1).top[0].image, top[0].image);
  EXPECT_EQ(w.discoverySettings().seed, 7u);
  EXPECT_EQ(w.projectUiState().value("pinned").toArray().at(0).toInt(), 2);
  for (const auto& call : jobs) EXPECT_FALSE(call.at(0).toString().startsWith("Discovering"));
}

// A write failure during save (here: the concept folder cannot take concepts.json) is a message,
// and both the previous project file and the previous concept files stay as they were.
TEST(Workbench, FailedSaveShowsAMessageAndKeepsThePreviousFiles) {
  QTemporaryDir tmp;
  QString project = tmp.filePath("p.directrix");
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  ASSERT_TRUE(dx::test::openWithConcepts(w, makeImages(tmp)));
  dx::app::ProjectDocument document(w);
  document.renameConcept(0, "first name");
  ASSERT_TRUE(w.saveProject(project, QJsonObject{{"pinned", QJsonArray{1}}}));
  auto read = [](const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
  };
  QString conceptsJson = QString::fromStdString(w.concepts()->dir() + "/concepts.json");
  QByteArray projectBefore = read(project), conceptsBefore = read(conceptsJson);
  ASSERT_FALSE(projectBefore.isEmpty());
  document.renameConcept(0, "second name");
  QSignalSpy error(&w, &Workbench::error);
  {
    dx::test::FileSizeLimit full(512);  // a full disk, injected (file_size_limit.h)
    EXPECT_FALSE(w.saveProject(project, QJsonObject{{"pinned", QJsonArray{2}}}));
  }
  ASSERT_EQ(error.size(), 1);
  EXPECT_TRUE(error.at(0).at(0).toString().contains("free disk space", Qt::CaseInsensitive));
  EXPECT_EQ(read(project), projectBefore);
  EXPECT_EQ(read(conceptsJson), conceptsBefore);
  EXPECT_FALSE(QFile::exists(conceptsJson.left(conceptsJson.lastIndexOf('/')) + "/decoders.npy.tmp"));
}

TEST(Workbench, BrokenProjectFileIsAClearError) {
  QTemporaryDir tmp;
  QFile f(tmp.filePath("bad.directrix"));
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write("{ not json");
  f.close();
  Workbench w;
  QSignalSpy error(&w, &Workbench::error);
  w.openProject(tmp.filePath("bad.directrix"));
  ASSERT_EQ(error.size(), 1);
  EXPECT_TRUE(error.at(0).at(0).toString().contains("bad.directrix"));
  EXPECT_EQ(w.model(), nullptr);
}

TEST(Workbench, CancelledDiscoveryKeepsThePreviousConcepts) {
  QTemporaryDir tmp;
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  ASSERT_TRUE(dx::test::openWithConcepts(w, makeImages(tmp)));
  auto before = w.concepts();
  // The paper preset runs for a long time; cancel it as soon as it reports progress.
  QSignalSpy cancelled(&w.runner(), &dx::app::JobRunner::cancelled);
  QObject::connect(&w.runner(), &dx::app::JobRunner::progressed, &w, [&w] { w.cancel(); });
  QElapsedTimer clock;
  clock.start();
  w.discover({"eddp", "paper", 4, 1});
  ASSERT_TRUE(cancelled.wait(60000));
  EXPECT_LT(clock.elapsed(), 20000);
  EXPECT_EQ(w.concepts(), before) << "a cancelled discovery must not replace the concepts";
  EXPECT_FALSE(w.runner().busy());
  EXPECT_EQ(w.discoverySettings().method, "kmeans");
  EXPECT_FALSE(QFileInfo::exists(w.conceptsDir({"eddp", "paper", 4, 1}) + "/concepts.json"));
}

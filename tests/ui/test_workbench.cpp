#include <QJsonArray>
#include <QSignalSpy>
#include <QTemporaryDir>

#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "demo.h"
#include "test_models.h"
#include "ui/main_window.h"
#include "ui/thumbnail_model.h"
#include "workbench.h"

using cs::app::Workbench;

namespace {

// A folder of 6 small labelled images.
QString makeImages(const QTemporaryDir& tmp) {
  cv::RNG rng(3);
  for (int i = 0; i < 6; ++i) {
    std::string cls = i % 2 ? "alpha" : "beta";
    QDir(tmp.path()).mkpath(QString::fromStdString("imgs/" + cls));
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite(tmp.filePath(QString::fromStdString("imgs/" + cls + "/" + std::to_string(i) + ".png")).toStdString(), img);
  }
  return tmp.filePath("imgs");
}

bool waitForActivations(Workbench& w, int ms = 60000) {
  QSignalSpy changed(&w, &Workbench::changed);
  QElapsedTimer t;
  t.start();
  while (!w.activations() && t.elapsed() < ms) changed.wait(200);
  return w.activations() != nullptr;
}

}  // namespace

TEST(Workbench, ModelThenImagesExtractAndFillTheGrid) {
  QTemporaryDir tmp;
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  cs::ui::MainWindow window(w);
  w.openModel(QString::fromStdString(cs::test::testModel("good_rgb.pt")));
  QSignalSpy modelLoaded(&w, &Workbench::changed);
  ASSERT_TRUE(modelLoaded.wait(20000));
  EXPECT_EQ(w.layerNames(), (QStringList{"conv1", "conv2"}));
  EXPECT_EQ(w.layer(), "conv2");
  w.openImages(makeImages(tmp));
  ASSERT_TRUE(waitForActivations(w));
  EXPECT_EQ(w.activations()->size(), 6u);
  auto& grid = window.thumbnails();
  ASSERT_EQ(grid.rowCount(), 6);
  EXPECT_FALSE(grid.data(grid.index(0), cs::ui::ThumbnailModel::PredictionRole).toString().isEmpty());
  EXPECT_FALSE(grid.data(grid.index(0), cs::ui::ThumbnailModel::LabelRole).toString().isEmpty());
  // Switching the layer re-extracts into another cache.
  w.setLayer("conv1");
  EXPECT_EQ(w.activations(), nullptr);
  ASSERT_TRUE(waitForActivations(w));
  EXPECT_EQ(w.activations()->layer(), "conv1");
}

TEST(Workbench, BadModelReportsTheFileAndKeepsWhatWasLoaded) {
  Workbench w;
  w.openModel(QString::fromStdString(cs::test::testModel("good_gray.pt")));
  QSignalSpy changed(&w, &Workbench::changed);
  ASSERT_TRUE(changed.wait(20000));
  auto before = w.model();
  QSignalSpy error(&w, &Workbench::error);
  w.openModel(QString::fromStdString(cs::test::testModel("not_a_model.pt")));
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
  w.openModel(QString::fromStdString(cs::demoModelPath()));
  QSignalSpy changed(&w, &Workbench::changed);
  ASSERT_TRUE(changed.wait(20000));
  QSignalSpy progressed(&w.runner(), &cs::app::JobRunner::progressed);
  QSignalSpy cancelled(&w.runner(), &cs::app::JobRunner::cancelled);
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
  w.openModel(QString::fromStdString(cs::demoModelPath()));
  w.openModel(QString::fromStdString(cs::demoModelPath()));
  ASSERT_GE(error.count(), 1);
  EXPECT_TRUE(error.at(0).at(0).toString().contains("still running"));
  w.runner().wait();
}

namespace {

bool waitFor(const std::function<bool()>& done, QObject* sender, int ms = 60000) {
  QElapsedTimer t;
  t.start();
  while (!done() && t.elapsed() < ms) QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
  (void)sender;
  return done();
}

}  // namespace

TEST(Workbench, DiscoverThenSaveAndReopenTheProjectWithoutRecomputing) {
  QTemporaryDir tmp;
  QString project = tmp.filePath("p.csproj");
  cs::DiscoverySettings settings{"kmeans", "quick", 3, 7};
  std::vector<cs::TopPatchInfo> top;
  std::vector<float> shifted;
  {
    Workbench w;
    w.setCacheRoot(tmp.filePath("cache"));
    w.openModel(QString::fromStdString(cs::test::testModel("good_rgb.pt")));
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
    session->setLabel(2, "stripes AND NOT dots");
    ASSERT_TRUE(w.saveProject(project, QJsonObject{{"pinned", QJsonArray{2}}}));
  }
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  QSignalSpy jobs(&w.runner(), &cs::app::JobRunner::started);
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

TEST(Workbench, BrokenProjectFileIsAClearError) {
  QTemporaryDir tmp;
  QFile f(tmp.filePath("bad.csproj"));
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write("{ not json");
  f.close();
  Workbench w;
  QSignalSpy error(&w, &Workbench::error);
  w.openProject(tmp.filePath("bad.csproj"));
  ASSERT_EQ(error.size(), 1);
  EXPECT_TRUE(error.at(0).at(0).toString().contains("bad.csproj"));
  EXPECT_EQ(w.model(), nullptr);
}

TEST(Workbench, CancelledDiscoveryKeepsThePreviousConcepts) {
  QTemporaryDir tmp;
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  w.openModelThenImages(QString::fromStdString(cs::test::testModel("good_rgb.pt")),
                        makeImages(tmp));
  ASSERT_TRUE(waitForActivations(w));
  w.discover({"kmeans", "quick", 3, 0});
  ASSERT_TRUE(waitFor([&] { return w.concepts() != nullptr; }, &w));
  auto before = w.concepts();
  // The paper preset runs for a long time; cancel it as soon as it reports progress.
  QSignalSpy cancelled(&w.runner(), &cs::app::JobRunner::cancelled);
  QObject::connect(&w.runner(), &cs::app::JobRunner::progressed, &w, [&w] { w.cancel(); });
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

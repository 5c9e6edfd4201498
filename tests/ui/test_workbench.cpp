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

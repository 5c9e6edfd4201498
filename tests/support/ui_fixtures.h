#pragma once
// Fixtures the GUI-side tests share: a small labelled image folder and waits that keep the event
// loop running (the workbench reports through queued signals).
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QString>
#include <QTemporaryDir>
#include <functional>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "test_models.h"
#include "workbench.h"

namespace dx::test {

// A folder of `count` small random labelled images (classes alpha and beta) inside `tmp`.
inline QString makeImages(const QTemporaryDir& tmp, int count = 6, uint64_t seed = 3) {
  cv::RNG rng(seed);
  for (int i = 0; i < count; ++i) {
    std::string cls = i % 2 ? "alpha" : "beta";
    QDir(tmp.path()).mkpath(QString::fromStdString("imgs/" + cls));
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite(
        tmp.filePath(QString::fromStdString("imgs/" + cls + "/" + std::to_string(i) + ".png"))
            .toStdString(),
        img);
  }
  return tmp.filePath("imgs");
}

inline bool waitFor(const std::function<bool()>& done, QObject* /*unused*/ = nullptr,
                    int ms = 60000) {
  QElapsedTimer t;
  t.start();
  while (!done() && t.elapsed() < ms) QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
  return done();
}

inline bool waitForActivations(app::Workbench& w, int ms = 60000) {
  return waitFor([&] { return w.activations() != nullptr; }, nullptr, ms);
}

// The small test model (test_models.h) on `images`, extracted, with `settings`' concepts; false
// when either step did not finish.
inline bool openWithConcepts(app::Workbench& w, const QString& images,
                             const DiscoverySettings& settings = {"kmeans", "quick", 3, 0},
                             const std::string& model = "good_rgb.pt") {
  w.openModelThenImages(QString::fromStdString(testModel(model)), images);
  if (!waitForActivations(w)) return false;
  w.discover(settings);
  return waitFor([&] { return w.concepts() != nullptr; });
}

}  // namespace dx::test

// conceptscope: the desktop application.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QTimer>
#include <cstdlib>

#include "ui/main_window.h"
#include "ui/thumbnail_model.h"
#include "demo.h"
#include "workbench.h"

namespace {

// Without a display (CI, ssh) Qt would abort; render offscreen instead.
void fallBackToOffscreen() {
  auto empty = [](const char* v) { return !std::getenv(v) || !*std::getenv(v); };
  if (empty("DISPLAY") && empty("WAYLAND_DISPLAY") && empty("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
}

// Saves the window once the work is loaded and the visible thumbnails are decoded, then quits.
void screenshotWhenReady(cs::ui::MainWindow& window, const QString& file, int exitCode) {
  auto* poll = new QTimer(&window);
  auto started = std::make_shared<int>(0);
  QObject::connect(poll, &QTimer::timeout, &window, [&window, file, exitCode, poll, started] {
    bool settled = window.thumbnails().pendingThumbnails() == 0;
    if (!settled && ++*started < 100) return;  // at most ~10 s for thumbnails
    poll->stop();
    bool saved = window.grab().save(file);
    if (!saved) qWarning("could not write %s", qPrintable(file));
    QCoreApplication::exit(saved ? exitCode : 1);
  });
  QTimer::singleShot(300, poll, [poll] { poll->start(100); });
}

}  // namespace

int main(int argc, char** argv) {
  fallBackToOffscreen();
  QApplication app(argc, argv);
  QApplication::setApplicationName("ConceptScope");
  QApplication::setOrganizationName("ConceptScope");
  QApplication::setApplicationVersion(QStringLiteral(PROJECT_VERSION));

  QCommandLineParser cli;
  cli.setApplicationDescription("Explore the concepts a vision network uses.");
  cli.addHelpOption();
  cli.addVersionOption();
  QCommandLineOption demo("demo", "Open the Fashion-MNIST demo model and images.");
  QCommandLineOption model("model", "Open a ConceptScope model (.pt).", "file");
  QCommandLineOption images("images", "Open an image folder (or fashion-mnist[:train]).", "dir");
  QCommandLineOption shot("screenshot", "Render the window once loaded to FILE and exit.", "file");
  cli.addOptions({demo, model, images, shot});
  cli.process(app);

  cs::app::Workbench workbench;
  cs::ui::MainWindow window(workbench);
  window.show();

  QString shotFile = cli.value(shot);
  if (!shotFile.isEmpty()) {
    QObject::connect(&workbench, &cs::app::Workbench::changed, &window,
                     [&](cs::app::Workbench::Change c) {
                       if (c == cs::app::Workbench::Change::Activations)
                         screenshotWhenReady(window, shotFile, 0);
                     });
    QObject::connect(&workbench, &cs::app::Workbench::error, &window,
                     [&] { screenshotWhenReady(window, shotFile, 1); });
  }
  if (cli.isSet(model) || (cli.isSet(demo) && cli.isSet(images))) {
    try {
      workbench.openModel(cli.isSet(model) ? cli.value(model)
                                           : QString::fromStdString(cs::demoModelPath()));
    } catch (const std::exception& e) {
      window.showError(QString::fromStdString(e.what()));
    }
    if (cli.isSet(images)) {
      QString dir = cli.value(images);
      QObject::connect(&workbench, &cs::app::Workbench::changed, &window,
                       [&workbench, dir](cs::app::Workbench::Change c) {
                         if (c == cs::app::Workbench::Change::Model && !workbench.images())
                           workbench.openImages(dir);
                       });
    }
  } else if (cli.isSet(demo) || !shotFile.isEmpty()) {
    workbench.openDemo();
  }
  return app.exec();
}

// directrix: the desktop application.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QIcon>
#include <QTimer>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "ui/main_window.h"
#include "ui/thumbnail_model.h"
#include "data/demo.h"
#include "workbench.h"

namespace {

// Without a display (CI, ssh) Qt would abort; render offscreen instead.
void fallBackToOffscreen() {
  auto empty = [](const char* v) { return !std::getenv(v) || !*std::getenv(v); };
  if (empty("DISPLAY") && empty("WAYLAND_DISPLAY") && empty("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
}

// Saves the window once the work is loaded and the visible images are decoded, then quits.
void screenshotWhenReady(dx::ui::MainWindow& window, const QString& file, int exitCode) {
  auto* poll = new QTimer(&window);
  auto ticks = std::make_shared<int>(0);
  QObject::connect(poll, &QTimer::timeout, &window, [&window, file, exitCode, poll, ticks] {
    // Patch crops and thumbnails decode on worker threads: give them a moment, at most ~10 s.
    bool settled = !window.busyDecoding() && *ticks >= 15;
    if (!settled && ++*ticks < 100) return;
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
  QApplication::setApplicationName("Directrix");
  QApplication::setOrganizationName("Directrix");
  QApplication::setApplicationVersion(QStringLiteral(PROJECT_VERSION));
  // The installed icon theme and .desktop entry (resources/desktop, cmake/Install.cmake).
  QGuiApplication::setDesktopFileName(QStringLiteral("org.directrix.Directrix"));
  QApplication::setWindowIcon(QIcon::fromTheme(QStringLiteral("org.directrix.Directrix")));

  QCommandLineParser cli;
  cli.setApplicationDescription("Explore the concepts a vision network uses.");
  cli.addHelpOption();
  cli.addVersionOption();
  QCommandLineOption demo("demo", "Open the Fashion-MNIST demo (concepts discovered on first start).");
  QCommandLineOption world("conceptworld-demo", "Open the ConceptWorld demo (a watermark shortcut).");
  QCommandLineOption project("project", "Open a saved project (.directrix).", "file");
  QCommandLineOption model("model", "Open a Directrix model (.pt).", "file");
  QCommandLineOption images("images", "Open an image folder (or fashion-mnist[:train]).", "dir");
  QCommandLineOption shot("screenshot", "Render the window once loaded to FILE and exit.", "file");
  // "categories": the audit view's target / bias / context tab.
  QCommandLineOption view("view", "View to show: " + dx::ui::MainWindow::viewNames().join("|") +
                                      "|categories.",
                          "name", "images");
  QCommandLineOption present("presentation", "Start in presentation mode (large fonts).");
  QCommandLineOption stability("check-stability",
                               "Once loaded, check the concepts' seed stability with R refits "
                               "(Concept > Check Seed Stability); a screenshot waits for it.",
                               "refits");
  cli.addOptions({demo, world, project, model, images, shot, view, present, stability});
  // A file manager opens a project by passing it alone (the .desktop entry's Exec=directrix %f).
  cli.addPositionalArgument("project", "A saved project (.directrix) to open.", "[project]");
  cli.process(app);
  const QStringList positional = cli.positionalArguments();
  if (positional.size() > 1) {
    std::fprintf(stderr, "directrix: give at most one project file, not %lld\n",
                 static_cast<long long>(positional.size()));
    return 2;
  }
  const QString projectFile = cli.isSet(project) ? cli.value(project) : positional.value(0);
  const bool categories = cli.value(view) == "categories";
  int viewIndex = dx::ui::MainWindow::viewNames().indexOf(categories ? "audit" : cli.value(view));
  if (viewIndex < 0) {
    std::fprintf(stderr, "directrix: unknown --view %s; use one of %s\n",
                 qPrintable(cli.value(view)), qPrintable(dx::ui::MainWindow::viewNames().join(", ")));
    return 2;
  }

  dx::app::Workbench workbench;
  dx::ui::MainWindow window(workbench);
  window.show();
  if (cli.isSet(present)) window.setPresentationMode(true);

  // Once everything asked for is loaded: show the chosen view, then maybe take the screenshot.
  QString shotFile = cli.value(shot);
  const int refits = cli.isSet(stability) ? cli.value(stability).toInt() : 0;
  if (cli.isSet(stability) && refits < 1) {
    std::fprintf(stderr, "directrix: --check-stability expects a number of refits >= 1\n");
    return 2;
  }
  auto show = [&window, shotFile, viewIndex, categories](int exitCode) {
    window.selectInterestingDefaults();
    window.showView(static_cast<dx::ui::MainWindow::View>(viewIndex));
    if (categories) window.showAuditCategories();
    if (!shotFile.isEmpty()) screenshotWhenReady(window, shotFile, exitCode);
  };
  // The check runs once, for what the command line opened: a project opened later from the menu,
  // or a check the user starts later, neither checks again nor resets the view.
  auto checkPending = std::make_shared<bool>(refits > 0);
  if (refits > 0)
    QObject::connect(&workbench, &dx::app::Workbench::stabilityChecked, &window,
                     [show] { show(0); }, Qt::SingleShotConnection);
  auto ready = [&workbench, show, refits, checkPending](int exitCode) {
    if (!*checkPending) return show(exitCode);
    *checkPending = false;
    workbench.checkStability(refits);  // shows the view when it is done
  };
  QObject::connect(&workbench, &dx::app::Workbench::demoReady, &window, [ready] { ready(0); });
  QObject::connect(&workbench, &dx::app::Workbench::projectOpened, &window, [ready] { ready(0); });
  if (!shotFile.isEmpty()) {
    QObject::connect(&workbench, &dx::app::Workbench::error, &window,
                     [&] { screenshotWhenReady(window, shotFile, 1); });
    if (cli.isSet(model))
      QObject::connect(&workbench, &dx::app::Workbench::changed, &window,
                       [ready](dx::app::Workbench::Change c) {
                         if (c == dx::app::Workbench::Change::Activations) ready(0);
                       });
  }
  if (!projectFile.isEmpty()) {
    workbench.openProject(projectFile);
  } else if (cli.isSet(model)) {
    workbench.openModelThenImages(cli.value(model), cli.value(images));
  } else if (cli.isSet(world)) {
    workbench.openConceptWorldDemo();
  } else if (cli.isSet(demo) || !shotFile.isEmpty()) {
    workbench.openDemo();
  }
  return app.exec();
}

// The concept views on a real (small) project: toggling a concept in the counterfactual panel
// changes the probabilities shown, the gallery lists every concept, the main window's tabs all
// take the session, the TCAV tab runs a study whose SACV map reaches the image view, and images
// keep their colours everywhere.
#include <QApplication>
#include <QCheckBox>
#include <QFile>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "data/source_factory.h"
#include "model/preprocess.h"
#include "test_models.h"
#include "ui_fixtures.h"
#include "ui/audit_categories_panel.h"
#include "ui/audit_view.h"
#include "ui/concept_edit_list.h"
#include "ui/concept_gallery.h"
#include "ui/concept_gallery_model.h"
#include "discovery/degenerate.h"
#include "analysis/concept_session.h"
#include "ui/concept_rendering_panel.h"
#include "ui/counterfactual_panel.h"
#include "ui/dataset_effect_view.h"
#include "ui/image_view.h"
#include "ui/main_window.h"
#include "ui/tcav_panel.h"
#include "ui/thumbnail_model.h"
#include "ui/view_support.h"
#include "workbench.h"

using dx::app::Workbench;
using dx::test::waitFor;

namespace {

// A workbench with a model, 8 images and 3 k-means concepts.
struct Project {
  QTemporaryDir tmp;
  Workbench w;
  Project() {
    w.setCacheRoot(tmp.filePath("cache"));
    EXPECT_TRUE(dx::test::openWithConcepts(w, dx::test::makeImages(tmp, 8, 5)));
  }
};

}  // namespace

TEST(Views, TogglingAConceptChangesTheShownProbabilities) {
  Project p;
  ASSERT_NE(p.w.concepts(), nullptr);
  dx::ui::CounterfactualPanel panel;
  panel.setSession(p.w.concepts());
  panel.showImage(0);
  auto before = panel.shownEdited();
  ASSERT_EQ(before, panel.shownOriginal());  // no edits yet: both bars equal
  // Amplify each concept in turn through the panel's API until one moves the prediction; the
  // chart must show exactly what the session computes for those toggles.
  bool moved = false;
  for (int c = 0; c < 3 && !moved; ++c) {
    panel.setToggles({{c, 2.0}});
    auto shown = panel.shownEdited();
    auto expected = p.w.concepts()->counterfactual(0, {{c, 2.0}});
    ASSERT_EQ(shown.size(), expected.size());
    for (size_t k = 0; k < shown.size(); ++k) EXPECT_NEAR(shown[k], expected[k], 1e-6);
    for (size_t k = 0; k < shown.size(); ++k) moved |= std::abs(shown[k] - before[k]) > 1e-5;
  }
  EXPECT_TRUE(moved);
  // The "off" boxes are the user's path: checking one sets strength -1 and updates the chart.
  panel.setToggles({});
  auto boxes = panel.findChildren<QCheckBox*>();
  ASSERT_FALSE(boxes.empty());
  QSignalSpy changed(&panel, &dx::ui::CounterfactualPanel::togglesChanged);
  boxes.front()->click();
  EXPECT_EQ(changed.size(), 1);
  ASSERT_EQ(panel.toggles().size(), 1u);
  EXPECT_DOUBLE_EQ(panel.toggles()[0].strength, -1.0);
  auto expected = p.w.concepts()->counterfactual(0, panel.toggles());
  auto shown = panel.shownEdited();
  for (size_t k = 0; k < shown.size(); ++k) EXPECT_NEAR(shown[k], expected[k], 1e-6);
}

TEST(Views, TheEditListShowsWhatTheEditsDidToEveryConcept) {
  Project p;
  ASSERT_NE(p.w.concepts(), nullptr);
  const auto& session = *p.w.concepts();
  dx::ui::CounterfactualPanel panel;
  panel.setSession(p.w.concepts());
  panel.showImage(0);
  auto* list = panel.findChild<dx::ui::ConceptEditList*>();
  ASSERT_NE(list, nullptr);
  // Without edits the live strengths are the cached ones, and the list shows them alone.
  const std::vector<float> before = session.strengths(0);
  const auto unedited = session.edit(0, {});
  ASSERT_EQ(unedited.strengths.size(), before.size());
  for (size_t c = 0; c < before.size(); ++c) {
    EXPECT_NEAR(unedited.strengths[c], before[c], 1e-4);
    EXPECT_EQ(list->presentText(int(c)), QString::number(before[c], 'f', 2));
  }
  // Doubling the strongest concept raises its strength; every row that moved shows before → after.
  const int strongest = int(std::max_element(before.begin(), before.end()) - before.begin());
  ASSERT_GT(before[size_t(strongest)], 0.f);
  panel.setToggles({{strongest, 2.0}});
  const auto after = session.edit(0, panel.toggles()).strengths;
  EXPECT_GT(after[size_t(strongest)], before[size_t(strongest)] + 0.01f);
  for (size_t c = 0; c < before.size(); ++c) {
    const QString shown = list->presentText(int(c));
    if (std::abs(after[c] - before[c]) >= 0.005f)
      EXPECT_EQ(shown, QString::number(before[c], 'f', 2) + QStringLiteral(" → ") +
                           QString::number(after[c], 'f', 2));
    else
      EXPECT_EQ(shown, QString::number(before[c], 'f', 2));
  }
  panel.setToggles({});  // back to the plain strengths
  EXPECT_EQ(list->presentText(strongest), QString::number(before[size_t(strongest)], 'f', 2));
}

TEST(Views, TheImageViewFirstMapsTheConceptBehindThePrediction) {
  Project p;
  ASSERT_NE(p.w.concepts(), nullptr);
  const auto& session = *p.w.concepts();
  dx::ui::ImageView view;
  view.setSession(p.w.concepts());
  int explained = 0, differs = 0;
  for (size_t i = 0; i < session.images(); ++i) {
    view.setSelectedConcepts({});  // nothing chosen: the view picks
    view.showImage(qint64(i));
    const auto s = session.strengths(i);
    const auto pushing = session.conceptsPushingTowards(i, session.predictedClass(i), 1);
    const int strongest = int(std::max_element(s.begin(), s.end()) - s.begin());
    if (!(s[size_t(strongest)] > 0)) {
      EXPECT_TRUE(view.selectedConcepts().empty());
      continue;
    }
    const int expected = pushing.empty() ? strongest : pushing[0];
    explained += !pushing.empty();
    differs += expected != strongest;
    EXPECT_EQ(view.selectedConcepts(), std::vector<int>{expected}) << "image " << i;
  }
  EXPECT_GT(explained, 0);  // some image has a concept pushing it toward its prediction
  EXPECT_GT(differs, 0);    // and on some that is not the strongest one
}

TEST(Views, MainWindowShowsEveryViewOfTheProject) {
  Project p;
  dx::ui::MainWindow window(p.w);
  window.resize(1200, 800);
  window.show();
  // The session reached the window after it was created: reload it the way a project does.
  p.w.discover({"kmeans", "quick", 3, 0});
  ASSERT_TRUE(waitFor([&] { return !p.w.runner().busy(); }));
  QCoreApplication::processEvents();
  window.selectInterestingDefaults();
  auto* gallery = window.findChild<dx::ui::ConceptGallery*>();
  ASSERT_NE(gallery, nullptr);
  EXPECT_GE(gallery->currentConcept(), 0);
  for (int v = 0; v < dx::ui::MainWindow::viewNames().size(); ++v) {
    window.showView(static_cast<dx::ui::MainWindow::View>(v));
    QCoreApplication::processEvents();
    QImage shot = window.grab().toImage();
    EXPECT_GT(shot.width(), 600) << "view " << v;
  }
}

TEST(Views, VisionTransformerProjectShowsEveryViewAndEditsLive) {
  QTemporaryDir tmp;
  Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  ASSERT_TRUE(dx::test::openWithConcepts(w, dx::test::makeImages(tmp, 8, 5),
                                         {"eddp", "quick", 3, 0}, "tiny_vit.pt"));
  dx::ui::MainWindow window(w);
  window.resize(1200, 800);
  window.show();
  w.discover({"eddp", "quick", 3, 0});  // reaches the window's views (reopened from cache)
  ASSERT_TRUE(waitFor([&] { return !w.runner().busy(); }));
  QCoreApplication::processEvents();
  window.selectInterestingDefaults();
  for (int v = 0; v < dx::ui::MainWindow::viewNames().size(); ++v) {
    window.showView(static_cast<dx::ui::MainWindow::View>(v));
    QCoreApplication::processEvents();
    EXPECT_GT(window.grab().toImage().width(), 600) << "view " << v;
  }
  // Live switch-off at a token layer: the head reads the image's own class token.
  dx::ui::CounterfactualPanel panel;
  panel.setSession(w.concepts());
  panel.showImage(3);
  EXPECT_EQ(panel.shownEdited(), panel.shownOriginal());
  panel.setToggles({{0, -1.0}});
  EXPECT_EQ(panel.shownEdited(), w.concepts()->counterfactual(3, {{0, -1.0}}));
}

TEST(Views, ApplyToDatasetShowsTheSessionsAccuracyBeforeAndAfter) {
  Project p;
  ASSERT_NE(p.w.concepts(), nullptr);
  dx::ui::CounterfactualPanel panel;
  panel.setSession(p.w.concepts());
  panel.showImage(0);
  std::vector<dx::ConceptToggle> toggles{{0, -1.0}, {1, 2.0}};
  panel.setToggles(toggles);
  QPushButton* apply = nullptr;
  for (auto* b : panel.findChildren<QPushButton*>())
    if (b->text() == "Apply to dataset") apply = b;
  ASSERT_NE(apply, nullptr);
  ASSERT_TRUE(apply->isEnabled());
  apply->click();  // runs on a worker thread; the panel stays responsive
  auto* effect = panel.findChild<dx::ui::DatasetEffectView*>();
  ASSERT_NE(effect, nullptr);
  ASSERT_TRUE(waitFor([&] { return effect->shownEffect().has_value(); }));
  auto expected = p.w.concepts()->applyToDataset(toggles);
  EXPECT_DOUBLE_EQ(effect->shownEffect()->accuracyBefore, expected.accuracyBefore);
  EXPECT_DOUBLE_EQ(effect->shownEffect()->accuracyAfter, expected.accuracyAfter);
  EXPECT_EQ(effect->shownEffect()->confusionAfter, expected.confusionAfter);
}

TEST(Views, TcavTabRunsAStudyAndShowsItsSacvMapOnTheImage) {
  Workbench idle;
  EXPECT_FALSE(dx::ui::TcavPanel(idle).canRun());  // no model, no images
  Project p;
  dx::ui::MainWindow window(p.w);
  p.w.discover({"kmeans", "quick", 3, 0});  // reaches the window's views (reopened from cache)
  ASSERT_TRUE(waitFor([&] { return !p.w.runner().busy(); }));
  QCoreApplication::processEvents();
  auto* panel = window.findChild<dx::ui::TcavPanel*>();
  ASSERT_NE(panel, nullptr);
  EXPECT_FALSE(panel->canRun());  // no concept folder yet
  // The concept: 6 images of their own (noise, like the project's: the test is the plumbing).
  cv::RNG rng(11);
  QDir(p.tmp.path()).mkpath("striped");
  for (int i = 0; i < 6; ++i) {
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite(p.tmp.filePath(QStringLiteral("striped/%1.png").arg(i)).toStdString(), img);
  }
  panel->setConceptFolders({p.tmp.filePath("striped")});
  EXPECT_TRUE(panel->canRun());
  // A CNN layer keeps no class token: the option is off and cannot reach the request.
  QCheckBox* classToken = nullptr;
  for (auto* box : panel->findChildren<QCheckBox*>())
    if (box->text().startsWith(QStringLiteral("On the class token"))) classToken = box;
  ASSERT_NE(classToken, nullptr);
  EXPECT_FALSE(classToken->isEnabled());
  classToken->setChecked(true);
  EXPECT_FALSE(panel->request().classToken);
  classToken->setChecked(false);
  // The project has 8 images: two random sets of 3 drawn from them, class alpha (labelled).
  dx::TcavRequest request = panel->request();
  request.randomSetSize = 3;
  request.runs = 2;
  request.classIndex = 0;
  p.w.runTcav(request);
  EXPECT_FALSE(panel->canRun());  // while the study runs
  ASSERT_TRUE(waitFor([&] { return p.w.tcavReport() != nullptr; }));
  QCoreApplication::processEvents();
  const auto& report = *p.w.tcavReport();
  ASSERT_EQ(report.concepts.size(), 1u);
  EXPECT_EQ(report.concepts[0].name, "striped");
  EXPECT_EQ(report.concepts[0].scores.size(), 2u);
  EXPECT_EQ(report.classSelection, "labelled");
  EXPECT_EQ(panel->findChild<QTableWidget*>()->rowCount(), 1);
  EXPECT_TRUE(panel->canRun());

  window.selectInterestingDefaults();  // an image in the image view
  auto* view = window.findChild<dx::ui::ImageView*>();
  ASSERT_GE(view->currentImage(), 0);
  Q_EMIT panel->sacvMapRequested(0, false);
  EXPECT_TRUE(view->hasExtraOverlay());
  view->showImage(view->currentImage());  // the map belongs to one image: showing one drops it
  EXPECT_FALSE(view->hasExtraOverlay());
}

TEST(Views, DiscoveryNamesConceptsWithInvertAndRelabelingReportsBack) {
  Project p;
  ASSERT_NE(p.w.concepts(), nullptr);
  auto session = p.w.concepts();
  // Named from the two classes right after discovery: the formula, its evidence and positives.
  int named = 0;
  for (int c = 0; c < session->concepts(); ++c) {
    const auto& info = session->concept(c);
    if (info.labelAuc < 0) continue;
    ++named;
    EXPECT_FALSE(info.label.empty());
    EXPECT_EQ(info.labelPositives.size(), session->images());
    EXPECT_GE(info.labelAuc, 0.5);  // positive mode: the formula's images score higher
  }
  EXPECT_GT(named, 0);
  QSignalSpy changed(&p.w, &Workbench::changed);
  p.w.labelConcepts({}, true);  // by mean strength
  ASSERT_TRUE(waitFor([&] {
    for (const auto& call : changed)
      if (call.at(0).value<Workbench::Change>() == Workbench::Change::Labels) return true;
    return false;
  }));
  EXPECT_EQ(p.w.concepts(), session);  // relabeling keeps the session (and its views)
}

TEST(Views, CheckingSeedStabilityMarksUnstableConceptsAndKeepsTheValues) {
  Project p;
  auto session = p.w.concepts();
  ASSERT_NE(session, nullptr);
  EXPECT_TRUE(std::isnan(session->concept(0).stability));
  QSignalSpy checked(&p.w, &Workbench::stabilityChecked);
  p.w.checkStability(2);
  ASSERT_TRUE(waitFor([&] { return checked.count() > 0; }));
  EXPECT_EQ(p.w.concepts(), session);  // the same session (and views), now with stability
  dx::ui::ConceptGalleryModel gallery;
  gallery.setSession(session);
  for (int c = 0; c < session->concepts(); ++c) {
    double stability = session->concept(c).stability;
    ASSERT_TRUE(stability >= 0 && stability <= 1) << stability;
    auto index = gallery.index(gallery.rowOf(c), 0);
    QString warning = gallery.data(index, dx::ui::ConceptGalleryModel::WarningRole).toString();
    bool degenerate = !dx::degeneracyReason(session->concept(c).patchFraction).empty();
    EXPECT_EQ(warning.contains("unstable"), stability < dx::kUnstableBelow && !degenerate);
    EXPECT_TRUE(gallery.data(index, Qt::ToolTipRole).toString().contains(
        QString::number(stability, 'f', 2)));
  }
  // Saved with the concepts: reopening the folder gives the same values.
  auto reopened = dx::ConceptSession::open(p.w.model(), p.w.activations(), session->dir());
  for (int c = 0; c < session->concepts(); ++c)
    EXPECT_DOUBLE_EQ(reopened->concept(c).stability, session->concept(c).stability);
  // Every case of the card, whatever the refits gave: unstable, stable, not measured.
  ASSERT_EQ(reopened->concepts(), 3);
  reopened->setStability({{0.2, 0.9, NAN}});
  gallery.setSession(reopened);
  auto warningOf = [&](int c) {
    return gallery.data(gallery.index(gallery.rowOf(c), 0),
                        dx::ui::ConceptGalleryModel::WarningRole).toString();
  };
  auto tipOf = [&](int c) {
    return gallery.data(gallery.index(gallery.rowOf(c), 0), Qt::ToolTipRole).toString();
  };
  bool degenerate0 = !dx::degeneracyReason(reopened->concept(0).patchFraction).empty();
  EXPECT_EQ(warningOf(0).contains("unstable (0.20)"), !degenerate0);
  EXPECT_TRUE(tipOf(0).contains("Unstable"));
  EXPECT_FALSE(warningOf(1).contains("unstable"));
  EXPECT_TRUE(tipOf(1).contains("seed stability"));
  EXPECT_FALSE(tipOf(2).contains("stability"));
}

// One cv::Mat -> QImage conversion for every view: a red image is red in the Images grid's
// thumbnails and in the session's network view (both once came out blue in one of them).
TEST(Views, ThumbnailsAndSessionImagesKeepTheColours) {
  QTemporaryDir tmp;
  QDir(tmp.path()).mkpath("imgs/red");
  cv::Mat red(16, 16, CV_8UC3, cv::Scalar(0, 0, 255));  // OpenCV writes BGR: this is red
  ASSERT_TRUE(cv::imwrite(tmp.filePath("imgs/red/0.png").toStdString(), red));
  dx::InputSpec spec;
  spec.height = spec.width = spec.resize = 16;
  spec.mean = {0, 0, 0};
  spec.std = {1, 1, 1};
  dx::ui::ThumbnailModel model;  // no task lane: thumbnails decode right away
  model.setImages(dx::openImageSource(tmp.filePath("imgs").toStdString()), spec);
  ASSERT_EQ(model.rowCount(), 1);
  model.data(model.index(0), Qt::DecorationRole);  // asks for the thumbnail
  QImage thumbnail = model.data(model.index(0), Qt::DecorationRole).value<QImage>();
  ASSERT_FALSE(thumbnail.isNull());
  QColor pixel = thumbnail.pixelColor(thumbnail.width() / 2, thumbnail.height() / 2);
  EXPECT_GT(pixel.red(), 200);
  EXPECT_LT(pixel.blue(), 50);
  QImage view = dx::ui::imageFromMat(dx::networkView(red, spec));
  EXPECT_EQ(view.pixelColor(8, 8), QColor(255, 0, 0));
}

TEST(Views, TheConceptPageRendersAConceptAndShowsTheKeptRenderingAgain) {
  Project p;
  auto session = p.w.concepts();
  ASSERT_NE(session, nullptr);
  dx::ui::ConceptRenderingPanel panel;
  panel.setTasks(&p.w.tasks());
  panel.setSession(session);
  panel.showConcept(1);
  ASSERT_TRUE(waitFor([&] { return panel.status().contains("Not rendered yet"); }));
  EXPECT_FALSE(panel.hasImage());
  panel.render();
  ASSERT_TRUE(waitFor([&] { return panel.hasImage(); }, nullptr, 180000)) << panel.status().toStdString();
  EXPECT_TRUE(panel.status().contains("Detector")) << panel.status().toStdString();
  auto kept = session->savedRendering(1, dx::RenderTarget::Decoder);
  ASSERT_FALSE(kept.image.empty());
  EXPECT_EQ(kept.image.channels(), 3);
  // The encoder direction has no rendering yet; the other concept neither.
  EXPECT_TRUE(session->savedRendering(1, dx::RenderTarget::Encoder).image.empty());
  EXPECT_TRUE(session->savedRendering(0, dx::RenderTarget::Decoder).image.empty());
  // A new page (a reopened project) finds the kept rendering without rendering again.
  dx::ui::ConceptRenderingPanel again;
  again.setTasks(&p.w.tasks());
  again.setSession(session);
  again.showConcept(1);
  ASSERT_TRUE(waitFor([&] { return again.hasImage(); }));
}

TEST(Views, TheAuditSortsConceptsIntoCategoriesAndExportsThem) {
  Project p;
  auto session = p.w.concepts();
  ASSERT_NE(session, nullptr);
  dx::ui::AuditView view;
  view.categories()->setTasks(&p.w.tasks());
  view.setSession(session);
  view.showCategories();
  view.resize(900, 600);
  view.show();
  auto* panel = view.categories();
  ASSERT_TRUE(waitFor([&] { return panel->result() != nullptr; })) << panel->status().toStdString();
  int shownCells = 0;
  for (const auto& c : panel->result()->cells) shownCells += c.cls == panel->shownClass();
  EXPECT_EQ(panel->table()->rowCount(), shownCells);
  EXPECT_FALSE(panel->status().contains("Testing")) << panel->status().toStdString();

  QString error;
  const QString csv = p.tmp.filePath("audit.csv"), json = p.tmp.filePath("audit.json");
  ASSERT_TRUE(panel->exportTo(csv, &error)) << error.toStdString();
  ASSERT_TRUE(panel->exportTo(json, &error)) << error.toStdString();
  QFile csvFile(csv), jsonFile(json);
  ASSERT_TRUE(csvFile.open(QIODevice::ReadOnly));
  EXPECT_TRUE(csvFile.readLine().startsWith("class,concept,name,category"));
  ASSERT_TRUE(jsonFile.open(QIODevice::ReadOnly));
  EXPECT_TRUE(jsonFile.readAll().contains("\"rule\""));
  EXPECT_FALSE(panel->exportTo(p.tmp.filePath("missing/folder/audit.csv"), &error));
  EXPECT_TRUE(error.contains("missing/folder")) << error.toStdString();

  // A new session (another discovery) clears the old result and computes again.
  view.setSession(nullptr);
  EXPECT_EQ(panel->result(), nullptr);
  EXPECT_EQ(panel->table()->rowCount(), 0);
}

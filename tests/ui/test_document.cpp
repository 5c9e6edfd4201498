// The project document: every edit kind undoes and redoes to the same state and title mark, and
// closing with unsaved edits asks to save.
#include <QAction>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>

#include <gtest/gtest.h>

#include "project_document.h"
#include "test_models.h"
#include "ui/main_window.h"
#include "ui_fixtures.h"
#include "workbench.h"

using dx::app::ProjectDocument;
using dx::app::Workbench;
using dx::test::waitFor;

namespace {

// A workbench with 3 k-means concepts of the small test model, and a window on it.
class DocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    workbench.setCacheRoot(tmp.filePath("cache"));
    window = std::make_unique<dx::ui::MainWindow>(workbench);
    ASSERT_TRUE(dx::test::openWithConcepts(workbench, dx::test::makeImages(tmp)));
    ASSERT_FALSE(document().isModified());
  }
  ProjectDocument& document() { return window->document(); }
  bool idle() { return !workbench.runner().busy(); }
  std::string name(int concept) { return workbench.concepts()->concept(concept).label; }

  // Undo and redo `edit` once each, checking `state` before, after and again, and the mark.
  template <typename State>
  void checkUndoRedo(const std::function<State()>& state, const std::function<void()>& edit) {
    document().markSaved();
    State before = state();
    edit();
    ASSERT_TRUE(waitFor([&] { return idle(); }));
    State after = state();
    EXPECT_NE(before, after) << "the edit changed nothing";
    EXPECT_TRUE(document().isModified());
    EXPECT_TRUE(window->isWindowModified());
    document().undoStack().undo();
    ASSERT_TRUE(waitFor([&] { return idle() && state() == before; }));
    EXPECT_FALSE(document().isModified());
    EXPECT_FALSE(window->isWindowModified());
    document().undoStack().redo();
    ASSERT_TRUE(waitFor([&] { return idle() && state() == after; }));
    EXPECT_TRUE(window->isWindowModified());
  }

  QTemporaryDir tmp;
  Workbench workbench;
  std::unique_ptr<dx::ui::MainWindow> window;
};

TEST_F(DocumentTest, RenameConcept) {
  checkUndoRedo<std::string>([&] { return name(1); },
                             [&] { document().renameConcept(1, "striped sleeve"); });
  EXPECT_EQ(document().undoStack().text(0), "Rename Concept");
}

TEST_F(DocumentTest, PinAndUnpinConcept) {
  using Pins = std::set<int>;
  checkUndoRedo<Pins>([&] { return document().pinned(); }, [&] { document().setPinned(2, true); });
  checkUndoRedo<Pins>([&] { return document().pinned(); },
                      [&] { document().setPinned(2, false); });
}

TEST_F(DocumentTest, SwitchOffAndStrengthMergeIntoOneStep) {
  using Strengths = std::map<int, double>;
  auto state = [&] { return document().strengths(); };
  checkUndoRedo<Strengths>(state, [&] { document().setStrength(0, -1); });
  EXPECT_EQ(document().undoStack().text(0), "Switch Off Concept");
  // A slider drag: many values of one concept, one undo step back to where it started.
  int steps = document().undoStack().count();
  checkUndoRedo<Strengths>(state, [&] {
    for (double s : {0.25, 0.5, 0.75, 1.0}) document().setStrength(1, s);
  });
  EXPECT_EQ(document().undoStack().count(), steps + 1);
  // A drag that ends where it began leaves no step behind.
  steps = document().undoStack().count();
  for (double s : {0.5, 1.5, 0.0}) document().setStrength(2, s);
  EXPECT_EQ(document().undoStack().count(), steps);
  checkUndoRedo<Strengths>(state, [&] { document().setEdits({}); });
}

TEST_F(DocumentTest, NameConceptsWithInvert) {
  auto names = [&] { return std::vector<std::string>{name(0), name(1), name(2)}; };
  // Discovery named them from the classes; a user name first, so INVERT's names differ.
  document().renameConcept(0, "mine");
  checkUndoRedo<std::vector<std::string>>(names, [&] { document().nameConcepts({}, false); });
}

TEST_F(DocumentTest, RenamesWaitWhileInvertNamesTheConcepts) {
  QSignalSpy error(&workbench, &Workbench::error);
  document().nameConcepts({}, false);
  ASSERT_TRUE(workbench.runner().busy());
  document().renameConcept(1, "mine");  // would be overwritten when the naming job ends
  EXPECT_EQ(error.count(), 1);
  ASSERT_TRUE(waitFor([&] { return idle(); }));
  document().renameConcept(1, "mine");
  EXPECT_EQ(name(1), "mine");
}

TEST_F(DocumentTest, TagsFile) {
  QString csv = tmp.filePath("tags.csv");
  QFile file(csv);
  ASSERT_TRUE(file.open(QIODevice::WriteOnly));
  for (int i = 0; i < 6; ++i)  // the images of makeImages, tagged by i mod 3
    file.write(QString("%1/%2.png,%3\n").arg(i % 2 ? "alpha" : "beta").arg(i)
                   .arg(i % 3 ? "round" : "square").toUtf8());
  file.close();
  using State = std::pair<QString, std::vector<std::string>>;
  auto state = [&] { return State{document().tagsFile(), {name(0), name(1), name(2)}}; };
  checkUndoRedo<State>(state, [&] { document().nameConcepts(csv, false); });
  EXPECT_EQ(document().undoStack().text(document().undoStack().index() - 1), "Set Tags File");
}

TEST_F(DocumentTest, DiscoverySettings) {
  auto settings = [&] {
    auto s = workbench.concepts()->settings();
    return std::to_string(s.concepts) + s.method + s.preset;
  };
  document().setPinned(1, true);
  checkUndoRedo<std::string>(settings, [&] { document().setDiscovery({"kmeans", "quick", 2, 0}); });
  EXPECT_TRUE(document().pinned().empty()) << "pins belong to the concept set they were made on";
  document().undoStack().undo();
  ASSERT_TRUE(waitFor([&] { return idle() && workbench.concepts()->concepts() == 3; }));
  EXPECT_EQ(document().pinned(), std::set<int>{1});
}

TEST_F(DocumentTest, Layer) {
  auto layer = [&] { return workbench.layer().toStdString(); };
  checkUndoRedo<std::string>(layer, [&] { document().setLayer("conv1"); });
  EXPECT_EQ(workbench.concepts(), nullptr) << "conv1 has no concepts yet";
  document().undoStack().undo();  // back to conv2: its concepts come back too
  ASSERT_TRUE(waitFor([&] { return idle() && workbench.concepts() != nullptr; }));
  EXPECT_EQ(workbench.concepts()->concepts(), 3);
  EXPECT_EQ(layer(), "conv2");
}

TEST_F(DocumentTest, UndoingADiscoveryBringsBackTheSameConceptsWithUnsavedNames) {
  document().renameConcept(0, "not saved yet");
  auto before = workbench.concepts();
  document().setDiscovery({"kmeans", "quick", 2, 0});
  ASSERT_TRUE(waitFor([&] { return idle() && workbench.concepts()->concepts() == 2; }));
  document().undoStack().undo();
  ASSERT_TRUE(waitFor([&] { return idle() && workbench.concepts()->concepts() == 3; }));
  EXPECT_EQ(workbench.concepts(), before);
  EXPECT_EQ(name(0), "not saved yet");
}

TEST_F(DocumentTest, ACancelledJobTakesItsCommandBackAndUndoWaitsForJobs) {
  QAction* undo = document().createUndoAction(window.get());
  document().setDiscovery({"eddp", "paper", 3, 0});  // long enough to be cancelled
  ASSERT_TRUE(workbench.runner().busy());
  EXPECT_FALSE(undo->isEnabled()) << "undo must wait for the job its step would race";
  EXPECT_TRUE(document().isModified());
  workbench.cancel();
  ASSERT_TRUE(waitFor([&] { return idle(); }));
  QCoreApplication::processEvents();
  EXPECT_FALSE(document().undoStack().canUndo());
  EXPECT_TRUE(document().undoStack().canRedo());
  EXPECT_FALSE(document().isModified());
  EXPECT_EQ(workbench.concepts()->settings().method, "kmeans");
  // Commands that need a job are refused while one runs, with the workbench's message.
  QSignalSpy error(&workbench, &Workbench::error);
  workbench.extract();
  ASSERT_TRUE(workbench.runner().busy());
  document().setDiscovery({"pca", "quick", 3, 0});
  EXPECT_EQ(error.count(), 1);
  EXPECT_FALSE(document().undoStack().canUndo());
  workbench.runner().wait();
}

TEST_F(DocumentTest, ClosingWithUnsavedEditsAsksToSave) {
  int asked = 0;
  window->setUnsavedPrompt([&] {
    ++asked;
    return dx::ui::MainWindow::UnsavedChoice::Cancel;
  });
  window->show();
  EXPECT_TRUE(window->close()) << "nothing to save: no question";
  EXPECT_EQ(asked, 0);
  window->show();
  document().renameConcept(0, "edited");
  EXPECT_FALSE(window->close()) << "Cancel keeps the window open";
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(window->isVisible());
  window->setUnsavedPrompt([&] {
    ++asked;
    return dx::ui::MainWindow::UnsavedChoice::Discard;
  });
  EXPECT_TRUE(window->close());
  EXPECT_EQ(asked, 2);
}

}  // namespace

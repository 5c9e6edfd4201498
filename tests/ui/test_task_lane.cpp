// The views' job lane: results come back on the GUI thread, failures as messages, and Cancel
// (one context, or everything through the workbench) reaches queued and running tasks.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>

#include <atomic>
#include <memory>

#include <gtest/gtest.h>

#include "data/demo.h"
#include "task_lane.h"
#include "ui_fixtures.h"
#include "workbench.h"

using dx::CancelToken;
using dx::app::TaskLane;
using dx::test::waitFor;

namespace {

// Work that runs until it is cancelled (or `limitMs` passes), counting how it ended.
struct Counts {
  std::atomic<int> started{0}, finished{0}, dropped{0};
};
TaskLane::Work untilCancelled(Counts& counts, int limitMs = 20000) {
  return [&counts, limitMs](const CancelToken& cancel) -> std::function<void()> {
    ++counts.started;
    for (int ms = 0; ms < limitMs; ms += 5) {
      if (cancel.cancelled()) throw dx::Cancelled();
      QThread::msleep(5);
    }
    return [&counts] { ++counts.finished; };
  };
}

TEST(TaskLane, ContinuationRunsOnTheGuiThreadAndFailuresAreMessages) {
  TaskLane lane;
  QObject context;
  Qt::HANDLE guiThread = QThread::currentThreadId();
  Qt::HANDLE workThread = nullptr, doneThread = nullptr;
  TaskLane::post(&lane, &context, "sum", [&](const CancelToken&) -> std::function<void()> {
    workThread = QThread::currentThreadId();
    return [&] { doneThread = QThread::currentThreadId(); };
  });
  ASSERT_TRUE(waitFor([&] { return doneThread != nullptr; }));
  EXPECT_NE(workThread, guiThread);
  EXPECT_EQ(doneThread, guiThread);

  QSignalSpy failed(&lane, &TaskLane::failed);
  TaskLane::post(&lane, &context, "Decoding crops", [](const CancelToken&) -> std::function<void()> {
    throw dx::UserError("broken.png: not an image");
  });
  ASSERT_TRUE(failed.wait(5000));
  EXPECT_EQ(failed.at(0).at(0).toString(), "Decoding crops");
  EXPECT_EQ(failed.at(0).at(1).toString(), "broken.png: not an image");
}

TEST(TaskLane, CancelAllStopsRunningAndQueuedTasks) {
  TaskLane lane;
  QObject context;
  Counts counts;
  for (int i = 0; i < 6; ++i)  // more than the pool's threads: some stay queued
    TaskLane::post(&lane, &context, "long", untilCancelled(counts), 0,
                   [&counts] { ++counts.dropped; });
  ASSERT_TRUE(waitFor([&] { return counts.started > 0; }, nullptr, 5000));
  lane.cancelAll();
  ASSERT_TRUE(waitFor([&] { return counts.dropped == 6; }, nullptr, 5000));
  EXPECT_EQ(counts.finished, 0);
  EXPECT_EQ(lane.pending(), 0);
}

TEST(TaskLane, CancelReachesOneContextOnlyAndAGoneContextGetsNothing) {
  TaskLane lane;
  QObject kept;
  auto gone = std::make_unique<QObject>();
  Counts keptCounts, goneCounts;
  TaskLane::post(&lane, &kept, "kept", untilCancelled(keptCounts, 300));
  TaskLane::post(&lane, gone.get(), "gone", untilCancelled(goneCounts, 300));
  ASSERT_TRUE(waitFor([&] { return keptCounts.started > 0 && goneCounts.started > 0; }));
  gone.reset();  // its result must not reach a deleted object
  lane.cancel(&kept);
  lane.waitForDone();
  QCoreApplication::processEvents();
  EXPECT_EQ(keptCounts.finished, 0);
  EXPECT_EQ(goneCounts.finished, 0);

  Counts other;
  TaskLane::post(&lane, &kept, "other", untilCancelled(other, 50));
  ASSERT_TRUE(waitFor([&] { return other.finished == 1; }, nullptr, 5000))
      << "a cancel must not stop later tasks of the same context";
}

TEST(TaskLane, WorkbenchCancelStopsTheJobAndTheViewsTasks) {
  QTemporaryDir tmp;
  dx::app::Workbench w;
  w.setCacheRoot(tmp.filePath("cache"));
  w.openModel(QString::fromStdString(dx::demoModelPath()));
  QSignalSpy changed(&w, &dx::app::Workbench::changed);
  ASSERT_TRUE(changed.wait(20000));
  QSignalSpy progressed(&w.runner(), &dx::app::JobRunner::progressed);
  QSignalSpy cancelled(&w.runner(), &dx::app::JobRunner::cancelled);
  QObject view;
  Counts counts;
  TaskLane::post(&w.tasks(), &view, "view task", untilCancelled(counts), 0,
                 [&counts] { ++counts.dropped; });
  w.openImages("fashion-mnist:test");  // 10,000 images: long enough to cancel mid-way
  ASSERT_TRUE(progressed.wait(30000));
  w.cancel();
  ASSERT_TRUE(cancelled.count() > 0 || cancelled.wait(5000));
  ASSERT_TRUE(waitFor([&] { return counts.dropped == 1; }, nullptr, 5000));
  EXPECT_EQ(counts.finished, 0);
}

}  // namespace

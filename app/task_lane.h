#pragma once
// The second job lane, for short work a view needs while the user waits: decoding thumbnails and
// patch crops, a concept's strength pass, a counterfactual over the whole dataset. The JobRunner
// runs one long job at a time; here many tasks share one thread pool, newest or most urgent
// first. Every task gets a CancelToken: cancel(context) and cancelAll() reach queued and running
// tasks alike (the workbench's Cancel calls cancelAll). A task's result is a continuation that
// runs on the GUI thread while its context object lives; an exception comes back as failed().
// Views never start threads of their own (checked by tests/layering.cmake).
#include <QObject>
#include <QString>
#include <QThreadPool>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "base/progress.h"

namespace dx::app {

class TaskLane : public QObject {
  Q_OBJECT
 public:
  // Runs on a worker; returns what to do on the GUI thread afterwards (may be empty).
  using Work = std::function<std::function<void()>(const CancelToken&)>;

  explicit TaskLane(QObject* parent = nullptr);
  ~TaskLane() override;  // cancels everything and waits for running tasks

  // Queues `work` for `context`; higher priority starts first. `dropped` runs on the GUI thread
  // instead of a continuation when the task is cancelled before it returned one. With
  // lane == nullptr (a view used on its own) everything runs right away on the calling thread.
  static void post(TaskLane* lane, QObject* context, const QString& title, Work work,
                   int priority = 0, std::function<void()> dropped = {});
  // A progress sink for a task's work that calls `onProgress` on the GUI thread while `context`
  // lives, at most ~20 times a second.
  static ProgressSink progressSink(TaskLane* lane, QObject* context,
                                   std::function<void(const Progress&)> onProgress);
  // Drops the queued tasks of `context` and cancels its running ones.
  void cancel(QObject* context);
  void cancelAll();
  int pending() const;  // queued + running
  void waitForDone();

 Q_SIGNALS:
  void failed(const QString& title, const QString& message);

 private:
  struct Task;
  void enqueue(QObject* context, const QString& title, Work work, int priority,
               std::function<void()> dropped);
  void queueDropped(Task* task);
  void execute(Task* task);
  // Cancels the tasks of `owner` (nullptr: every task).
  void cancelWhere(const QObject* owner);

  QThreadPool mPool;
  mutable std::mutex mMutex;
  std::set<Task*> mQueued, mRunning;
  // Finished tasks whose continuation is queued to the GUI thread: a cancel still reaches them.
  std::map<quint64, std::pair<const QObject*, CancelToken>> mDelivering;
  quint64 mNextDelivery = 0;
};

}  // namespace dx::app

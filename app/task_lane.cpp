#include "task_lane.h"

#include <QMetaObject>
#include <QPointer>
#include <QRunnable>
#include <chrono>
#include <exception>

namespace dx::app {

struct TaskLane::Task : QRunnable {
  TaskLane* lane = nullptr;
  QPointer<QObject> context;
  const QObject* owner = nullptr;  // for matching after the context is gone
  QString title;
  Work work;
  std::function<void()> dropped;
  CancelToken token;
  void run() override { lane->execute(this); }
};

TaskLane::TaskLane(QObject* parent) : QObject(parent) {}

TaskLane::~TaskLane() {
  cancelAll();
  mPool.waitForDone();
}

void TaskLane::post(TaskLane* lane, QObject* context, const QString& title, Work work,
                    int priority, std::function<void()> dropped) {
  if (lane) return lane->enqueue(context, title, std::move(work), priority, std::move(dropped));
  if (auto done = work(CancelToken())) done();
}

ProgressSink TaskLane::progressSink(TaskLane* lane, QObject* context,
                                    std::function<void(const Progress&)> onProgress) {
  if (!lane) return onProgress;
  QPointer<TaskLane> self(lane);
  QPointer<QObject> target(context);
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [self, target, onProgress, last](const Progress& p) {
    auto now = std::chrono::steady_clock::now();
    if (p.done < p.total && now - *last < std::chrono::milliseconds(50)) return;
    *last = now;
    if (!self) return;
    QMetaObject::invokeMethod(self, [target, onProgress, p] {
      if (target) onProgress(p);
    }, Qt::QueuedConnection);
  };
}

void TaskLane::enqueue(QObject* context, const QString& title, Work work, int priority,
                       std::function<void()> dropped) {
  auto* task = new Task;
  task->setAutoDelete(false);
  task->lane = this;
  task->context = context;
  task->owner = context;
  task->title = title;
  task->work = std::move(work);
  task->dropped = std::move(dropped);
  {
    std::lock_guard<std::mutex> lock(mMutex);
    mQueued.insert(task);
  }
  mPool.start(task, priority);
}

void TaskLane::execute(Task* task) {
  {
    std::lock_guard<std::mutex> lock(mMutex);
    mQueued.erase(task);
    mRunning.insert(task);
  }
  std::function<void()> done;
  QString error;
  bool cancelled = false;
  try {
    if (task->token.cancelled()) throw Cancelled();
    done = task->work(task->token);
  } catch (const Cancelled&) {
    cancelled = true;
  } catch (const std::exception& e) {
    error = QString::fromStdString(e.what());
  } catch (...) {
    error = tr("an unknown error");
  }
  quint64 delivery = 0;
  {
    std::lock_guard<std::mutex> lock(mMutex);
    mRunning.erase(task);
    if (!cancelled) {
      delivery = ++mNextDelivery;
      mDelivering[delivery] = {task->owner, task->token};
    }
  }
  if (cancelled) {
    queueDropped(task);
    return;
  }
  QPointer<QObject> context = task->context;
  QString title = task->title;
  CancelToken token = task->token;
  std::function<void()> dropped = std::move(task->dropped);
  delete task;
  QPointer<TaskLane> self(this);
  // Queued to the GUI thread; dropped there when the context (or the lane) is gone meanwhile,
  // and a cancel that comes after the work ended but before this runs still counts.
  QMetaObject::invokeMethod(this, [self, context, title, error, done, token, dropped, delivery] {
    if (!self) return;
    {
      std::lock_guard<std::mutex> lock(self->mMutex);
      self->mDelivering.erase(delivery);
    }
    if (!context) return;
    if (token.cancelled()) {
      if (dropped) dropped();
    } else if (!error.isEmpty()) {
      Q_EMIT self->failed(title, error);
    } else if (done) {
      done();
    }
  }, Qt::QueuedConnection);
}

// Runs the task's `dropped` on the GUI thread (when its context still lives) and frees it.
void TaskLane::queueDropped(Task* task) {
  QPointer<QObject> context = task->context;
  std::function<void()> dropped = std::move(task->dropped);
  delete task;
  if (!dropped) return;
  QMetaObject::invokeMethod(this, [context, dropped] {
    if (context) dropped();
  }, Qt::QueuedConnection);
}

void TaskLane::cancelWhere(const QObject* owner) {
  auto matches = [owner](const QObject* o) { return !owner || o == owner; };
  std::lock_guard<std::mutex> lock(mMutex);
  for (auto it = mQueued.begin(); it != mQueued.end();) {
    Task* task = *it;
    if (matches(task->owner) && mPool.tryTake(task)) {  // not started: it never will
      it = mQueued.erase(it);
      queueDropped(task);
    } else {
      ++it;
    }
  }
  for (Task* task : mRunning)
    if (matches(task->owner)) task->token.cancel();
  for (auto& [id, delivery] : mDelivering)
    if (matches(delivery.first)) delivery.second.cancel();
  // Queued tasks that tryTake could not take are starting now: their token stops them.
  for (Task* task : mQueued)
    if (matches(task->owner)) task->token.cancel();
}

void TaskLane::cancel(QObject* context) {
  if (context) cancelWhere(context);
}

void TaskLane::cancelAll() {
  cancelWhere(nullptr);
}

int TaskLane::pending() const {
  std::lock_guard<std::mutex> lock(mMutex);
  return int(mQueued.size() + mRunning.size());
}

void TaskLane::waitForDone() { mPool.waitForDone(); }

}  // namespace dx::app

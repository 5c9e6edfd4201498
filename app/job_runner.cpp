#include "job_runner.h"

#include <QFuture>
#include <QMetaObject>
#include <QPointer>
#include <QtConcurrent/QtConcurrent>

#include <chrono>
#include <memory>

namespace dx::app {

struct JobRunner::State {
  QFuture<void> future;
};

JobRunner::JobRunner(QObject* parent) : QObject(parent), d(new State) {}

JobRunner::~JobRunner() {
  cancel();
  wait();
  delete d;
}

bool JobRunner::start(const QString& title, Job job) {
  if (mBusy) return false;
  mBusy = true;
  mTitle = title;
  mToken = CancelToken();
  CancelToken token = mToken;
  QPointer<JobRunner> self(this);
  // Progress arrives on the worker thread; it is forwarded to the GUI thread by a queued call,
  // throttled to ~20 updates per second so a fast job cannot flood the event loop.
  auto lastReport = std::make_shared<std::chrono::steady_clock::time_point>();
  ProgressSink sink = [self, lastReport](const Progress& p) {
    auto now = std::chrono::steady_clock::now();
    if (p.done < p.total && now - *lastReport < std::chrono::milliseconds(50)) return;
    *lastReport = now;
    QMetaObject::invokeMethod(self, [self, p] {
      if (self) Q_EMIT self->progressed(QString::fromStdString(p.stage), p.done, p.total,
                                        p.ratePerSecond, p.secondsLeft);
    }, Qt::QueuedConnection);
  };
  d->future = QtConcurrent::run([self, job = std::move(job), sink, token, title] {
    QString error;
    bool wasCancelled = false;
    try {
      job(sink, token);
    } catch (const Cancelled&) {
      wasCancelled = true;
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
    }
    QMetaObject::invokeMethod(self, [self, title, error, wasCancelled] {
      if (!self) return;
      self->mBusy = false;
      if (wasCancelled) Q_EMIT self->cancelled(title);
      else if (!error.isEmpty()) Q_EMIT self->failed(title, error);
      else Q_EMIT self->finished(title);
    }, Qt::QueuedConnection);
  });
  Q_EMIT started(title);
  return true;
}

void JobRunner::cancel() {
  if (mBusy) mToken.cancel();
}

void JobRunner::wait() { d->future.waitForFinished(); }

}  // namespace dx::app

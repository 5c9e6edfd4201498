#pragma once
// Runs one long core job at a time on a worker thread (QtConcurrent) and reports back on the GUI
// thread: progress, then exactly one of finished / failed / cancelled. The job gets a progress
// sink and a cancellation token, as every core job takes.
#include <QObject>
#include <QString>
#include <functional>

#include "base/progress.h"

namespace dx::app {

class JobRunner : public QObject {
  Q_OBJECT
 public:
  using Job = std::function<void(const ProgressSink&, const CancelToken&)>;

  explicit JobRunner(QObject* parent = nullptr);
  ~JobRunner() override;  // cancels and waits, so no job outlives its owner

  // Starts `job` named `title`; refused (returns false) while another job runs.
  bool start(const QString& title, Job job);
  bool busy() const { return mBusy; }
  QString title() const { return mTitle; }
  // Asks the job to stop at its next batch boundary; `cancelled` follows.
  void cancel();
  // Blocks until the running job ends (tests, shutdown).
  void wait();

 Q_SIGNALS:
  void started(const QString& title);
  void progressed(const QString& stage, qint64 done, qint64 total, double rate, double secondsLeft);
  void finished(const QString& title);
  void failed(const QString& title, const QString& message);
  void cancelled(const QString& title);

 private:
  struct State;
  State* d;
  bool mBusy = false;
  QString mTitle;
  CancelToken mToken;
};

}  // namespace dx::app

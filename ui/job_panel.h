#pragma once
// Status-bar panel of the running job: what runs, a progress bar, the rate and time left, and a
// Cancel button (Esc) that stops the job at its next batch boundary.
#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace dx::app {
class JobRunner;
}

namespace dx::ui {

class JobPanel : public QWidget {
  Q_OBJECT
 public:
  JobPanel(app::JobRunner& runner, QWidget* parent = nullptr);

 private:
  void showProgress(const QString& stage, qint64 done, qint64 total, double rate, double left);
  void showIdle(const QString& message);

  app::JobRunner& mRunner;
  QLabel* mStage;
  QProgressBar* mBar;
  QLabel* mRate;
  QPushButton* mCancel;
};

}  // namespace dx::ui

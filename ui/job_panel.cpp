#include "job_panel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>

#include "job_runner.h"

namespace dx::ui {

JobPanel::JobPanel(app::JobRunner& runner, QWidget* parent)
    : QWidget(parent), mRunner(runner), mStage(new QLabel(tr("Ready"))),
      mBar(new QProgressBar), mRate(new QLabel), mCancel(new QPushButton(tr("Cancel"))) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 0, 4, 0);
  layout->addWidget(mStage, 1);
  layout->addWidget(mBar);
  layout->addWidget(mRate);
  layout->addWidget(mCancel);
  mBar->setFixedWidth(220);
  mBar->setVisible(false);
  mCancel->setEnabled(false);
  mCancel->setToolTip(tr("Stop the running job (Esc); results computed before stay."));
  connect(mCancel, &QPushButton::clicked, this, [this] {
    mRunner.cancel();
    mStage->setText(tr("Cancelling…"));
  });
  connect(&mRunner, &app::JobRunner::started, this, [this](const QString& title) {
    mStage->setText(title + QStringLiteral("…"));
    mBar->setVisible(true);
    mBar->setRange(0, 0);  // busy until the first progress report
    mCancel->setEnabled(true);
  });
  connect(&mRunner, &app::JobRunner::progressed, this, &JobPanel::showProgress);
  connect(&mRunner, &app::JobRunner::finished, this,
          [this](const QString& t) { showIdle(tr("%1: done").arg(t)); });
  connect(&mRunner, &app::JobRunner::failed, this,
          [this](const QString& t) { showIdle(tr("%1: failed").arg(t)); });
  connect(&mRunner, &app::JobRunner::cancelled, this,
          [this](const QString& t) { showIdle(tr("%1: cancelled").arg(t)); });
}

void JobPanel::showProgress(const QString& stage, qint64 done, qint64 total, double rate,
                            double left) {
  mStage->setText(mRunner.title() + QStringLiteral(" — ") + stage);
  mBar->setVisible(true);
  mBar->setRange(0, total > 0 ? 1000 : 0);
  if (total > 0) mBar->setValue(static_cast<int>(1000 * done / total));
  mBar->setFormat(QStringLiteral("%1 / %2").arg(done).arg(total));
  mRate->setText(left >= 0 ? tr("%1/s, %2 s left").arg(rate, 0, 'f', 0).arg(left, 0, 'f', 0)
                           : QString());
  mCancel->setEnabled(true);
}

void JobPanel::showIdle(const QString& message) {
  mStage->setText(message);
  mBar->setVisible(false);
  mRate->clear();
  mCancel->setEnabled(false);
}

}  // namespace dx::ui

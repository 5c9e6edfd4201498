#pragma once
// The audit's categories (analysis/audit_categories.h): for a chosen class, the concepts that are
// its target, its bias, unnamed drivers or its context, with the evidence behind each verdict
// (presence in the class and elsewhere, the class logit's drop when the concept is switched off,
// its p-value). Tested on the task lane whenever the concept set changes (names only re-sort the
// verdicts); exported as CSV or JSON.
#include <QWidget>
#include <memory>
#include <string>
#include <vector>

#include "analysis/audit_categories.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTableWidget;

namespace dx {
class ConceptSession;
}
namespace dx::app {
class TaskLane;
}

namespace dx::ui {

class AuditCategoriesPanel : public QWidget {
  Q_OBJECT
 public:
  explicit AuditCategoriesPanel(QWidget* parent = nullptr);

  void setTasks(app::TaskLane* tasks);
  // Recomputes the categories (on the lane); nullptr clears the panel.
  void setSession(std::shared_ptr<const ConceptSession> session);
  // The concepts were renamed or named by INVERT: only the verdicts that depend on names change,
  // so they are redone here without testing again.
  void namesChanged();
  // The last result, or nullptr while computing or without a session.
  const AuditResult* result() const { return mResult.get(); }
  void showClass(int cls);
  int shownClass() const;
  QTableWidget* table() const { return mTable; }
  QString status() const;
  // CSV, or JSON when the path ends in .json; false with a message in `error` on failure.
  bool exportTo(const QString& path, QString* error) const;

 Q_SIGNALS:
  void conceptActivated(int concept);

 private:
  void compute();
  std::vector<std::string> labels() const;  // the session's labels, read on this thread
  void showResult();
  int mostTellingClass() const;  // the first class with a bias, else the one with most cells
  void askExport();

  std::shared_ptr<const ConceptSession> mSession;
  std::shared_ptr<const AuditResult> mResult;
  app::TaskLane* mTasks = nullptr;
  bool mClassChosen = false;  // the user picked a class: results no longer pick one
  int mGeneration = 0;  // results of an older session or older names are ignored
  QComboBox* mClass;
  QLabel* mSummary;
  QLabel* mRule;
  QPushButton* mExport;
  QTableWidget* mTable;
};

}  // namespace dx::ui

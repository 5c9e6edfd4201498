#pragma once
// The TCAV tab (docs/methods.md 3): the user's concepts as folders of example images, random sets
// (drawn from the project's images, or folders), the class, runs, the CAV classifier and SACV;
// Run hands the study to the workbench (progress and Cancel in the status bar). The result is a
// bar chart with error bars and the random baseline (tcav_chart.h), a table with the p-values,
// the run's notes, and a button that asks for the SACV map of the image shown in the Image tab.
#include <QWidget>

#include "tcav/tcav_study.h"

class QChartView;
class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTableWidget;

namespace dx::app {
class Workbench;
}

namespace dx::ui {

class TcavPanel : public QWidget {
  Q_OBJECT
 public:
  explicit TcavPanel(app::Workbench& workbench, QWidget* parent = nullptr);

  // What Run asks the workbench for (the model and images are filled in by it).
  TcavRequest request() const;
  void setConceptFolders(const QStringList& dirs);
  void setRandomFolders(const QStringList& dirs);  // empty: random draws from the project
  bool canRun() const;

 Q_SIGNALS:
  // The user asked for the SACV map of `concept` (a row of the study) on the shown image:
  // the contribution S when `contribution`, else the relevance R.
  void sacvMapRequested(int concept, bool contribution);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  QWidget* buildSettings();
  QWidget* buildResults();
  void fillModel();
  void showReport();
  void updateRunnable();
  bool layerHasClassToken() const;  // the chosen layer keeps a class token (a ViT block)
  void addFolder(QListWidget* list);

  app::Workbench& mWorkbench;
  QComboBox* mLayer;
  QComboBox* mClass;
  QComboBox* mSelect;
  QListWidget* mConcepts;
  QRadioButton* mDraws;
  QRadioButton* mFolders;
  QSpinBox* mSetSize;
  QListWidget* mRandoms;
  QSpinBox* mRuns;
  QComboBox* mClassifier;
  QCheckBox* mSpatial;
  QCheckBox* mClassToken;
  QCheckBox* mRelative;
  QSpinBox* mSeed;
  QPushButton* mRun;
  QLabel* mHint;
  QChartView* mChart;
  QTableWidget* mTable;
  QLabel* mNotes;
  QComboBox* mMapKind;
  QPushButton* mShowMap;
};

}  // namespace dx::ui

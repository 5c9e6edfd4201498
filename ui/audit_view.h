#pragma once
// The error audit: every misclassified image (true class known and != predicted), filterable by
// true and predicted class, most confident mistakes first. For the selected image, the concepts
// that pushed it to the wrong class (ConceptSession::conceptsPushingTowards) and a one-click
// "what if these were off?" that shows the counterfactual prediction in place and hands the
// edit to the counterfactual panel through whatIf(). A second tab sorts every class's concepts
// into target, bias and context (AuditCategoriesPanel).
#include <QImage>
#include <QWidget>
#include <memory>
#include <vector>

class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;
class QStackedWidget;
class QTableView;
class QTabWidget;

namespace dx {
class ConceptSession;
}

namespace dx::app {
class ProjectDocument;
class TaskLane;
}

namespace dx::ui {

class AuditCategoriesPanel;
class MisclassifiedModel;

class AuditView : public QWidget {
  Q_OBJECT
 public:
  explicit AuditView(QWidget* parent = nullptr);
  ~AuditView() override;

  // nullptr clears the view and shows a hint.
  void setSession(std::shared_ptr<const ConceptSession> session);
  void setDocument(app::ProjectDocument* document);  // follows its concept set and names
  // The selected image (a session image index), -1 when none.
  qint64 currentImage() const;
  AuditCategoriesPanel* categories() const { return mCategories; }
  void showCategories();  // brings the categories tab to the front

  // Writes the whole view (list and detail) as PNG, or SVG when available.
  bool exportImage(const QString& path);

 Q_SIGNALS:
  void imageActivated(qint64 image);  // double-click or Enter on a row
  // "What if these were off?" was pressed: `concepts` switched off (strength -1) on `image`.
  void whatIf(qint64 image, std::vector<int> concepts);
  void conceptActivated(int concept);  // double-click on one of the pushing concepts

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void fillFilters();
  void filterChanged();
  void showDetail();
  void showDetailText();
  void showDetailImage(qint64 image, const QImage& picture);
  void runWhatIf();
  void showWhatIfResult();

  std::shared_ptr<const ConceptSession> mSession;
  MisclassifiedModel* mModel;
  QStackedWidget* mStack;
  QLabel* mPlaceholder;
  QTabWidget* mTabs;
  QStackedWidget* mMistakesStack;  // the mistakes, or mNoMistakes when there are none
  QLabel* mNoMistakes;
  AuditCategoriesPanel* mCategories;
  QComboBox* mTrueFilter;
  QComboBox* mPredictedFilter;
  QLabel* mCount;
  QTableView* mTable;
  QLabel* mDetailImage;
  QLabel* mDetailText;
  QLabel* mPushingTitle;
  QListWidget* mPushing;
  QPushButton* mWhatIfButton;
  QLabel* mWhatIfResult;
  app::TaskLane* mTasks = nullptr;
  qint64 mDetailFor = -1;   // the image whose detail is shown
  qint64 mLoadingFor = -1;  // the image being read for the detail
  std::vector<float> mWhatIfProbabilities;  // last what-if result for mDetailFor, or empty
};

}  // namespace dx::ui

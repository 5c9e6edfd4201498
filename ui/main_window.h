#pragma once
// The main window: a project (model, images, layer, concepts) explored through seven views in
// tabs (images, concept gallery, concept detail, image + counterfactual, audit, influence matrix,
// TCAV of the user's own concepts).
// Every slow step runs on the workbench's job runner with progress and Cancel in the status bar;
// errors appear in a banner in the window, never as a crash or a frozen GUI.
#include <QFont>
#include <QMainWindow>
#include <QString>
#include <functional>

class QComboBox;
class QDockWidget;
class QJsonObject;
class QLabel;
class QListView;
class QMenu;
class QSpinBox;
class QTabWidget;

namespace dx::app {
class ProjectDocument;
class Workbench;
}

namespace dx::ui {

class AuditView;
class ConceptDetail;
class ConceptGallery;
class CounterfactualPanel;
class ImageView;
class InfluenceMatrix;
class TcavPanel;
class ThumbnailModel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  // Tab order; also the names of --screenshot --view.
  enum class View { Images, Gallery, Concept, Image, Audit, Matrix, Tcav };
  // "images", "gallery", "concept", "image", "audit", "matrix", "tcav"
  static QStringList viewNames();

  explicit MainWindow(app::Workbench& workbench, QWidget* parent = nullptr);
  ~MainWindow() override;
  app::ProjectDocument& document() { return *mDocument; }
  // What closing with unsaved edits asks (tests replace the dialog): Save, Discard or Cancel.
  enum class UnsavedChoice { Save, Discard, Cancel };
  void setUnsavedPrompt(std::function<UnsavedChoice()> prompt) { mUnsavedPrompt = std::move(prompt); }
  ThumbnailModel& thumbnails() { return *mThumbnails; }
  void showError(const QString& message);
  void showView(View view);
  void showAuditCategories();  // the audit view's target / bias / context tab
  // Picks something sensible to show in the concept, image and audit views (for screenshots
  // and the first look at a project): the strongest concept and a misclassified image.
  void selectInterestingDefaults();
  // True while thumbnails, patch crops or other view tasks (a kept rendering) are still being
  // loaded (screenshots wait for it, at most ~10 s).
  bool busyDecoding() const;
  bool presentationMode() const { return mPresentation; }
  void setPresentationMode(bool on);
  void setDarkPalette(bool on);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  QWidget* buildImagesPage();
  void buildViews();
  void connectViews();
  void buildMenus();
  void buildFileMenu();
  void buildEditMenu();
  void buildViewMenu();
  void buildToolBar();
  void onChanged(int what);
  void fitSummaryHeight();
  void followDocument();
  bool maybeSave();  // false: the user cancelled
  void chooseModel();
  void chooseImages();
  void chooseProject();
  void saveProject(bool askForPath);
  void newProject();
  void discover();
  void openConcept(int concept);
  void openImage(qint64 cacheRow);
  void openThumbnail(int sourceRow);
  void showSacvMap(int concept, bool contribution);
  void renameCurrentConcept();
  void exportCurrentView();
  void exportConceptTable();
  void exportDirections();
  void exportReport();
  QJsonObject uiState() const;
  void restoreUiState(const QJsonObject& state);
  void remember(const QString& key, const QString& path);
  void rebuildRecentMenus();
  void updateSummary();

  app::Workbench& mWorkbench;
  app::ProjectDocument* mDocument;
  std::function<UnsavedChoice()> mUnsavedPrompt;
  ThumbnailModel* mThumbnails;
  QListView* mGrid;
  QLabel* mSummary;
  QLabel* mBanner;
  QComboBox* mLayer;
  QComboBox* mMethod = nullptr;
  QComboBox* mPreset = nullptr;
  QSpinBox* mConceptCount = nullptr;
  QTabWidget* mViews = nullptr;
  ConceptGallery* mGallery = nullptr;
  ConceptDetail* mDetail = nullptr;
  ImageView* mImageView = nullptr;
  CounterfactualPanel* mCounterfactual = nullptr;
  QDockWidget* mCounterfactualDock = nullptr;
  AuditView* mAudit = nullptr;
  InfluenceMatrix* mMatrix = nullptr;
  TcavPanel* mTcav = nullptr;
  QMenu* mRecentModels = nullptr;
  QMenu* mRecentImages = nullptr;
  QMenu* mRecentProjects = nullptr;
  bool mPresentation = false;
  QFont mNormalFont;
};

}  // namespace dx::ui

#pragma once
// The main window: open a model and an image folder (menus, drag and drop, recent files), pick a
// layer, run the extraction with progress and Cancel, browse the images with label and
// prediction. Errors appear in a banner in the window, never as a crash or a frozen GUI.
#include <QMainWindow>

class QComboBox;
class QLabel;
class QListView;
class QMenu;

namespace cs::app {
class Workbench;
}

namespace cs::ui {

class ThumbnailModel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(app::Workbench& workbench, QWidget* parent = nullptr);
  ~MainWindow() override;
  ThumbnailModel& thumbnails() { return *mThumbnails; }
  void showError(const QString& message);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void buildToolBar();
  void onChanged(int what);
  void chooseModel();
  void chooseImages();
  void openModel(const QString& path);
  void openImages(const QString& path);
  void remember(const QString& key, const QString& path);
  void rebuildRecentMenus();
  void updateSummary();

  app::Workbench& mWorkbench;
  ThumbnailModel* mThumbnails;
  QListView* mGrid;
  QLabel* mSummary;
  QLabel* mBanner;
  QComboBox* mLayer;
  QMenu* mRecentModels = nullptr;
  QMenu* mRecentImages = nullptr;
  QString mPendingImages;
};

}  // namespace cs::ui

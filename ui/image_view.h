#pragma once
// One image as the network sees it, with a heatmap of where the chosen concepts are present: the
// detector maps w_i . x_p - b_i (ConceptSession::conceptMap) upsampled bilinearly to the shown
// size, coloured with viridis over [0, max], values below a threshold left clear. Beside it the
// concepts present in the image by strength (check them to overlay; several overlay as their
// per-pixel maximum), the true label and the prediction with probabilities.
// Another view can lay its own map of the shown image over it instead (setExtraOverlay: a signed
// map such as an SACV relevance map, in diverging colours, named above the image).
#include <QSet>
#include <QWidget>
#include <memory>
#include <vector>

class QLabel;
class QSlider;
class QStackedWidget;
class QTableWidget;
class QTableWidgetItem;

namespace dx {
class ConceptSession;
}

namespace dx::app {
class ProjectDocument;
}

namespace dx::ui {

class ColourBar;
class HeatmapCanvas;

class ImageView : public QWidget {
  Q_OBJECT
 public:
  explicit ImageView(QWidget* parent = nullptr);
  ~ImageView() override;

  // nullptr clears the view and shows a hint instead.
  void setSession(std::shared_ptr<const ConceptSession> session);
  void setDocument(app::ProjectDocument* document);  // follows its concept set and names
  // `row` indexes the session's images; out of range shows the hint.
  void showImage(qint64 row);
  qint64 currentImage() const { return mImage; }

  // Concepts drawn as overlay. Kept when another image is shown, so one concept can be followed
  // through many images; when none is chosen the image's strongest concept is.
  std::vector<int> selectedConcepts() const;
  void setSelectedConcepts(const std::vector<int>& concepts);

  // Shows `map` (h x w row-major, signed) over the shown image instead of the concept maps, blue
  // below 0 and red above, with `name` above the image. The map is of that one image, so showing
  // another image, another session or choosing concepts in the list drops it again.
  void setExtraOverlay(const QString& name, std::vector<float> map, int h, int w);
  void clearExtraOverlay();
  bool hasExtraOverlay() const { return !mExtra.empty(); }

  // Writes the image, its overlay and the colour bar (not the controls) as PNG, or SVG when
  // available (see exportWidget). False when nothing is shown or the file cannot be written.
  bool exportImage(const QString& path);

 Q_SIGNALS:
  void conceptActivated(int concept);  // double-click on a concept of the list

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void fillConceptTable();
  void fillPrediction();
  void rebuildOverlay();
  void conceptItemChanged(QTableWidgetItem* item);

  std::shared_ptr<const ConceptSession> mSession;
  qint64 mImage = -1;
  QSet<int> mChecked;
  std::vector<float> mExtra;  // the extra overlay, mExtraH x mExtraW; empty: concept maps
  int mExtraH = 0, mExtraW = 0;
  QStackedWidget* mStack;
  QLabel* mPlaceholder;
  QWidget* mFigure;
  QLabel* mCaption;
  HeatmapCanvas* mCanvas;
  ColourBar* mBar;
  QLabel* mPrediction;
  QSlider* mOpacity;
  QSlider* mThreshold;
  QLabel* mThresholdValue;
  QTableWidget* mConcepts;
};

}  // namespace dx::ui

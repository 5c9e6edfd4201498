#pragma once
// Everything about one concept: a header (label, how often it fires, mean score), its top
// patches over the whole dataset (pages of 24 whole images with the patch box drawn), the image
// that drives it (a rendering, beside the patches), a histogram of its strength per image and a
// bar chart of its influence on each class.
//
// The histogram needs strengths(i)[concept] of every image, a pass over the dataset: it runs
// on a worker thread and a newer concept cancels an older pass.
#include <QWidget>
#include <memory>
#include <vector>

class QChartView;
class QLabel;
class QStackedWidget;
class QToolButton;

namespace dx {
class ConceptSession;
}

namespace dx::app {
class ProjectDocument;
class TaskLane;
}

namespace dx::ui {

class ConceptRenderingPanel;
class PatchImageCache;
class TopPatchGrid;

class ConceptDetail : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kPatchesPerPage = 24;
  static constexpr int kMaxInfluenceBars = 15;  // more do not fit a readable chart

  explicit ConceptDetail(QWidget* parent = nullptr);
  ~ConceptDetail() override;

  // nullptr clears the view and shows how to get concepts.
  void setSession(std::shared_ptr<const ConceptSession> session);
  void setDocument(app::ProjectDocument* document);  // follows its concept set and names
  int currentConcept() const { return mConcept; }
  ConceptRenderingPanel* renderingPanel() const { return mRendering; }
  // PNG, or SVG when the name ends in .svg (and the build has Qt6Svg). False on failure.
  bool exportImage(const QString& path);

 public Q_SLOTS:
  void showConcept(int concept);  // -1 shows the "pick a concept" hint
  void refresh();                 // re-read the label and numbers (e.g. after a rename)

 Q_SIGNALS:
  void imageActivated(qint64 image);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  QWidget* buildPatches();
  QWidget* buildCharts();
  void showHeader();
  void showPage(int page);
  void computeStrengths();
  void showHistogram();
  void showInfluence();
  void showPlaceholder(const QString& text);

  std::shared_ptr<const ConceptSession> mSession;
  int mConcept = -1;
  int mPage = 0;
  PatchImageCache* mImages;
  QStackedWidget* mStack;
  QLabel* mPlaceholder;
  QLabel* mHeader;
  TopPatchGrid* mGrid;
  QToolButton* mPrev;
  QToolButton* mNext;
  QLabel* mPageLabel;
  QChartView* mHistogram;
  QChartView* mInfluence;
  QLabel* mInfluenceCaption;
  ConceptRenderingPanel* mRendering;

  // Strength pass: results of an older concept or session are dropped by generation.
  app::TaskLane* mTasks = nullptr;
  quint64 mGeneration = 0;
  std::vector<float> mStrengths;
  bool mStrengthsReady = false;
  bool mStrengthsCancelled = false;  // the pass was cancelled (Esc) before it ended
};

}  // namespace dx::ui

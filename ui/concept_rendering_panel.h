#pragma once
// The concept page's rendering: the image that drives the concept (feature visualisation,
// core/visualization/), along its decoder (the detector) or its encoder (the signal vector), with
// a Render button. Renderings are kept in the concept folder as soon as they are made, so they
// come back with the project; a rendering runs on the task lane with progress, and one still
// running when another concept is shown finishes and is kept.
#include <QWidget>
#include <memory>

class QComboBox;
class QLabel;
class QPushButton;

namespace dx {
class ConceptSession;
struct ConceptRendering;
}

namespace dx::app {
class TaskLane;
}

namespace dx::ui {

class ConceptRenderingPanel : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kImageSide = 168;  // shown size in pixels (small renderings are enlarged)

  explicit ConceptRenderingPanel(QWidget* parent = nullptr);
  ~ConceptRenderingPanel() override;
  void setTasks(app::TaskLane* tasks) { mTasks = tasks; }
  void setSession(std::shared_ptr<const ConceptSession> session);
  void showConcept(int concept);  // -1 clears
  // Starts rendering the shown concept along the chosen direction.
  void render();
  bool hasImage() const { return mHasImage; }
  QString status() const;

 private:
  void loadKept();
  void show(const ConceptRendering& rendering, int concept);
  void clearImage(const QString& status);

  std::shared_ptr<const ConceptSession> mSession;
  int mConcept = -1;
  app::TaskLane* mTasks = nullptr;
  QObject* mLoads;    // task context of kept-rendering loads (cancelled on every change)
  QObject* mRenders;  // task context of renderings (cancelled with the session only)
  quint64 mGeneration = 0;        // of kept-rendering loads
  quint64 mRenderGeneration = 0;  // of renderings: a callback of an older one is ignored
  int mRenderingConcept = -1;  // the concept being rendered, -1 when none
  bool mHasImage = false;
  QLabel* mImage;
  QComboBox* mTarget;
  QPushButton* mRender;
  QLabel* mStatus;
};

}  // namespace dx::ui

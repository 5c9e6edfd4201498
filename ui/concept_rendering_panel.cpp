#include "concept_rendering_panel.h"

#include "task_lane.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPixmap>
#include <QPushButton>
#include <QVBoxLayout>
#include <cmath>

#include "analysis/concept_session.h"
#include "view_support.h"

namespace dx::ui {

ConceptRenderingPanel::ConceptRenderingPanel(QWidget* parent)
    : QWidget(parent), mLoads(new QObject(this)), mRenders(new QObject(this)), mImage(new QLabel),
      mTarget(new QComboBox), mRender(new QPushButton(tr("Render"))), mStatus(new QLabel) {
  mImage->setFixedSize(kImageSide, kImageSide);
  mImage->setAlignment(Qt::AlignCenter);
  mImage->setFrameShape(QFrame::StyledPanel);
  mTarget->addItem(tr("Detector (decoder w)"), int(RenderTarget::Decoder));
  mTarget->addItem(tr("Signal vector (encoder s)"), int(RenderTarget::Encoder));
  mTarget->setToolTip(tr("Maximise the concept's detector w·x − b at the centre patch, or the "
                         "centre patch's movement along the concept's signal vector s"));
  mRender->setToolTip(tr("Optimise an image (Fourier basis, random jitter, scale and rotation) "
                         "that drives this concept; kept with the concept set"));
  mStatus->setWordWrap(true);
  mStatus->setForegroundRole(QPalette::PlaceholderText);
  connect(mRender, &QPushButton::clicked, this, &ConceptRenderingPanel::render);
  connect(mTarget, &QComboBox::currentIndexChanged, this, [this] { loadKept(); });
  auto* controls = new QVBoxLayout;
  auto* title = new QLabel(tr("<b>What drives it</b> (feature visualisation)"));
  title->setWordWrap(true);
  controls->addWidget(title);
  controls->addWidget(mTarget);
  controls->addWidget(mRender);
  controls->addWidget(mStatus, 1);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(mImage);
  layout->addLayout(controls, 1);
  clearImage({});
}

ConceptRenderingPanel::~ConceptRenderingPanel() {
  if (mTasks) {
    mTasks->cancel(mLoads);
    mTasks->cancel(mRenders);
  }
}

void ConceptRenderingPanel::setSession(std::shared_ptr<const ConceptSession> session) {
  if (mTasks) mTasks->cancel(mRenders);  // a rendering of another concept set is of no use
  ++mRenderGeneration;                    // and its late callbacks are ignored
  mRenderingConcept = -1;
  mSession = std::move(session);
  mConcept = -2;
  showConcept(-1);
}

void ConceptRenderingPanel::showConcept(int concept) {
  mConcept = concept;
  loadKept();
}

QString ConceptRenderingPanel::status() const { return mStatus->text(); }

void ConceptRenderingPanel::clearImage(const QString& status) {
  mHasImage = false;
  mImage->setPixmap({});
  mImage->setText(tr("—"));
  mStatus->setText(status);
}

void ConceptRenderingPanel::loadKept() {
  if (mTasks) mTasks->cancel(mLoads);
  quint64 generation = ++mGeneration;
  bool valid = mSession && mConcept >= 0 && mConcept < mSession->concepts();
  mRender->setEnabled(valid && mRenderingConcept < 0);
  if (!valid) return clearImage({});
  if (mRenderingConcept == mConcept) return clearImage(tr("Rendering…"));
  clearImage(tr("Looking for a kept rendering…"));
  auto session = mSession;
  int concept = mConcept;
  auto target = RenderTarget(mTarget->currentData().toInt());
  app::TaskLane::post(mTasks, mLoads, tr("Load a concept rendering"),
                      [this, session, concept, target, generation](const CancelToken&) {
                        auto kept = session->savedRendering(concept, target);
                        return std::function<void()>([this, kept, concept, generation] {
                          if (generation != mGeneration) return;
                          if (kept.image.empty())
                            clearImage(tr("Not rendered yet: Render optimises an image that "
                                          "drives this concept."));
                          else
                            show(kept, concept);
                        });
                      });
}

void ConceptRenderingPanel::render() {
  if (!mSession || mConcept < 0 || mRenderingConcept >= 0) return;
  auto session = mSession;
  int concept = mConcept;
  auto target = RenderTarget(mTarget->currentData().toInt());
  mRenderingConcept = concept;
  mRender->setEnabled(false);
  clearImage(tr("Rendering…"));
  auto progress = app::TaskLane::progressSink(mTasks, mRenders, [this, concept](const Progress& p) {
    if (concept == mConcept)
      mStatus->setText(tr("Rendering… step %1 of %2").arg(p.done).arg(p.total));
  });
  quint64 generation = ++mRenderGeneration;
  auto finish = [this, generation] {
    if (generation != mRenderGeneration) return;  // another session meanwhile
    mRenderingConcept = -1;
    loadKept();  // shows the rendering just kept
  };
  auto failed = [this, generation, concept](const QString& why) {
    if (generation != mRenderGeneration) return;
    mRenderingConcept = -1;
    if (concept != mConcept) return loadKept();  // the failure belongs to another concept
    mRender->setEnabled(true);
    clearImage(tr("Rendering failed: %1").arg(why));
  };
  app::TaskLane::post(
      mTasks, mRenders, tr("Render concept %1").arg(concept),
      [session, concept, target, progress, finish, failed](const CancelToken& cancel) {
        try {
          session->render(concept, target, progress, cancel);
        } catch (const Cancelled&) {
          throw;  // the lane runs `finish` as the dropped callback
        } catch (const std::exception& e) {
          QString why = QString::fromUtf8(e.what());
          return std::function<void()>([failed, why] { failed(why); });
        }
        return std::function<void()>(finish);
      },
      1, finish);
}

void ConceptRenderingPanel::show(const ConceptRendering& r, int concept) {
  QImage image = imageFromMat(r.image);
  bool small = image.width() < kImageSide / 2;  // enlarge pixels of small inputs as blocks
  mImage->setPixmap(QPixmap::fromImage(image.scaled(
      kImageSide, kImageSide, Qt::KeepAspectRatio,
      small ? Qt::FastTransformation : Qt::SmoothTransformation)));
  mHasImage = true;
  double real = mSession->strongestPatchScore(concept);
  QString text = tr("Detector w·x − b reached: %1").arg(r.detector, 0, 'g', 3);
  if (!std::isnan(real))
    text += tr(" (strongest real patch %1, ×%2)").arg(real, 0, 'g', 3).arg(r.detector / real, 0, 'f', 1);
  mStatus->setText(text + tr(" · %1 steps, seed %2").arg(r.steps).arg(r.seed));
}

}  // namespace dx::ui

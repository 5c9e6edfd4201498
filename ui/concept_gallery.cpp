#include "concept_gallery.h"

#include "project_document.h"
#include "workbench.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QStackedWidget>
#include <QVBoxLayout>

#include "concept_card_delegate.h"
#include "concept_gallery_model.h"
#include "analysis/concept_session.h"
#include "patch_image_cache.h"
#include "widget_export.h"
#include "view_support.h"

namespace dx::ui {

ConceptGallery::ConceptGallery(QWidget* parent)
    : QWidget(parent), mModel(new ConceptGalleryModel(this)), mImages(new PatchImageCache(this)),
      mDelegate(new ConceptCardDelegate(*mModel, *mImages, this)), mStack(new QStackedWidget),
      mPlaceholder(new QLabel), mView(new QListView), mSort(new QComboBox),
      mFilter(new QLineEdit), mPinnedOnly(new QCheckBox(tr("Pinned only"))), mCount(new QLabel) {
  setWindowTitle(tr("Concepts"));
  mPlaceholder->setText(tr("No concepts yet — open a model and images, then Discover."));
  mPlaceholder->setAlignment(Qt::AlignCenter);
  mPlaceholder->setWordWrap(true);
  mPlaceholder->setForegroundRole(QPalette::PlaceholderText);

  mView->setModel(mModel);
  mView->setItemDelegate(mDelegate);
  mView->setViewMode(QListView::IconMode);
  mView->setMovement(QListView::Static);
  mView->setResizeMode(QListView::Adjust);
  mView->setUniformItemSizes(true);  // one sizeHint for all: layout of thousands stays O(1)
  mView->setSpacing(4);
  mView->setSelectionMode(QAbstractItemView::SingleSelection);
  mView->setMouseTracking(true);  // hover frame
  mView->setContextMenuPolicy(Qt::CustomContextMenu);
  mView->setToolTip(tr("Double-click or Enter opens a concept; the star or the context menu "
                       "pins it."));

  auto* content = new QWidget;
  auto* layout = new QVBoxLayout(content);
  layout->setContentsMargins(0, 0, 0, 0);
  buildToolbar(content);
  layout->addWidget(mView, 1);
  fillWithPlaceholderStack(this, mStack, mPlaceholder, content);

  connect(mImages, &PatchImageCache::ready, mView->viewport(), qOverload<>(&QWidget::update));
  connect(mDelegate, &ConceptCardDelegate::pinToggled, this,
          [this](int concept) { requestPin(concept, !mModel->pinned().count(concept)); });
  connect(mModel, &ConceptGalleryModel::pinnedChanged, this, &ConceptGallery::pinnedChanged);
  connect(mModel, &QAbstractItemModel::modelReset, this, [this] {
    restoreCurrent();
    updateCount();
  });
  connect(mView, &QListView::activated, this, [this](const QModelIndex& i) {
    int c = mModel->conceptAt(i.row());
    if (c >= 0) Q_EMIT conceptActivated(c);
  });
  connect(mView->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& i) {
            int c = mModel->conceptAt(i.row());
            if (c < 0 || c == mCurrent) return;
            mCurrent = c;
            Q_EMIT currentConceptChanged(c);
          });
  connect(mView, &QWidget::customContextMenuRequested, this, &ConceptGallery::showContextMenu);

  auto* pin = new QAction(tr("Pin / Unpin"), mView);
  pin->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
  pin->setShortcutContext(Qt::WidgetShortcut);
  connect(pin, &QAction::triggered, this, [this] {
    if (mCurrent >= 0) requestPin(mCurrent, !mModel->pinned().count(mCurrent));
  });
  mView->addAction(pin);
  setSession(nullptr);
}

ConceptGallery::~ConceptGallery() = default;

void ConceptGallery::buildToolbar(QWidget* content) {
  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(4, 4, 4, 0);
  const std::pair<QString, QString> sorts[] = {
      {tr("Index"), tr("In the order the method found them")},
      {tr("Frequency"), tr("Most often firing first (share of images)")},
      {tr("Strongest influence"), tr("Largest change of any class probability first")},
      {tr("Label"), tr("Named concepts first, alphabetically")}};
  for (const auto& [name, tip] : sorts) {
    mSort->addItem(name);
    mSort->setItemData(mSort->count() - 1, tip, Qt::ToolTipRole);
  }
  mSort->setToolTip(tr("Sort the concepts (pinned ones stay first)"));
  mFilter->setPlaceholderText(tr("Filter by label or class…"));
  mFilter->setClearButtonEnabled(true);
  mFilter->setToolTip(tr("Shows concepts whose label, number or influenced classes contain "
                         "this text"));
  mPinnedOnly->setToolTip(tr("Show only the pinned concepts"));
  mCount->setToolTip(tr("Concepts shown of all concepts"));
  bar->addWidget(new QLabel(tr("Sort:")));
  bar->addWidget(mSort);
  bar->addWidget(mFilter, 1);
  bar->addWidget(mPinnedOnly);
  bar->addWidget(mCount);
  static_cast<QVBoxLayout*>(content->layout())->addLayout(bar);

  connect(mSort, qOverload<int>(&QComboBox::currentIndexChanged), this,
          [this](int i) { mModel->setSort(static_cast<ConceptGalleryModel::Sort>(i)); });
  connect(mFilter, &QLineEdit::textChanged, mModel, &ConceptGalleryModel::setFilter);
  connect(mPinnedOnly, &QCheckBox::toggled, mModel, &ConceptGalleryModel::setPinnedOnly);
}

void ConceptGallery::setSession(std::shared_ptr<const ConceptSession> session) {
  mCurrent = -1;
  mImages->setSession(session);
  bool has = session && session->concepts() > 0;
  mModel->setSession(std::move(session));
  mStack->setCurrentIndex(has ? 1 : 0);
}

const std::set<int>& ConceptGallery::pinned() const { return mModel->pinned(); }

void ConceptGallery::setPinned(std::set<int> concepts) { mModel->setPinned(std::move(concepts)); }

void ConceptGallery::refresh() { mModel->refresh(); }

void ConceptGallery::setDocument(app::ProjectDocument* document) {
  mDocument = document;
  mImages->setTasks(&document->workbench().tasks());
  using Change = app::ProjectDocument::Change;
  connect(document, &app::ProjectDocument::changed, this, [this](Change what) {
    if (what == Change::Concepts) setSession(mDocument->concepts());
    if (what == Change::Pins) mModel->setPinned(mDocument->pinned());
    if (what == Change::ConceptNames) refresh();
  });
}

void ConceptGallery::requestPin(int concept, bool pinned) {
  if (concept < 0 || concept >= mModel->totalConcepts()) return;
  if (mDocument) return mDocument->setPinned(concept, pinned);
  if (pinned != (mModel->pinned().count(concept) > 0)) mModel->togglePinned(concept);
}

void ConceptGallery::setCurrentConcept(int concept) {
  if (concept == mCurrent) return;
  mCurrent = concept;
  restoreCurrent();
}

// Sorting, filtering and pinning reset the model; the selected concept should survive that.
void ConceptGallery::restoreCurrent() {
  int row = mModel->rowOf(mCurrent);
  if (row < 0) return;  // filtered out: keep mCurrent, so it comes back with the filter
  QModelIndex i = mModel->index(row);
  mView->selectionModel()->setCurrentIndex(i, QItemSelectionModel::ClearAndSelect);
  mView->scrollTo(i);
}

void ConceptGallery::updateCount() {
  mCount->setText(tr("%1 of %2").arg(mModel->rowCount()).arg(mModel->totalConcepts()));
}

void ConceptGallery::showContextMenu(const QPoint& pos) {
  int concept = mModel->conceptAt(mView->indexAt(pos).row());
  QMenu menu(this);
  if (concept >= 0) {
    menu.addAction(tr("Open"), this, [this, concept] { Q_EMIT conceptActivated(concept); });
    bool pinned = mModel->pinned().count(concept) > 0;
    menu.addAction(pinned ? tr("Unpin") : tr("Pin"), this,
                   [this, concept, pinned] { requestPin(concept, !pinned); });
    menu.addSeparator();
  }
  QAction* clear = menu.addAction(tr("Unpin All"), this, [this] {
    if (mDocument) mDocument->setPins({});
    else mModel->setPinned({});
  });
  clear->setEnabled(!mModel->pinned().empty());
  menu.exec(mView->viewport()->mapToGlobal(pos));
}

bool ConceptGallery::exportImage(const QString& path) { return exportWidget(this, path); }

}  // namespace dx::ui

#pragma once
// Every concept of a session as a card in a scrolling grid (see ConceptCardDelegate), with a
// toolbar to sort (index, frequency, strongest influence, label), filter by text and show only
// pinned concepts. Pins come first; the set is exposed so the project can save it.
//
// A QListView with a list model and a painting delegate, not a widget per card: thousands of
// concepts cost one vector of texts and the crops of the cards on screen.
#include <QWidget>
#include <memory>
#include <set>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListView;
class QStackedWidget;

namespace dx {
class ConceptSession;
}
namespace dx::app {
class ProjectDocument;
}

namespace dx::ui {

class ConceptCardDelegate;
class ConceptGalleryModel;
class PatchImageCache;

class ConceptGallery : public QWidget {
  Q_OBJECT
 public:
  explicit ConceptGallery(QWidget* parent = nullptr);
  ~ConceptGallery() override;

  // nullptr clears the gallery and shows how to get concepts. Clears the pins.
  void setSession(std::shared_ptr<const ConceptSession> session);
  const std::set<int>& pinned() const;
  void setPinned(std::set<int> concepts);  // emits pinnedChanged when different
  int currentConcept() const { return mCurrent; }
  // Follows the document (concept set, pins, names); pin requests then become its undo commands.
  void setDocument(app::ProjectDocument* document);
  // PNG, or SVG when the name ends in .svg (and the build has Qt6Svg). False on failure.
  bool exportImage(const QString& path);

 public Q_SLOTS:
  void setCurrentConcept(int concept);
  void refresh();  // re-read labels and numbers after the session changed (e.g. a rename)

 Q_SIGNALS:
  void conceptActivated(int concept);       // double-click or Enter
  void currentConceptChanged(int concept);  // selection moved to another concept
  void pinnedChanged();

 private:
  void buildToolbar(QWidget* content);
  void showContextMenu(const QPoint& pos);
  void restoreCurrent();
  void updateCount();
  void requestPin(int concept, bool pinned);

  ConceptGalleryModel* mModel;
  PatchImageCache* mImages;
  ConceptCardDelegate* mDelegate;
  QStackedWidget* mStack;
  QLabel* mPlaceholder;
  QListView* mView;
  QComboBox* mSort;
  QLineEdit* mFilter;
  QCheckBox* mPinnedOnly;
  QLabel* mCount;
  int mCurrent = -1;
  app::ProjectDocument* mDocument = nullptr;
};

}  // namespace dx::ui

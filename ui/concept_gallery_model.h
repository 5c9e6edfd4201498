#pragma once
// The rows of the concept gallery: every concept of a session in display order (pinned first,
// then the chosen sort), filtered by text and by "pinned only". The card texts are made once per
// session, so sorting and filtering thousands of concepts is a vector sort, not a session walk.
#include <QAbstractListModel>
#include <QString>
#include <memory>
#include <set>
#include <vector>

namespace dx {
class ConceptSession;
}

namespace dx::ui {

class ConceptGalleryModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum class Sort { Index, Frequency, Influence, Label };
  enum Role {
    ConceptRole = Qt::UserRole + 1,  // int: the concept's index in the session
    PinnedRole,                      // bool
    FiresRole,                       // QString: "fires in 12% of images"
    ClassesRole,                     // QString: the 2 strongest classes by |influence|
    WarningRole,  // QString: the badge of a degenerate or unstable concept, empty if neither
  };
  explicit ConceptGalleryModel(QObject* parent = nullptr);
  ~ConceptGalleryModel() override;

  void setSession(std::shared_ptr<const ConceptSession> session);
  const std::shared_ptr<const ConceptSession>& session() const { return mSession; }
  // Re-reads labels and numbers, e.g. after a concept was renamed.
  void refresh();

  void setSort(Sort sort);
  // Case-insensitive substring of the label, "concept N" or the name of a class the concept
  // influences (its 2 strongest or any significant one).
  void setFilter(const QString& text);
  void setPinnedOnly(bool on);

  const std::set<int>& pinned() const { return mPinned; }
  void setPinned(std::set<int> concepts);
  void togglePinned(int concept);

  int totalConcepts() const { return static_cast<int>(mCards.size()); }
  int conceptAt(int row) const;
  int rowOf(int concept) const;  // -1 when filtered out

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;

 Q_SIGNALS:
  void pinnedChanged();

 private:
  struct Card {
    QString title, fires, classes, tooltip, search, warning;
    double frequency = 0, strongest = 0;
    bool labelled = false;
  };
  Card makeCard(int concept) const;
  void rebuild();

  std::shared_ptr<const ConceptSession> mSession;
  std::vector<Card> mCards;  // per concept
  std::vector<int> mOrder;   // row -> concept
  Sort mSort = Sort::Index;
  QString mFilter;
  bool mPinnedOnly = false;
  std::set<int> mPinned;
};

}  // namespace dx::ui

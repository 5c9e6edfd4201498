#pragma once
// The edit controls of the counterfactual panel: a row per concept with its strength in the
// current image, an "off" box and a slider from -1 (off) through 0 (unchanged) to +2 (doubled),
// docs/methods.md 1.6. Rows are ordered by strength in the image, since only present concepts can
// change its prediction.
#include <QScrollArea>
#include <vector>

#include "analysis/concept_session.h"

class QCheckBox;
class QLabel;
class QSlider;

namespace dx::ui {

class ConceptEditList : public QScrollArea {
  Q_OBJECT
 public:
  explicit ConceptEditList(QWidget* parent = nullptr);
  // A row per concept of `session` (nullptr: none), all unchanged.
  void setSession(const ConceptSession* session);
  // One strength per concept (empty: no image); fills the "present" column and orders the rows.
  void setStrengths(const std::vector<float>& strengths);
  void refreshNames(const ConceptSession& session);  // after a rename
  // The strengths after the current edits (empty: none). Rows whose strength moved show
  // "before → after"; concepts nobody edited that moved are marked, since they show how far the
  // edited concepts' encoders are from orthogonal to those detectors.
  void setEditedStrengths(const std::vector<float>& edited);
  // The text of a concept's "present" cell (tests).
  QString presentText(int concept) const;

  // The edits with a strength other than 0, ordered by concept.
  std::vector<ConceptToggle> toggles() const;
  // Replaces all edits; strengths are clamped to [-1, 2] and rounded to 0.01, out-of-range
  // concepts ignored. Returns whether anything changed; does not emit edited().
  bool setToggles(const std::vector<ConceptToggle>& toggles);

  // Wide enough for every row, so a splitter never squeezes the sliders away.
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 Q_SIGNALS:
  void edited();  // the user changed a box or a slider (every step of a drag)

 private:
  struct Row {
    int concept;
    QLabel* name;
    QLabel* present;
    QCheckBox* off;
    QSlider* strength;
    QLabel* value;
  };
  void rowEdited(size_t row, bool fromCheckBox);
  void clearRows();

  QWidget* mHost;
  std::vector<float> mStrengths;  // before the edits, by concept
  std::vector<Row> mRows;  // in concept order; only the layout follows the strengths
};

// "off", "0" or a signed strength such as "+0.50" for a slider value in hundredths.
QString strengthText(int hundredths);

}  // namespace dx::ui

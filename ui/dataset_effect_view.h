#pragma once
// What a concept edit does to the whole dataset (ConceptSession::applyToDataset): accuracy
// before/after overall and per true class, and the confusion cells (true -> predicted, off the
// diagonal) whose counts changed, largest change first.
#include <QStringList>
#include <QWidget>
#include <optional>

#include "analysis/concept_session.h"

class QLabel;
class QTableWidget;

namespace dx::ui {

class DatasetEffectView : public QWidget {
  Q_OBJECT
 public:
  explicit DatasetEffectView(QWidget* parent = nullptr);
  void setClasses(const QStringList& classes);  // the model's; clears the tables
  // `caption` says which edits produced `effect` (they may have changed since).
  void showEffect(const DatasetEffect& effect, const QString& caption);
  // Empties the tables and shows `text` instead (cancelled, failed, not run yet).
  void showMessage(const QString& text);
  void clear();
  // The effect shown now, if any (tests and exports).
  const std::optional<DatasetEffect>& shownEffect() const { return mShown; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void fillPerClass(const DatasetEffect& effect);
  void fillConfusion(const DatasetEffect& effect);
  void colourDeltas();

  QStringList mClasses;
  QLabel* mSummary;
  QTableWidget* mPerClass;
  QTableWidget* mConfusion;
  std::optional<DatasetEffect> mShown;
};

}  // namespace dx::ui

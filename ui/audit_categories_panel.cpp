#include "audit_categories_panel.h"

#include "task_lane.h"

#include <QBoxLayout>
#include <QComboBox>
#include <QFile>
#include <QSaveFile>
#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalBlocker>
#include <QTableWidget>
#include <algorithm>

#include <nlohmann/json.hpp>

#include "analysis/concept_session.h"
#include "view_support.h"

namespace dx::ui {
namespace {

enum Column { CategoryColumn, ConceptColumn, InClassColumn, ElsewhereColumn, DropColumn, PColumn,
              ImagesColumn, ColumnCount };

QColor categoryColour(AuditCategory c) {
  switch (c) {
    case AuditCategory::Target: return QColor(46, 160, 67, 90);
    case AuditCategory::Bias: return QColor(218, 54, 51, 110);
    case AuditCategory::Unnamed: return QColor(210, 153, 34, 100);
    case AuditCategory::Context: return QColor(56, 139, 253, 60);
  }
  return {};
}

QString categoryText(AuditCategory c) {
  switch (c) {
    case AuditCategory::Target: return AuditCategoriesPanel::tr("target");
    case AuditCategory::Bias: return AuditCategoriesPanel::tr("bias");
    case AuditCategory::Unnamed: return AuditCategoriesPanel::tr("drives, unnamed");
    case AuditCategory::Context: return AuditCategoriesPanel::tr("context");
  }
  return {};
}

QTableWidgetItem* numberItem(double value, char format, int precision) {
  auto* item = new QTableWidgetItem;
  item->setData(Qt::DisplayRole, QString::number(value, format, precision));
  item->setData(Qt::UserRole, value);
  item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return item;
}

std::vector<std::string> conceptNames(const ConceptSession& s) {
  std::vector<std::string> names;
  for (int i = 0; i < s.concepts(); ++i) names.push_back(s.conceptName(i));
  return names;
}

}  // namespace

AuditCategoriesPanel::AuditCategoriesPanel(QWidget* parent)
    : QWidget(parent), mClass(new QComboBox), mSummary(new QLabel), mRule(new QLabel),
      mExport(new QPushButton(tr("Export…"))), mTable(new QTableWidget(0, ColumnCount)) {
  mClass->setToolTip(tr("The class whose concepts are sorted into target, bias and context"));
  mExport->setToolTip(tr("Save every class's categories as CSV or JSON, with the rule"));
  mRule->setWordWrap(true);
  mRule->setTextFormat(Qt::PlainText);
  mRule->setStyleSheet(QStringLiteral("color: palette(placeholder-text)"));
  mTable->setHorizontalHeaderLabels({tr("Category"), tr("Concept"), tr("In class"),
                                     tr("Elsewhere"), tr("Logit drop when off"), tr("p"),
                                     tr("Images")});
  mTable->horizontalHeaderItem(InClassColumn)
      ->setToolTip(tr("Share of the class's images where the concept is present"));
  mTable->horizontalHeaderItem(ElsewhereColumn)
      ->setToolTip(tr("Share of the other classes' images where it is present"));
  mTable->horizontalHeaderItem(DropColumn)
      ->setToolTip(tr("Mean fall of the class logit when the concept is switched off on the "
                      "class's images where it is present"));
  mTable->horizontalHeaderItem(PColumn)->setToolTip(tr("One-sided t-test of those falls"));
  mTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
  mTable->setSelectionBehavior(QAbstractItemView::SelectRows);
  mTable->verticalHeader()->hide();
  mTable->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  mTable->horizontalHeader()->setSectionResizeMode(ConceptColumn, QHeaderView::Stretch);
  mTable->setToolTip(tr("Double-click a concept to open it"));

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Class")));
  top->addWidget(mClass);
  top->addWidget(mSummary, 1);
  top->addWidget(mExport);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(mTable, 1);
  layout->addWidget(mRule);

  connect(mClass, &QComboBox::currentIndexChanged, this, &AuditCategoriesPanel::showResult);
  connect(mClass, &QComboBox::activated, this, [this] { mClassChosen = true; });
  connect(mExport, &QPushButton::clicked, this, &AuditCategoriesPanel::askExport);
  connect(mTable, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    if (auto* item = mTable->item(row, ConceptColumn))
      Q_EMIT conceptActivated(item->data(Qt::UserRole).toInt());
  });
  setSession(nullptr);
}

void AuditCategoriesPanel::setTasks(app::TaskLane* tasks) { mTasks = tasks; }

void AuditCategoriesPanel::setSession(std::shared_ptr<const ConceptSession> session) {
  if (mTasks) mTasks->cancel(this);  // a test of the previous concept set is of no use now
  mSession = std::move(session);
  mResult.reset();
  ++mGeneration;
  {
    const QSignalBlocker block(mClass);
    const int previous = mClass->currentIndex();
    mClass->clear();
    if (mSession)
      for (size_t k = 0; k < mSession->classes().size(); ++k)
        mClass->addItem(className(*mSession, int64_t(k)));
    if (previous >= 0 && previous < mClass->count()) mClass->setCurrentIndex(previous);
  }
  showResult();
  if (mSession) compute();
}

std::vector<std::string> AuditCategoriesPanel::labels() const {
  std::vector<std::string> out;
  for (int i = 0; mSession && i < mSession->concepts(); ++i) out.push_back(mSession->concept(i).label);
  return out;
}

void AuditCategoriesPanel::namesChanged() {
  if (!mSession || !mResult) return;  // a running test applies the names when it ends
  auto renamed = std::make_shared<AuditResult>(*mResult);
  applyLabels(*renamed, labels(), mSession->classes());
  mResult = renamed;
  showResult();
}

void AuditCategoriesPanel::compute() {
  const int generation = mGeneration;
  auto session = mSession;
  auto progress = app::TaskLane::progressSink(mTasks, this, [this, generation](const Progress& p) {
    if (generation == mGeneration && !mResult)
      mSummary->setText(tr("Testing concepts: %1 of %2…").arg(p.done).arg(p.total));
  });
  auto work = [this, session, generation, progress,
               names = labels()](const CancelToken& cancel) -> std::function<void()> {
    AuditOptions options;
    options.progress = progress;
    options.cancel = cancel;
    std::shared_ptr<AuditResult> result;
    QString failure;
    try {
      result = std::make_shared<AuditResult>(session->auditCategories(options, names));
    } catch (const Cancelled&) {
      throw;
    } catch (const std::exception& e) {
      failure = QString::fromUtf8(e.what());
    }
    return [this, result, generation, failure] {
      if (generation != mGeneration) return;
      if (!result) {
        mSummary->setText(tr("Could not test the concepts: %1").arg(failure));
        return;
      }
      applyLabels(*result, labels(), mSession->classes());  // names may have changed meanwhile
      mResult = result;
      if (!mClassChosen && mostTellingClass() >= 0) {
        const QSignalBlocker block(mClass);
        mClass->setCurrentIndex(mostTellingClass());
      }
      showResult();
    };
  };
  auto dropped = [this, generation] {
    if (generation == mGeneration && !mResult)
      mSummary->setText(tr("Testing was cancelled; open the concept set again to test."));
  };
  app::TaskLane::post(mTasks, this, tr("Sorting concepts into target, bias and context"), work, 0,
                      dropped);
}

int AuditCategoriesPanel::mostTellingClass() const {
  if (!mResult || mResult->cells.empty()) return -1;
  for (const AuditCell& c : mResult->cells)
    if (c.category == AuditCategory::Bias) return c.cls;
  std::vector<int> cells(size_t(mClass->count()), 0);
  for (const AuditCell& c : mResult->cells)
    if (size_t(c.cls) < cells.size()) ++cells[size_t(c.cls)];
  return int(std::max_element(cells.begin(), cells.end()) - cells.begin());
}

int AuditCategoriesPanel::shownClass() const { return mClass->currentIndex(); }

void AuditCategoriesPanel::showClass(int cls) { mClass->setCurrentIndex(cls); }

QString AuditCategoriesPanel::status() const { return mSummary->text(); }

void AuditCategoriesPanel::showResult() {
  mTable->setSortingEnabled(false);
  mTable->setRowCount(0);
  mExport->setEnabled(bool(mResult));
  if (!mSession) {
    mSummary->setText(tr("No concepts yet."));
    mRule->clear();
    return;
  }
  if (!mResult) {
    mSummary->setText(tr("Testing concepts…"));
    return;
  }
  mRule->setText(tr("Rule (%1 classes of %2 images): %3")
                     .arg(QString::fromStdString(mResult->classSource))
                     .arg(mResult->imagesWithClass)
                     .arg(QString::fromStdString(auditRule(mResult->options))));
  const int cls = shownClass();
  int counts[4] = {0, 0, 0, 0};
  for (const AuditCell& c : mResult->cells) {
    if (c.cls != cls) continue;
    ++counts[int(c.category)];
    const int row = mTable->rowCount();
    mTable->insertRow(row);
    auto* category = new QTableWidgetItem(categoryText(c.category));
    category->setBackground(categoryColour(c.category));
    mTable->setItem(row, CategoryColumn, category);
    auto* concept = new QTableWidgetItem(conceptName(*mSession, c.concept));
    concept->setData(Qt::UserRole, c.concept);
    mTable->setItem(row, ConceptColumn, concept);
    mTable->setItem(row, InClassColumn, numberItem(100 * c.shareInClass, 'f', 0));
    mTable->item(row, InClassColumn)->setText(QStringLiteral("%1%").arg(100 * c.shareInClass, 0, 'f', 0));
    mTable->setItem(row, ElsewhereColumn, numberItem(100 * c.shareElsewhere, 'f', 0));
    mTable->item(row, ElsewhereColumn)->setText(QStringLiteral("%1%").arg(100 * c.shareElsewhere, 0, 'f', 0));
    mTable->setItem(row, DropColumn, numberItem(c.meanDrop, 'f', 2));
    mTable->setItem(row, PColumn, numberItem(c.dropP, 'g', 2));
    mTable->setItem(row, ImagesColumn, numberItem(c.imagesTested, 'f', 0));
  }
  const int shown = mTable->rowCount();
  mSummary->setText(
      shown == 0 ? tr("No concept co-occurs with this class.")
                 : tr("%1 target · %2 bias · %3 unnamed · %4 context")
                       .arg(counts[int(AuditCategory::Target)])
                       .arg(counts[int(AuditCategory::Bias)])
                       .arg(counts[int(AuditCategory::Unnamed)])
                       .arg(counts[int(AuditCategory::Context)]));
}

bool AuditCategoriesPanel::exportTo(const QString& path, QString* error) const {
  if (!mResult || !mSession) {
    if (error) *error = tr("The categories are not computed yet.");
    return false;
  }
  const auto names = conceptNames(*mSession);
  const std::string text = path.endsWith(QLatin1String(".json"), Qt::CaseInsensitive)
                               ? auditJson(*mResult, mSession->classes(), names).dump(2) + "\n"
                               : auditCsv(*mResult, mSession->classes(), names);
  QSaveFile file(path);  // a failed export leaves the earlier file whole
  if (!file.open(QIODevice::WriteOnly) ||
      file.write(text.data(), qint64(text.size())) != qint64(text.size()) || !file.commit()) {
    if (error)
      *error = tr("Cannot write %1: %2. Nothing earlier was changed; choose another folder or "
                  "free some space.")
                   .arg(path, file.errorString());
    return false;
  }
  return true;
}

void AuditCategoriesPanel::askExport() {
  const QString path = QFileDialog::getSaveFileName(this, tr("Export audit categories"),
                                                    QStringLiteral("audit_categories.csv"),
                                                    tr("CSV (*.csv);;JSON (*.json)"));
  if (path.isEmpty()) return;
  QString error;
  if (!exportTo(path, &error)) QMessageBox::warning(this, tr("Export failed"), error);
}

}  // namespace dx::ui

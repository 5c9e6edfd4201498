#pragma once
// A Directrix project file (.directrix): JSON naming the model, the images, the layer, the
// discovery settings and the views' state; the concepts themselves live in the concept folder
// (core/analysis/concept_set_files.h). Qt Core only, so the parser can be fuzzed on its own.
#include <QByteArray>
#include <QJsonObject>
#include <QString>

namespace dx::app {

struct ProjectFile {
  QString model;   // absolute path of the model file
  QString images;  // absolute folder path or a spec such as fashion-mnist:test
  QString layer;
  QString method = QStringLiteral("eddp"), preset = QStringLiteral("adaptive");
  int concepts = 16;
  quint64 seed = 0;
  bool hasConcepts = false;
  QJsonObject ui;  // MainWindow::uiState()
};

// Parses a project file's bytes; on failure returns false with *error saying what is wrong.
bool parseProjectFile(const QByteArray& bytes, ProjectFile* project, QString* error);
bool readProjectFile(const QString& path, ProjectFile* project, QString* error);

QByteArray projectFileBytes(const ProjectFile& project);
// Through QSaveFile (a temporary file, fsync, rename): on failure the previous file stays whole.
bool writeProjectFile(const QString& path, const ProjectFile& project, QString* error);

}  // namespace dx::app

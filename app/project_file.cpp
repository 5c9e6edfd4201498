#include "project_file.h"

#include <QFile>
#include <QJsonDocument>
#include <QSaveFile>

namespace dx::app {

namespace {

constexpr int kVersion = 1;
constexpr int kMaxConcepts = 100000;

bool fail(QString* error, const QString& why) {
  if (error) *error = why;
  return false;
}

// A string field, "" when absent; false when present with another type.
bool readString(const QJsonObject& o, const char* key, QString* out) {
  QJsonValue v = o.value(QLatin1String(key));
  if (v.isUndefined()) return true;
  if (!v.isString()) return false;
  *out = v.toString();
  return true;
}

bool readDiscovery(const QJsonObject& d, ProjectFile* p, QString* error) {
  if (!readString(d, "method", &p->method) || !readString(d, "preset", &p->preset))
    return fail(error, QStringLiteral("\"discovery\" has a method or preset that is not text"));
  QJsonValue concepts = d.value(QLatin1String("concepts"));
  if (!concepts.isUndefined()) {
    double n = concepts.toDouble(-1);
    if (!concepts.isDouble() || n < 1 || n > kMaxConcepts || n != static_cast<int>(n))
      return fail(error, QStringLiteral("\"discovery\".\"concepts\" is not a count of concepts"));
    p->concepts = static_cast<int>(n);
  }
  QString seed = QStringLiteral("0");
  if (!readString(d, "seed", &seed))
    return fail(error, QStringLiteral("\"discovery\".\"seed\" is not text"));
  bool ok = false;
  p->seed = seed.toULongLong(&ok, 10);
  if (!ok) return fail(error, QStringLiteral("\"discovery\".\"seed\" is not a whole number"));
  return true;
}

}  // namespace

bool parseProjectFile(const QByteArray& bytes, ProjectFile* p, QString* error) {
  QJsonParseError parse{};
  QJsonDocument json = QJsonDocument::fromJson(bytes, &parse);
  if (parse.error != QJsonParseError::NoError)
    return fail(error, QStringLiteral("not JSON (%1 at byte %2)")
                           .arg(parse.errorString()).arg(parse.offset));
  QJsonObject doc = json.object();
  if (!json.isObject() || doc.value(QLatin1String("format")).toString() != "directrix-project")
    return fail(error, QStringLiteral("not a Directrix project (no \"format\": \"directrix-project\")"));
  int version = doc.value(QLatin1String("version")).toInt(0);
  if (version < 1 || version > kVersion)
    return fail(error, QStringLiteral("project version %1; this Directrix reads version %2")
                           .arg(version).arg(kVersion));
  *p = ProjectFile{};
  if (!readString(doc, "model", &p->model) || p->model.isEmpty())
    return fail(error, QStringLiteral("\"model\" (the model file) is missing"));
  if (!readString(doc, "images", &p->images) || !readString(doc, "layer", &p->layer))
    return fail(error, QStringLiteral("\"images\" or \"layer\" is not text"));
  QJsonValue discovery = doc.value(QLatin1String("discovery"));
  if (!discovery.isUndefined()) {
    if (!discovery.isObject())
      return fail(error, QStringLiteral("\"discovery\" is not an object"));
    if (!readDiscovery(discovery.toObject(), p, error)) return false;
  }
  p->hasConcepts = doc.value(QLatin1String("has_concepts")).toBool(false);
  p->ui = doc.value(QLatin1String("ui")).toObject();
  return true;
}

bool readProjectFile(const QString& path, ProjectFile* project, QString* error) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return fail(error, file.errorString());
  return parseProjectFile(file.readAll(), project, error);
}

QByteArray projectFileBytes(const ProjectFile& p) {
  QJsonObject discovery{{"method", p.method},
                        {"preset", p.preset},
                        {"concepts", p.concepts},
                        {"seed", QString::number(p.seed)}};  // text: JSON numbers lose 64 bits
  QJsonObject doc{{"format", "directrix-project"}, {"version", kVersion},
                  {"model", p.model},              {"images", p.images},
                  {"layer", p.layer},              {"discovery", discovery},
                  {"has_concepts", p.hasConcepts}, {"ui", p.ui}};
  return QJsonDocument(doc).toJson();
}

bool writeProjectFile(const QString& path, const ProjectFile& project, QString* error) {
  QSaveFile file(path);
  QByteArray bytes = projectFileBytes(project);
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
    return fail(error, file.errorString());
  return true;
}

}  // namespace dx::app

// Project files: what the parser accepts and the message for what it refuses, and saves and
// image exports on a full disk (RLIMIT_FSIZE, tests/support/file_size_limit.h) that keep the
// previous file.
#include <QColor>
#include <QImage>
#include <QDir>
#include <QFile>
#include <QPainter>
#include <QTemporaryDir>

#include <gtest/gtest.h>

#include "file_size_limit.h"
#include "project_file.h"
#include "ui/widget_export.h"

using dx::app::ProjectFile;
using dx::test::FileSizeLimit;

namespace {

ProjectFile sample() {
  ProjectFile p;
  p.model = "/models/net.pt";
  p.images = "fashion-mnist:test";
  p.layer = "layer3";
  p.preset = "quick";
  p.concepts = 24;
  p.seed = 18446744073709551615ull;  // 64 bits survive: JSON numbers would round them
  p.hasConcepts = true;
  p.ui = QJsonObject{{"view", "matrix"}};
  return p;
}

QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QString refusal(const QByteArray& bytes) {
  ProjectFile p;
  QString why;
  EXPECT_FALSE(dx::app::parseProjectFile(bytes, &p, &why)) << bytes.toStdString();
  return why;
}

}  // namespace

TEST(ProjectFile, RoundTripsEveryField) {
  ProjectFile back;
  QString why;
  ASSERT_TRUE(dx::app::parseProjectFile(dx::app::projectFileBytes(sample()), &back, &why))
      << why.toStdString();
  EXPECT_EQ(back.model, "/models/net.pt");
  EXPECT_EQ(back.images, "fashion-mnist:test");
  EXPECT_EQ(back.layer, "layer3");
  EXPECT_EQ(back.preset, "quick");
  EXPECT_EQ(back.concepts, 24);
  EXPECT_EQ(back.seed, 18446744073709551615ull);
  EXPECT_TRUE(back.hasConcepts);
  EXPECT_EQ(back.ui.value("view").toString(), "matrix");
}

TEST(ProjectFile, RefusesWhatIsNotAProjectAndSaysWhy) {
  EXPECT_TRUE(refusal("").contains("not JSON"));
  EXPECT_TRUE(refusal("{\"format\": \"directrix-project\"").contains("not JSON"));
  EXPECT_TRUE(refusal("[1, 2]").contains("not a Directrix project"));
  EXPECT_TRUE(refusal("{\"format\": \"other\"}").contains("not a Directrix project"));
  EXPECT_TRUE(refusal("{\"format\": \"directrix-project\", \"version\": 9, \"model\": \"m\"}")
                  .contains("version 9"));
  EXPECT_TRUE(refusal("{\"format\": \"directrix-project\", \"version\": 1}").contains("model"));
  EXPECT_TRUE(refusal("{\"format\": \"directrix-project\", \"version\": 1, \"model\": 3}")
                  .contains("model"));
  const QByteArray head = "{\"format\": \"directrix-project\", \"version\": 1, \"model\": \"m\", ";
  EXPECT_TRUE(refusal(head + "\"discovery\": 5}").contains("discovery"));
  EXPECT_TRUE(refusal(head + "\"discovery\": {\"concepts\": 0}}").contains("concepts"));
  EXPECT_TRUE(refusal(head + "\"discovery\": {\"concepts\": 2.5}}").contains("concepts"));
  EXPECT_TRUE(refusal(head + "\"discovery\": {\"seed\": \"-1x\"}}").contains("seed"));
  EXPECT_TRUE(refusal(head + "\"layer\": []}").contains("layer"));
}

TEST(ProjectFile, ASaveOnAFullDiskKeepsThePreviousProject) {
  QTemporaryDir tmp;
  const QString path = tmp.filePath("study.directrix");
  ASSERT_TRUE(dx::app::writeProjectFile(path, sample(), nullptr));
  const QByteArray before = readAll(path);
  ProjectFile big = sample();
  big.ui = QJsonObject{{"notes", QString(100000, QLatin1Char('x'))}};
  QString why;
  {
    FileSizeLimit full(4096);
    EXPECT_FALSE(dx::app::writeProjectFile(path, big, &why));
  }
  EXPECT_FALSE(why.isEmpty());
  EXPECT_EQ(readAll(path), before);
  EXPECT_EQ(QDir(tmp.path()).entryList(QDir::Files | QDir::Hidden).size(), 1);
}

TEST(ProjectFile, AnImageExportOnAFullDiskKeepsThePreviousImage) {
  QTemporaryDir tmp;
  const QString path = tmp.filePath("matrix.png");
  QImage noise(400, 400, QImage::Format_RGB32);  // incompressible: ~640 KB as PNG
  uint32_t state = 12345;
  for (int y = 0; y < noise.height(); ++y)
    for (int x = 0; x < noise.width(); ++x) noise.setPixel(x, y, state = state * 1664525u + 1013904223u);
  auto paint = [&noise](QPainter& p) { p.drawImage(0, 0, noise); };
  ASSERT_TRUE(dx::ui::exportPainting(QSize(40, 40), 1.0, Qt::white, paint, path, "m"));
  const QByteArray before = readAll(path);
  {
    FileSizeLimit full(2048);
    EXPECT_FALSE(dx::ui::exportPainting(QSize(400, 400), 1.0, Qt::white, paint, path, "m"));
  }
  EXPECT_EQ(readAll(path), before);
}

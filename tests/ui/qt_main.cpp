// GoogleTest main for tests that need a QApplication. Without a display (test discovery at build
// time, CI without Xvfb) it falls back to the offscreen platform instead of aborting.
#include <QApplication>
#include <cstdlib>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  auto empty = [](const char* v) { return !std::getenv(v) || !*std::getenv(v); };
  if (empty("DISPLAY") && empty("WAYLAND_DISPLAY") && empty("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName("DirectrixTests");  // keep the user's settings apart
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

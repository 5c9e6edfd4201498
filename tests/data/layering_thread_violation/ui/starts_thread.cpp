// A view that decodes on a thread pool of its own: tests/layering.cmake must reject it.
#include <QtConcurrent/QtConcurrentRun>
void decodeLater() { QtConcurrent::run([] {}); }

#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the test results: installs the dependencies,
# builds, and runs the whole suite with ctest (ending with ctest's summary line).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
bash packaging/build.sh
cd "${BUILD_DIR:-build}"
# GUI tests run on Xvfb when it is there (real X11 rendering), offscreen otherwise.
if command -v xvfb-run >/dev/null && [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" ctest --output-on-failure --timeout 600
fi
exec ctest --output-on-failure --timeout 600

#!/usr/bin/env bash
# Builds Directrix with AddressSanitizer + UndefinedBehaviorSanitizer into BUILD_DIR (default
# build-asan/) and runs the whole test suite under them. Any sanitizer report fails its test;
# leaks inside third-party libraries that are not ours (tests/sanitizers/lsan.supp) are listed
# by name and nothing else is silenced. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIRECTRIX_SANITIZE=ON
fi
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
supp=$(pwd)/tests/sanitizers
export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:strict_init_order=1${ASAN_EXTRA:+:$ASAN_EXTRA}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
cd "$BUILD_DIR"
if command -v xvfb-run > /dev/null && [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" ctest --output-on-failure --timeout 1800 "$@"
fi
exec ctest --output-on-failure --timeout 1800 "$@"

#!/usr/bin/env bash
# The headless build: configure with DIRECTRIX_GUI=OFF while CMake is told Qt 6 does not exist,
# and check that the CLI and its tests are in it and nothing links Qt 6 or builds the desktop
# app. (That the CLI's sources include no Qt is checked by tests/layering.cmake.) With
# DIRECTRIX_FULL_HEADLESS=1 it also builds and runs them (about as long as a core build).
# Usage: test_headless_build.sh SOURCE_DIR BUILD_DIR BUILD_TYPE
set -euo pipefail
src=$1 build=$2 type=$3
rm -rf "$build"
cmake -S "$src" -B "$build" -G Ninja -DDIRECTRIX_GUI=OFF -DCMAKE_DISABLE_FIND_PACKAGE_Qt6=ON \
      -DCMAKE_BUILD_TYPE="$type" > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
targets=$(ninja -C "$build" -t targets all)
for wanted in app/directrix-cli tests/cli_tests tests/core_tests; do
  grep -q "^$wanted:" <<< "$targets" || { echo "headless build lacks $wanted"; exit 1; }
done
if grep -q '^app/directrix:' <<< "$targets" || grep -qi 'qt6' "$build/build.ninja"; then
  echo "the headless build still builds the desktop app or links Qt 6"; exit 1
fi
if [ "${DIRECTRIX_FULL_HEADLESS:-0}" = 1 ]; then
  cmake --build "$build" --target directrix-cli cli_tests
  if ldd "$build/app/directrix-cli" | grep -q 'libQt6'; then echo "directrix-cli links Qt 6"; exit 1; fi
  "$build/tests/cli_tests"
  "$build/app/directrix-cli" info --demo | grep -q block3
fi
echo "headless build: ok"

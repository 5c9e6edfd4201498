#!/usr/bin/env bash
# Builds the Debian package directrix_<version>_<arch>.deb with CPack.
#   BUILD_DIR  the build tree to package (default build/; built or brought up to date first)
#   OUT_DIR    where the .deb is written (default dist/)
#   NO_BUILD=1 package the tree as it is (the test suite does, so it never rebuilds the tree
#              its tests run from)
# Install it with: sudo apt-get install ./directrix_<version>_<arch>.deb
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-dist}
if [ "${NO_BUILD:-0}" != 1 ]; then BUILD_DIR="$BUILD_DIR" bash packaging/build.sh; fi
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$BUILD_DIR" && cpack -G DEB -B "$scratch" > "$scratch/cpack.log") || {
  cat "$scratch/cpack.log" >&2
  echo "package: cpack failed (log above)" >&2
  exit 1
}
shopt -s nullglob
debs=("$scratch"/directrix_*.deb)
if [ ${#debs[@]} -ne 1 ]; then
  echo "package: expected one directrix_*.deb from cpack, found ${#debs[@]}" >&2
  exit 1
fi
mv "${debs[0]}" "$OUT_DIR/"
echo "$OUT_DIR/$(basename "${debs[0]}")"

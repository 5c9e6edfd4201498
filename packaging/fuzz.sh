#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang and runs each for SECONDS from its seed
# corpus and the regressions kept in tests/fuzz. Prints one line per target; exits non-zero when
# a target crashed (the input is saved under $FUZZ_BUILD_DIR/crashes/<target>/: add it to
# tests/fuzz/regressions/<target>/ once fixed).
#   packaging/fuzz.sh SECONDS        (FUZZ_BUILD_DIR: the build folder, default build-fuzz;
#                                     FUZZ_TARGETS: some of the targets, default all)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:?usage: packaging/fuzz.sh SECONDS}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
read -r -a TARGETS <<< "${FUZZ_TARGETS:-npy idx project_file cache_folder concept_folder model_meta image_tags image_decode}"

CLANG=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$CLANG" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get install -y -q --no-install-recommends clang > /dev/null
  CLANG=$(command -v clang++)
fi
mkdir -p "$BUILD_DIR"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S tests/fuzz -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER="$CLANG" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log"; exit 1; }
fi
cmake --build "$BUILD_DIR" --parallel "$(nproc)" > "$BUILD_DIR/build.log" 2>&1 ||
  { cat "$BUILD_DIR/build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
failed=0
printf '%-16s %10s %8s %8s  %s\n' target runs exec/s corpus result
for t in "${TARGETS[@]}"; do
  work=$BUILD_DIR/corpus/$t crashes=$BUILD_DIR/crashes/$t
  mkdir -p "$work" "$crashes"
  touch "$BUILD_DIR/started"
  seeds=(tests/fuzz/corpus/$t)
  [ -d tests/fuzz/regressions/$t ] && seeds+=(tests/fuzz/regressions/$t)
  log=$BUILD_DIR/$t.log
  set +e
  "$BUILD_DIR/fuzz_$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=20 \
    -rss_limit_mb=4096 -artifact_prefix="$crashes/" "$work" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  size=$(find "$work" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result="clean"
  else
    found=$(find "$crashes" -type f -newer "$BUILD_DIR/started" | head -n 1)
    result="CRASH: ${found:-see the log} (log $log)"
    failed=1
  fi
  printf '%-16s %10s %8s %8s  %s\n' "$t" "${runs:-0}" "${speed:-0}" "$size" "$result"
done
exit $failed

#!/usr/bin/env bash
# Wall time of extraction and of a data-parallel fit with 1 rank and with 2 ranks launched like
# torchrun on this machine (loopback), the ratio between them, and the bytes each rank sent to
# the fit's collectives (the payload: all-reduces and all-gathers; a ring all-reduce moves about
# 2 (W - 1) / W times it).
# Usage: bench/multiprocess_bench.sh [BUILD_DIR] [IMAGES] [METHOD]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
IMAGES=${2:-20000}
METHOD=${3:-kmeans}
CLI="$BUILD/app/directrix-cli"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# ranks N OUT ARGS...: runs ARGS on N ranks (plain, for N = 1), prints the wall seconds.
ranks() {
  local n=$1 log=$2; shift 2
  local start p r
  start=$(now)
  if [ "$n" = 1 ]; then
    "$CLI" "$@" > "$log.0" 2>&1
  else
    p=$(port)
    pids=()
    for ((r = 0; r < n; r++)); do
      RANK=$r WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$p OMP_NUM_THREADS=$(( $(nproc) / n > 0 ? $(nproc) / n : 1 )) \
        "$CLI" "$@" > "$log.$r" 2>&1 &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
  fi
  awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }'
}
echo "multi-process benchmark: demo model, $IMAGES images, $(nproc) cores, ranks on 127.0.0.1"
e1=$(ranks 1 "$WORK/e1" extract --demo --images fashion-mnist:train --limit "$IMAGES" --quiet --out "$WORK/c1")
e2=$(ranks 2 "$WORK/e2" extract --demo --images fashion-mnist:train --limit "$IMAGES" --quiet --out "$WORK/c2")
cmp -s "$WORK/c1/activations.npy" "$WORK/c2/activations.npy" || { echo "caches differ"; exit 1; }
echo "extract   1 rank ${e1} s   2 ranks ${e2} s   speed-up $(awk -v a="$e1" -v b="$e2" 'BEGIN { printf "%.2f", a / b }')x   (byte-identical caches)"
d1=$(ranks 1 "$WORK/d1" discover --cache "$WORK/c1" --method "$METHOD" --concepts 16 --quiet \
       --influence-images 32 --out "$WORK/k1")
d2=$(ranks 2 "$WORK/d2" discover --cache "$WORK/c1" --method "$METHOD" --concepts 16 --quiet \
       --influence-images 32 --out "$WORK/k2")
bytes=$(/usr/bin/python3 -c "import json; print(json.load(open('$WORK/k2/concepts.json'))['communication']['payload_bytes_per_rank'])")
passes=$(/usr/bin/python3 -c "import json; print(json.load(open('$WORK/k2/concepts.json'))['communication']['reductions'])")
echo "discover $METHOD  1 rank ${d1} s   2 ranks ${d2} s   speed-up $(awk -v a="$d1" -v b="$d2" 'BEGIN { printf "%.2f", a / b }')x"
echo "  payload per rank: $bytes bytes in $passes collectives"
/usr/bin/python3 - "$WORK/k1" "$WORK/k2" <<'PY'
import sys, numpy as np
a, b = sys.argv[1], sys.argv[2]
d = max(float(np.abs(np.load(f"{a}/{n}.npy") - np.load(f"{b}/{n}.npy")).max() /
              (np.abs(np.load(f"{a}/{n}.npy")).max() + 1e-12)) for n in ("decoders", "biases", "encoders"))
print(f"  largest relative difference from the 1-rank fit: {d:.2e}")
PY

#!/usr/bin/env bash
# Extraction launched like torchrun, with 2 and 3 ranks on loopback (ports chosen free): the merged
# cache's arrays and file list are byte-identical to one process's; a rank killed mid-shard fails
# the job with a message naming it and its shard, leaving no complete-looking cache; the rerun
# keeps the shard that was finished and gives the same bytes again.
#   test_multiprocess.sh DIRECTRIX_CLI WORK_DIR
set -euo pipefail
cli=$1 work=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null; done; true' EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# run_ranks WORLD LOGPREFIX ARGS...: every rank runs the same command; waits for all; returns
# the number of ranks that failed. RANK_THREADS, when set, becomes the ranks' OMP_NUM_THREADS.
run_ranks() {
  local world=$1 log=$2; shift 2
  local port failed=0
  port=$(free_port)
  pids=()
  for ((r = 0; r < world; r++)); do
    env ${RANK_THREADS:+OMP_NUM_THREADS=$RANK_THREADS} RANK=$r LOCAL_RANK=$r WORLD_SIZE=$world \
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$cli" "$@" > "$log.$r.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  pids=()
  return $failed
}
same_bytes() {  # same_bytes A B: the arrays and lists one process and the ranks wrote
  for f in activations.npy logits.npy predictions.npy labels.npy files.txt skipped.tsv \
           classes.txt label_classes.txt; do
    cmp -s "$1/$f" "$2/$f" || fail "$2/$f differs from the single-process $1/$f"
  done
}

# start_pair NAME ARGS...: ranks 0 and 1 of a 2-rank job in the background (pids in rank0 and
# rank1, logs NAME.0.log and NAME.1.log); returns once rank 1 writes its shard of images 3000-5999.
start_pair() {
  local name=$1 port
  shift
  port=$(free_port)
  RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$cli" "$@" > "$work/$name.0.log" 2>&1 &
  rank0=$!
  RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$cli" "$@" > "$work/$name.1.log" 2>&1 &
  rank1=$!
  pids=($rank0 $rank1)
  for _ in $(seq 600); do
    compgen -G "$work/.$name.directrix-shards/.*-images-3000-6000*" > /dev/null && return
    sleep 0.05
  done
}

common=(extract --demo --limit 1000 --batch-size 64 --quiet --rank-timeout 20)
"$cli" "${common[@]}" --out "$work/single" > "$work/single.log" 2>&1 || fail "single: $(cat "$work/single.log")"
for world in 2 3; do
  # 2 ranks on one thread each, as torchrun starts them: the bytes do not depend on threads.
  RANK_THREADS=$([ "$world" = 2 ] && echo 1 || true)
  run_ranks "$world" "$work/w$world" "${common[@]}" --out "$work/w$world" ||
    fail "$world ranks failed: $(cat "$work"/w$world.*.log)"
  same_bytes "$work/single" "$work/w$world"
  grep -q "$world ranks" "$work/w$world.0.log" || fail "rank 0 did not report the job: $(cat "$work/w$world.0.log")"
  [ ! -e "$work/.w$world.directrix-shards" ] || fail "the shards of $world ranks were left behind"
  echo "ok: $world ranks wrote the single-process bytes"
done
RANK_THREADS=""
# A rank that lists other images (here: another --limit) fails the job before any work.
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$cli" extract --demo --quiet \
    --limit $((1000 + r)) --rank-timeout 20 --out "$work/mismatch" > "$work/mismatch.$r.log" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
pids=()
[ "$failed" = 2 ] || fail "ranks with different image lists did not both fail"
grep -q "computed another cache key" "$work/mismatch.0.log" ||
  fail "rank 0 does not say that rank 1 lists other images: $(cat "$work/mismatch.0.log")"
echo "ok: ranks that disagree on the images fail with: $(grep -o 'rank 1 failed.*key' "$work/mismatch.0.log")"

# Rank 1 dies (SIGKILL) in the middle of its shard: rank 0 names it and its shard.
slow=(extract --demo --limit 6000 --batch-size 4 --rank-timeout 3 --out "$work/killed")
start_pair killed "${slow[@]}"
sleep 0.3
kill -KILL "$rank1"
{ wait "$rank1"; } 2> /dev/null || true
if wait "$rank0"; then fail "rank 0 succeeded although rank 1 died"; fi
pids=()
grep -q "rank 1 (shard 1: images 3000-5999) stopped answering" "$work/killed.0.log" ||
  fail "rank 0's message does not name rank 1 and its shard: $(cat "$work/killed.0.log")"
[ ! -e "$work/killed/cache.json" ] || fail "a cache that looks complete was left after the failure"
echo "ok: $(grep -o 'rank 1 (shard.*answering' "$work/killed.0.log")"

# Rank 0 stops (Ctrl-C) while rank 1 extracts: rank 1 hears it at its next batch and stops with
# rank 0's message instead of finishing a shard nobody will merge.
start_pair stopped extract --demo --limit 6000 --batch-size 4 --rank-timeout 20 --out "$work/stopped"
kill -INT "$rank0"
if wait "$rank0"; then fail "rank 0 ignored Ctrl-C"; fi
if wait "$rank1"; then fail "rank 1 finished although rank 0 stopped"; fi
pids=()
grep -q "rank 0 of 2 was cancelled" "$work/stopped.1.log" ||
  fail "rank 1 does not report rank 0's stop: $(cat "$work/stopped.1.log")"
[ ! -e "$work/stopped/cache.json" ] || fail "a cache was left after the stop"
echo "ok: rank 1 stopped with: $(grep -o 'error: .*' "$work/stopped.1.log")"

# The rerun keeps rank 0's finished shard and gives the single-process bytes (first 6000 images).
"$cli" extract --demo --limit 6000 --batch-size 4 --quiet --out "$work/single6000" > /dev/null 2>&1 ||
  fail "single 6000"
run_ranks 2 "$work/rerun" "${slow[@]}" --quiet || fail "rerun failed: $(cat "$work"/rerun.*.log)"
grep -q "kept 1 shard" "$work/rerun.0.log" || fail "the rerun did not keep shard 0: $(cat "$work/rerun.0.log")"
same_bytes "$work/single6000" "$work/killed"
echo "ok: the rerun kept shard 0 and wrote the single-process bytes"

# Data-parallel discovery: 2 ranks share the images of the cache; PCA and k-means equal the
# single-process fit within float rounding (1e-4 of the largest value), the SAE within 2e-2 (its
# Adam steps carry the rounding of summed gradients on), and NMF and EDDP exactly (exact sums per
# fold block; EDDP's steps replicated), with EDDP's quick preset and the default (adaptive:
# partition, ica-valley or balanced, chosen on process 0). README "Several processes, GPUs and
# clusters".
close() {  # close A B TOLERANCE
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY' || fail "$2 differs from the single-process fit $1"
import sys, numpy as np
a, b, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
for n in ("decoders", "biases", "encoders"):
    x, y = np.load(f"{a}/{n}.npy"), np.load(f"{b}/{n}.npy")
    d = float(np.abs(x - y).max() / (np.abs(x).max() + 1e-12))
    if not d <= tolerance:  # NaN fails too
        sys.exit(f"{n}: relative difference {d:.2e}")
PY
}
fit=(discover --cache "$work/single" --concepts 6 --quiet --influence-images 16 --rank-timeout 60)
for method in pca kmeans nmf sae eddp eddp-default; do
  args=(--method "${method%-default}" --preset quick)
  [ $method = eddp-default ] && args=(--method eddp)
  "$cli" "${fit[@]}" "${args[@]}" --out "$work/$method-1" > /dev/null 2>&1 || fail "$method on 1 process"
  run_ranks 2 "$work/$method" "${fit[@]}" "${args[@]}" --out "$work/$method-2" ||
    fail "$method on 2 ranks: $(cat "$work/$method".*.log)"
  tolerance=1e-4
  [ "${method%-default}" = eddp ] && tolerance=0
  [ $method = nmf ] && tolerance=0
  [ $method = sae ] && tolerance=2e-2
  close "$work/$method-1" "$work/$method-2" $tolerance
  /usr/bin/python3 -c "import json, sys; d = json.load(open(sys.argv[1]))
sys.exit(d['ranks'] != 2 or not d['data_parallel'] or d['communication']['reductions'] < 1)" \
    "$work/$method-2/concepts.json" ||
    fail "$method: concepts.json does not record a data-parallel fit with sums on 2 ranks"
  if [ $method = eddp-default ]; then  # the adaptive preset records one choice, the same on 2 ranks
    /usr/bin/python3 -c "import json, sys; a, b = (json.load(open(p))['adaptive_choice'] for p in sys.argv[1:])
sys.exit(a != b or a['fitted'] not in ('partition', 'ica-valley', 'balanced') or a['threshold'] != 0.8
         or ('ica_valley' in a) != (a['fitted'] != 'partition'))" \
      "$work/$method-1/concepts.json" "$work/$method-2/concepts.json" ||
      fail "the default preset's adaptive_choice is missing or differs between 1 and 2 ranks"
  fi
done
echo "ok: PCA, k-means, NMF, the SAE and EDDP on 2 ranks equal one process's fit"

# --stability on 2 ranks: every rank runs the refit (a collective fit), rank 0 measures; the
# values are the single process's (k-means' fits agree within rounding, so their firing matches).
"$cli" "${fit[@]}" --method kmeans --stability 1 --out "$work/stability-1" > /dev/null 2>&1 ||
  fail "--stability on 1 process"
run_ranks 2 "$work/stability" "${fit[@]}" --method kmeans --stability 1 --out "$work/stability-2" ||
  fail "--stability on 2 ranks: $(cat "$work"/stability.*.log)"
/usr/bin/python3 - "$work/stability-1" "$work/stability-2" <<'PY' || fail "--stability: 2 ranks differ from 1 process"
import json, sys
one, two = (json.load(open(f"{d}/concepts.json")) for d in sys.argv[1:])
assert one["stability_check"]["refits"] == two["stability_check"]["refits"] == 1
x = [c["stability"] for c in one["concepts"]]
y = [c["stability"] for c in two["concepts"]]
assert len(x) == len(y) == 6 and max(abs(p - q) for p, q in zip(x, y)) < 0.02, (x, y)
PY
echo "ok: --stability on 2 ranks gives the single-process values"

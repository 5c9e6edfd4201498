#!/usr/bin/env bash
# SIGKILL at random moments of a project save and of a cache write: whatever moment the process
# dies, the project, its concepts and the cache open afterwards, each whole (the previous state
# or the new one, never a mix), and the next writer cleans up what the killed one left. The
# kill moments are drawn from a seed printed first; rerun a failure with KILL_SEED=<seed>.
#   test_kill_writes.sh WRITE_FAULT_HELPER DIRECTRIX_CLI WORK_DIR
set -euo pipefail
helper=$1 cli=$2 work=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
seed=${KILL_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
echo "kill moments drawn with KILL_SEED=$seed"
rm -rf "$work" && mkdir -p "$work"
victim=""
trap '[ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null; true' EXIT

# A moment in [0, max) seconds.
moment() { awk -v r="$RANDOM" -v m="$1" 'BEGIN { printf "%.3f", (m > 0 ? m : 0) * r / 32768 }'; }
# Seconds "$@" takes.
seconds_of() {
  local start
  start=$(date +%s.%N)
  "$@" > /dev/null
  awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }'
}
# Starts "$@" in the background, waits (at most 60 s) until `ready` succeeds, then waits a
# random moment in [0, span) and SIGKILLs it.
kill_during() {
  local ready=$1 span=$2; shift 2
  "$@" > "$work/victim.log" 2>&1 &
  victim=$!
  for _ in $(seq 600); do
    eval "$ready" && break
    kill -0 "$victim" 2> /dev/null || break
    sleep 0.1
  done
  sleep "$(moment "$span")"
  kill -KILL "$victim" 2> /dev/null || true
  wait "$victim" 2> /dev/null || true
  victim=""
}

# Project saves: one complete, then saves killed at random moments once saving has begun.
"$helper" save "$work/project" 1 > /dev/null
one=$(seconds_of "$helper" save "$work/project" 1)
five=$(seconds_of "$helper" save "$work/project" 5)
per_save=$(awk -v a="$one" -v b="$five" 'BEGIN { p = (b - a) / 4; print (p > 0.01 ? p : 0.01) }')
echo "one project save takes about $per_save s"
for i in $(seq 1 20); do
  kill_during 'grep -q saving "$work/victim.log"' "$(awk -v p="$per_save" 'BEGIN { print 3 * p }')" \
    "$helper" save "$work/project" 0
  "$helper" check-save "$work/project" || fail "project save $i, killed, does not open"
done
saved=$("$helper" check-save "$work/project")
echo "after the kills: $saved"
grep -Eq "concepts ([89]|[1-9][0-9]+)$" <<< "$saved" || fail "no killed save ever completed"
leftover=$(find "$work/project" -name '*.tmp*' -o -name '*journal*')
[ -z "$leftover" ] || fail "the next save did not clean up: $leftover"

# Cache writes: a cache of 300 images, then rewrites of 1500 and 300 killed at random moments
# once the writer has made its staging folder.
"$cli" extract --demo --limit 300 --out "$work/cache" --quiet > /dev/null
full=$(seconds_of "$cli" extract --demo --limit 1500 --out "$work/timing" --quiet)
echo "one extraction of 1500 images takes about $full s"
for i in $(seq 1 10); do
  limit=$(( i % 2 ? 1500 : 300 ))
  kill_during 'ls -d "$work"/.cache.directrix-partial-* > /dev/null 2>&1' "$full" \
    "$cli" extract --demo --limit "$limit" --out "$work/cache" --force --quiet
  out=$("$helper" check-cache "$work/cache") || fail "cache write $i, killed, does not open"
  grep -Eq "cache of (300|1500) images" <<< "$out" || fail "unexpected cache after a kill: $out"
done
"$cli" extract --demo --limit 300 --out "$work/cache" --force --quiet > /dev/null
leftover=$(ls -d "$work"/.cache.* 2> /dev/null || true)
[ -z "$leftover" ] || fail "leftovers of killed writers remain: $leftover"
echo "every killed write left a state that opens"

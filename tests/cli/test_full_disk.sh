#!/usr/bin/env bash
# A real full disk (a small tmpfs): extraction, discovery, a visualisation and an audit export
# that run out of space each fail with the file and the fix named (exit 1, not a crash), and
# the cache, concepts and exports written before stay whole and open. Needs root to mount the
# tmpfs; elsewhere it reports itself skipped (exit 77) and test_write_faults.cpp's injected
# write failures cover the same writers.
#   test_full_disk.sh DIRECTRIX_CLI WRITE_FAULT_HELPER WORK_DIR
set -uo pipefail
cli=$1 helper=$2 work=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/disk"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=12m tmpfs "$work/disk" 2> /dev/null; then
  echo "skipped: mounting a tmpfs needs root"
  exit 77
fi
trap 'umount "$work/disk"' EXIT
disk=$work/disk

# Fills the disk to the last block.
fill_disk() {
  rm -f "$disk/filler"
  dd if=/dev/zero of="$disk/filler" bs=4K status=none 2> /dev/null
  true
}
expect_disk_error() {  # a failed command's exit code and message
  local rc=$1 log=$2 what=$3
  [ "$rc" -eq 1 ] || { cat "$log"; fail "$what exited $rc on a full disk, not 1"; }
  grep -q "No space left on device" "$log" || { cat "$log"; fail "$what did not say the disk is full"; }
  grep -q "free disk space" "$log" || { cat "$log"; fail "$what did not name the fix"; }
}

"$cli" extract --demo --limit 200 --out "$disk/cache" --quiet > /dev/null || fail "first extraction"
"$cli" discover --cache "$disk/cache" --concepts 4 --method pca --quiet --out "$disk/concepts" \
  > /dev/null || fail "first discovery"
"$cli" audit --demo --concepts "$disk/concepts" --quiet --out "$disk/audit.csv" > /dev/null ||
  fail "first audit"
before=$(cd "$disk" && find cache concepts audit.csv -type f -exec sha256sum {} + | sort)

fill_disk
"$cli" extract --demo --limit 2000 --out "$disk/cache" --force --quiet > /dev/null 2> "$work/extract.log"
expect_disk_error $? "$work/extract.log" "extract"
"$cli" discover --cache "$disk/cache" --concepts 8 --method kmeans --quiet \
  --out "$disk/concepts" > /dev/null 2> "$work/discover.log"
expect_disk_error $? "$work/discover.log" "discover"
"$cli" audit --demo --concepts "$disk/concepts" --quiet --out "$disk/audit.csv" \
  > /dev/null 2> "$work/audit.log"
expect_disk_error $? "$work/audit.log" "audit"
"$cli" visualize --demo --concepts "$disk/concepts" --concept 0 --steps 8 --quiet \
  --out "$disk/concept0.png" > /dev/null 2> "$work/visualize.log"
expect_disk_error $? "$work/visualize.log" "visualize"
rm -f "$disk/filler"

after=$(cd "$disk" && find cache concepts audit.csv -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "files written before the disk filled changed"
"$helper" check-cache "$disk/cache" | grep -q "cache of 200 images" || fail "the cache does not open"
leftover=$(find "$disk" -name '*.tmp*' -o -name '*directrix-partial*' -o -name '*journal*')
[ -z "$leftover" ] || fail "half-written files remain: $leftover"
"$cli" discover --cache "$disk/cache" --concepts 4 --method pca --quiet --out "$disk/again" \
  > /dev/null || fail "discovery on the kept cache"
echo "every write on the full disk failed cleanly and the earlier files open"

#!/usr/bin/env bash
# directrix-cli audit and report end to end on the demo, and the report checked in a real
# headless browser (Debian's chromium): the page loads without script errors, shows every
# section, and every embedded image decodes. Leaves report.png (a screenshot) in OUTDIR.
# Usage: test_report.sh CLI OUTDIR
set -u
CLI=$1
OUT=$2
PY=/usr/bin/python3
rm -rf "$OUT" && mkdir -p "$OUT"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_in() { grep -q -- "$1" "$2" || { fail "expected '$1' in $2:"; cat "$2"; }; }
BROWSER=$(command -v chromium || command -v chromium-browser || true)
[ -n "$BROWSER" ] || { echo "FAIL: chromium is not installed (bash packaging/install-deps.sh)"; exit 1; }

MODEL=$("$CLI" info --demo --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["model"])')
"$CLI" extract --demo --limit 400 --out "$OUT/demo" --quiet > /dev/null || fail "extract exited $?"
"$CLI" discover --cache "$OUT/demo" --concepts 6 --method kmeans --head "$MODEL" --quiet \
  --out "$OUT/concepts" > /dev/null || fail "discover exited $?"
"$CLI" visualize --demo --concepts "$OUT/concepts" --concept 0 --keep --quiet \
  > /dev/null || fail "visualize --keep exited $?"

# audit: CSV and JSON, with INVERT labels over the demo's classes
"$CLI" audit --demo --concepts "$OUT/concepts" --label --quiet --out "$OUT/audit.csv" \
  > "$OUT/audit.txt" || fail "audit exited $?"
expect_in "rule: A concept co-occurs" "$OUT/audit.txt"
"$CLI" audit --demo --concepts "$OUT/concepts" --label --quiet --out "$OUT/audit.json" \
  > /dev/null || fail "audit --out .json exited $?"
$PY - "$OUT/audit.csv" "$OUT/audit.json" <<'PYEOF' || fail "audit files"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
doc = json.load(open(sys.argv[2]))
assert len(rows) == len(doc["cells"]) > 0, (len(rows), len(doc["cells"]))
assert {r["category"] for r in rows} <= {"target", "context", "bias", "unnamed"}
# k-means concepts of a clothing classifier, named by INVERT over the classes: some concept is
# a class's target (labelled with the class it drives).
assert any(r["category"] == "target" for r in rows), rows
for r in rows:
    assert float(r["share_in_class"]) >= 0.2 and float(r["share_in_class"]) >= 2 * float(r["share_elsewhere"]), r
print("audit ok:", len(rows), "cells")
PYEOF

# report, with a TCAV result of the documented scores.json format
cat > "$OUT/scores.json" <<'JSONEOF'
{"format": "directrix-tcav", "version": 1, "method": "tcav", "class": "Sneaker", "layer": "block3",
 "random": {"scores": [0.48, 0.55, 0.51]},
 "concepts": [{"name": "laces", "mean": 0.91, "std": 0.04, "p_value": 0.0004, "significant": true,
               "near_chance": false}]}
JSONEOF
"$CLI" report --demo --concepts "$OUT/concepts" --label --tcav "$OUT/scores.json" --quiet \
  --out "$OUT/report.html" > "$OUT/report.txt" || fail "report exited $?"
expect_in "wrote" "$OUT/report.txt"
"$CLI" report --demo --concepts "$OUT/concepts" --tcav "$OUT/audit.csv" --out "$OUT/x.html" \
  2> "$OUT/tcav.err"
[ $? -eq 1 ] || fail "report with a bad --tcav file should exit 1"
expect_in "is not a scores.json" "$OUT/tcav.err"

# the page in a real browser
run_browser() {
  "$BROWSER" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$OUT/profile" \
    --enable-logging=stderr --v=0 --virtual-time-budget=10000 "$@"
}
run_browser --dump-dom "file://$OUT/report.html" > "$OUT/dom.html" 2> "$OUT/browser.err" \
  || fail "chromium --dump-dom exited $?"
if grep -E "Uncaught|SyntaxError|ReferenceError|TypeError" "$OUT/browser.err"; then
  fail "script errors in the page"
fi
$PY - "$OUT/dom.html" <<'PYEOF' || fail "the report in the browser"
import re, sys
dom = open(sys.argv[1]).read()
for section in ["settings", "concepts", "influence", "audit", "tcav"]:
    assert 'id="%s"' % section in dom, "section %s missing" % section
check = re.search(r'id="image-check"[^>]*', dom).group(0)
images = int(re.search(r'data-images="(\d+)"', check).group(1))
broken = int(re.search(r'data-broken="(\d+)"', check).group(1))
assert broken == 0, "%d of %d images did not decode" % (broken, images)
assert images >= 6 * 4 + 1, "top patches and the kept rendering: %d images" % images
assert "rendering of the detector" in dom
assert "laces" in dom and "Sneaker" in dom
assert dom.count('class="card"') == 6
print("report ok in the browser:", images, "images")
PYEOF
run_browser --window-size=1400,1800 --screenshot="$OUT/report.png" "file://$OUT/report.html" \
  > /dev/null 2>&1 || fail "chromium --screenshot exited $?"
$PY - "$OUT/report.png" <<'PYEOF' || fail "the screenshot"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("L")
assert im.size == (1400, 1800), im.size
colours = len(set(im.resize((350, 450)).getdata()))
assert colours > 40, "the screenshot looks blank (%d grey levels)" % colours
print("screenshot ok")
PYEOF

echo "$failures failure(s)"
[ "$failures" -eq 0 ]

#!/usr/bin/env bash
# End-to-end checks of directrix-cli: info, extract (demo and an image folder), the cache
# read back with numpy, reuse, label (INVERT) checked with scipy, predict, and clear failures on
# bad input.
# Usage: test_cli.sh CLI OUTDIR   (DIRECTRIX_TEST_MODELS = folder of the test models)
set -u
CLI=$1
OUT=$2
MODELS=${DIRECTRIX_TEST_MODELS:?}
PY=/usr/bin/python3
rm -rf "$OUT" && mkdir -p "$OUT"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_in() { grep -q -- "$1" "$2" || { fail "expected '$1' in $2:"; cat "$2"; }; }

# info
"$CLI" info --demo > "$OUT/info.txt" || fail "info --demo exited $?"
expect_in "block3" "$OUT/info.txt"
expect_in "Ankle boot" "$OUT/info.txt"
"$CLI" info --model "$MODELS/resnet18_l34.pt" --json > "$OUT/resnet.json" \
  || fail "the exported resnet18 does not load in C++"
expect_in '"layer4"' "$OUT/resnet.json"

# extract on the demo, read back with numpy
"$CLI" extract --demo --limit 300 --out "$OUT/demo" --quiet > "$OUT/extract.txt" \
  || fail "extract --demo exited $?"
expect_in "wrote:" "$OUT/extract.txt"
"$CLI" extract --demo --limit 300 --out "$OUT/demo" --quiet > "$OUT/extract2.txt"
expect_in "up to date" "$OUT/extract2.txt"
$PY - "$OUT/demo" <<'PYEOF' || fail "numpy checks of the demo cache"
import sys, numpy as np
d = sys.argv[1]
a = np.load(d + "/activations.npy", mmap_mode="r")
logits = np.load(d + "/logits.npy", mmap_mode="r")
pred = np.load(d + "/predictions.npy")
labels = np.load(d + "/labels.npy")
files = open(d + "/files.txt").read().split()
assert a.shape == (300, 128, 7, 7) and a.dtype == np.float32, a.shape
assert logits.shape == (300, 10)
assert (pred == logits.argmax(1)).all()
assert len(files) == 300 and files[0] == "test/00000"
assert (np.asarray(a) >= 0).all(), "block3 is post-ReLU"
acc = (pred == labels).mean()
assert acc > 0.85, acc
print("demo cache ok, accuracy", acc)
PYEOF

# extract an image folder with a corrupt file and a stray file; gray PGMs into an RGB model
mkdir -p "$OUT/imgs/a" "$OUT/imgs/b"
for i in 1 2 3; do
  { printf 'P5\n12 10\n255\n'; head -c 120 /dev/urandom; } > "$OUT/imgs/a/$i.pgm"
  { printf 'P5\n10 12\n255\n'; head -c 120 /dev/urandom; } > "$OUT/imgs/b/$i.pgm"
done
printf 'P5\n12 10\n255\nshort' > "$OUT/imgs/b/corrupt.pgm"
echo "hello" > "$OUT/imgs/a/readme.txt"
"$CLI" extract --model "$MODELS/good_rgb.pt" --images "$OUT/imgs" --layer conv1 \
  --out "$OUT/folder-cache" > "$OUT/folder.txt" 2> "$OUT/folder.err" || fail "folder extract exited $?"
expect_in "6 x 4 x 8 x 8" "$OUT/folder.txt"
expect_in "corrupt.pgm" "$OUT/folder.err"
expect_in "readme.txt" "$OUT/folder.err"
grep -q "extract conv1 \[" "$OUT/folder.err" || fail "no progress bar on stderr"

# discover on the demo cache: every method writes the documented files
for method in pca kmeans eddp; do
  "$CLI" discover --cache "$OUT/demo" --concepts 6 --method $method --quiet \
    --head "$("$CLI" info --demo --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["model"])')" \
    --out "$OUT/concepts-$method" > "$OUT/discover-$method.txt" || fail "discover $method exited $?"
  $PY - "$OUT/concepts-$method" "$OUT/demo" <<'PYEOF' || fail "numpy checks of discover $method"
import sys, json, numpy as np
d, cache = sys.argv[1], sys.argv[2]
dec, b, enc = (np.load(f"{d}/{n}.npy") for n in ("decoders", "biases", "encoders"))
assert dec.shape == (6, 128) and b.shape == (6,) and enc.shape == (6, 128), (dec.shape, b.shape)
meta = json.load(open(f"{d}/concepts.json"))
assert len(meta["concepts"]) == 6 and meta["layer"] == "block3"
a = np.load(f"{cache}/activations.npy", mmap_mode="r")
patches = np.asarray(a).transpose(0, 2, 3, 1).reshape(-1, 128)
fraction = ((patches @ dec.T - b) > 0).mean(0)
for i, c in enumerate(meta["concepts"]):
    assert abs(c["fraction_present"] - fraction[i]) < 1e-3, (i, c, fraction[i])
    assert c["degenerate"] == bool(c["fraction_present"] > 0.5 or c["fraction_present"] == 0), c
print(meta["method"], "fractions", np.round(fraction, 3))
PYEOF
done
# discover --stability: two refits with other seeds; every concept records its stability
"$CLI" discover --cache "$OUT/demo" --concepts 6 --method kmeans --stability 2 \
  --out "$OUT/concepts-stability" > "$OUT/stability.txt" 2> "$OUT/stability.err" \
  || { fail "discover --stability exited $?"; cat "$OUT/stability.err"; }
grep -q "refit 2 of 2: " "$OUT/stability.err" || fail "no refit progress on stderr"
"$CLI" discover --cache "$OUT/demo" --concepts 6 --stability 0.5 --out "$OUT/x" 2> "$OUT/stab.err"
[ $? -eq 1 ] || fail "--stability 0.5 should exit 1"
expect_in "expects a non-negative integer" "$OUT/stab.err"
expect_in "concepts unstable" "$OUT/stability.txt"
$PY - "$OUT/concepts-stability" "$OUT/concepts-kmeans" "$OUT/demo" <<'PYEOF' || fail "numpy checks of discover --stability"
import sys, json, numpy as np
meta = json.load(open(f"{sys.argv[1]}/concepts.json"))
plain = json.load(open(f"{sys.argv[2]}/concepts.json"))
n, _, h, w = np.load(f"{sys.argv[3]}/activations.npy", mmap_mode="r").shape
s = meta["stability_check"]
assert s["refits"] == 2 and s["refit_seeds"] == [1, 2] and s["sample_seed"] == 12345, s
assert s["sample_patches"] == min(50000, n * h * w), s
values = [c["stability"] for c in meta["concepts"]]
assert all(0 <= v <= 1 for v in values), values
assert all(c["unstable"] == (c["stability"] < 0.5) for c in meta["concepts"])
assert s["unstable_concepts"] == sum(c["unstable"] for c in meta["concepts"]), s
# the refits change nothing about the fit itself (seed 0), and a fit without them records none
assert np.allclose(np.load(f"{sys.argv[1]}/decoders.npy"), np.load(f"{sys.argv[2]}/decoders.npy"))
assert "stability_check" not in plain and all("stability" not in c for c in plain["concepts"])
print("stability", np.round(values, 2))
PYEOF
# visualize: renders an EDDP concept of the demo with the default 512 steps (64 were enough for
# some concepts, not all: one reached 0.42 at 64 steps and 42.7 at 256, its strongest real patch
# 16.2). The rendering must drive the concept's detector above the strongest real patch; checked
# from the PNG itself with the model in Python.
MODEL_PATH=$("$CLI" info --demo --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["model"])')
"$CLI" visualize --demo --concepts "$OUT/concepts-eddp" --concept 1 --quiet \
  --out "$OUT/render/concept1.png" > "$OUT/visualize.txt" || fail "visualize exited $?"
expect_in "strongest real patch" "$OUT/visualize.txt"
$PY - "$MODEL_PATH" "$OUT/concepts-eddp" "$OUT/render/concept1.png" <<'PYEOF' || fail "visualize: the PNG does not drive the detector"
import json, sys, numpy as np, torch
from PIL import Image
model_path, d, png = sys.argv[1:]
extra = {"directrix.json": ""}
model = torch.jit.load(model_path, _extra_files=extra)
spec = json.loads(extra["directrix.json"])["input"]
pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32) / 255.0
x = (torch.from_numpy(pixels)[None, None] - spec["mean"][0]) / spec["std"][0]
z = model.features_block3(x)[0].detach().numpy()
w, b = np.load(f"{d}/decoders.npy")[1], np.load(f"{d}/biases.npy")[1]
h, wd = z.shape[1:]
got = float(w @ z[:, h // 2, wd // 2] - b)  # the centre patch, which the rendering drives
real = json.load(open(f"{d}/concepts.json"))["concepts"][1]["top_patches"][0]["score"]
assert got > real, (got, real)
print("the PNG drives detector 1 to", round(got, 3), "; strongest real patch", round(real, 3))
PYEOF
"$CLI" visualize --demo --concepts "$OUT/concepts-eddp" --concept 2 --steps 16 --keep --quiet \
  > "$OUT/keep.txt" || fail "visualize --keep exited $?"
ls "$OUT/concepts-eddp/renderings/"concept2-decoder-*.png > /dev/null 2>&1 || fail "--keep wrote no rendering"
ls "$OUT/concepts-eddp/renderings/"concept2-decoder-*.png.json > /dev/null 2>&1 || fail "--keep wrote no sidecar"
"$CLI" visualize --demo --concepts "$OUT/concepts-eddp" --concept 99 --out "$OUT/x.png" 2> "$OUT/vis.err"
[ $? -eq 1 ] || fail "visualize of a missing concept should exit 1"
expect_in "choose --concept between 0 and 5" "$OUT/vis.err"
"$CLI" discover --cache "$OUT/demo" --concepts 4 --method magic --out "$OUT/x" 2> "$OUT/method.err"
[ $? -eq 1 ] || fail "unknown method should exit 1"
expect_in "spherical-kmeans" "$OUT/method.err"

# conceptworld: writes the split, refuses to overwrite
"$CLI" conceptworld --split test --count 20 --out "$OUT/cw" --quiet > /dev/null || fail "conceptworld exited $?"
[ "$(($(wc -l < "$OUT/cw/concepts.csv") - 1))" -eq 20 ] || fail "concepts.csv does not list 20 images"
"$CLI" conceptworld --split test --count 20 --out "$OUT/cw" --quiet 2> "$OUT/cw_err.txt" \
  && fail "conceptworld overwrote a folder"
expect_in "not an empty folder" "$OUT/cw_err.txt"

# label (INVERT) on generated scores and labels; every reported number rechecked with scipy
L=$OUT/label
mkdir -p "$L"
$PY - "$L" <<'PYEOF' || fail "could not generate the label inputs"
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
n = 600
names = ["strap", "sandal", "heel", "sneaker", "lace", "bag"]
y = rng.random((n, 6)) < [0.3, 0.3, 0.2, 0.3, 0.25, 0.15]
planted = (y[:, 1] & ~y[:, 3]) | y[:, 5]  # (sandal AND NOT sneaker) OR bag
s = np.stack([planted + rng.random(n), np.round(rng.random(n) * 4), -(y[:, 2] + rng.random(n))], 1)
np.save(d + "/scores.npy", s.astype(np.float32))
np.save(d + "/scores_f64.npy", s)
np.save(d + "/labels.npy", y)
np.save(d + "/labels_u8.npy", y.astype(np.uint8))
open(d + "/names.txt", "w").write("\n".join(names) + "\n")
open(d + "/names5.txt", "w").write("\n".join(names[:5]) + "\n")
PYEOF
"$CLI" label --scores "$L/scores.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
  --length 3 --beam 4 --out "$L/positive.json" --quiet > "$L/label.txt" || fail "label exited $?"
expect_in "labeled 3 representations" "$L/label.txt"
"$CLI" label --scores "$L/scores.npy" --labels "$L/labels_u8.npy" --names "$L/names.txt" \
  --length 3 --beam 4 --mode negative --min-fraction 0.05 --max-fraction 0.4 \
  --out "$L/negative.json" --quiet > /dev/null || fail "label --mode negative exited $?"
$PY - "$L" <<'PYEOF' || fail "scipy checks of label"
import sys, json, re, numpy as np
from scipy.stats import mannwhitneyu
d = sys.argv[1]
s, y = np.load(d + "/scores.npy"), np.load(d + "/labels.npy")
names = open(d + "/names.txt").read().split()
def holds(formula):  # the text parenthesises wherever AND and OR meet, so Python's & | agree
    expr = re.sub(r"\bNOT ", "~", formula.replace(" AND ", " & ").replace(" OR ", " | "))
    return eval(expr, {}, {name: y[:, j] for j, name in enumerate(names)})
for path, low, bounds in (("positive", False, (0, 0.5)), ("negative", True, (0.05, 0.4))):
    doc = json.load(open(f"{d}/{path}.json"))
    reps = doc["representations"]
    assert len(reps) == 3 and doc["images"] == 600 and doc["concepts"] == 6
    for rep in reps:
        a, fs = s[:, rep["index"]], rep["formulas"]
        assert 1 <= len(fs) <= 4, fs
        aucs = [f["auc"] for f in fs]
        assert aucs == sorted(aucs, reverse=not low), aucs
        for f in fs:
            m = holds(f["formula"])
            assert f["positives"] == m.sum() and abs(f["fraction"] - m.mean()) < 1e-12, f
            assert bounds[0] <= f["fraction"] <= bounds[1] and 1 <= f["length"] <= 3, f
            u, p = mannwhitneyu(a[m], a[~m], use_continuity=True, method="asymptotic")
            assert abs(f["auc"] - u / (m.sum() * (~m).sum())) < 1e-9, (f, u)
            assert abs(f["p_value"] - p) <= 1e-9 * p, (f, p)
    best = [rep["formulas"][0] for rep in reps]
    print(path, [(b["formula"], round(b["auc"], 4)) for b in best])
    if not low:
        assert best[0]["auc"] == 1.0 and (holds(best[0]["formula"]) ==
                                          ((y[:, 1] & ~y[:, 3]) | y[:, 5])).all(), best[0]
    else:
        assert best[2]["formula"] == "heel" and best[2]["auc"] == 0.0, best[2]
PYEOF
"$CLI" label --scores "$L/scores.npy" --labels "$L/labels.npy" --names "$L/names5.txt" \
  --out "$L/x.json" 2> "$L/names.err"; code=$?
[ $code -eq 1 ] || fail "a names count mismatch should exit 1, got $code"
expect_in "names5.txt has 5 names" "$L/names.err"
"$CLI" label --scores "$L/scores_f64.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
  --out "$L/x.json" 2> "$L/dtype.err"; code=$?
[ $code -eq 1 ] || fail "float64 scores should exit 1, got $code"
expect_in "astype(np.float32)" "$L/dtype.err"
"$CLI" label --scores "$L/scores.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
  --mode sideways --out "$L/x.json" 2> /dev/null; [ $? -eq 1 ] || fail "bad --mode should exit 1"
# label on 4-D maps (channels of activations): each channel reduced over space is one column
$PY - "$L" <<'PYEOF' || fail "could not write the maps"
import sys, numpy as np
d = sys.argv[1]
s = np.load(d + "/scores.npy")
maps = np.zeros((600, 3, 2, 2), np.float32)
maps[:, :, 1, 0] = s  # the score sits at one position, the rest is lower
maps -= 10
maps[:, :, 1, 0] += 10
np.save(d + "/maps.npy", maps)
PYEOF
"$CLI" label --scores "$L/maps.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
  --length 3 --beam 4 --reduce max --out "$L/maps.json" --quiet > /dev/null || fail "label on maps exited $?"
$PY - "$L" <<'PYEOF' || fail "label on maps should equal label on their maxima"
import sys, json
d = sys.argv[1]
a, b = json.load(open(d + "/positive.json")), json.load(open(d + "/maps.json"))
fa = [[f["formula"] for f in r["formulas"]] for r in a["representations"]]
fb = [[f["formula"] for f in r["formulas"]] for r in b["representations"]]
assert fa == fb, (fa, fb)
PYEOF
# label on a transformer cache's class tokens (N x p x C): each channel is one column, as it is
# for one token, the maximum over the tokens for several
$PY - "$L" <<'PYEOF' || fail "could not write the class tokens"
import sys, numpy as np
d = sys.argv[1]
s = np.load(d + "/scores.npy")
np.save(d + "/tokens1.npy", s[:, None, :].copy())
rng = np.random.default_rng(1)
low = s - 1 - 5 * rng.random(s.shape)  # below s everywhere, in another order
np.save(d + "/tokens2.npy", np.stack([low, s], 1).astype(np.float32))  # the maximum is s
np.save(d + "/tokens_mean.npy", ((low + s) / 2).astype(np.float32))
PYEOF
"$CLI" label --scores "$L/tokens_mean.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
  --length 3 --beam 4 --out "$L/tokens_mean.json" --quiet > /dev/null || fail "label on the token means exited $?"
"$CLI" label --scores "$L/tokens2.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
  --length 3 --beam 4 --reduce mean --out "$L/tokens2_mean.json" --quiet > /dev/null \
  || fail "label --reduce mean on class tokens exited $?"
$PY - "$L" <<'PYEOF' || fail "label --reduce mean on class tokens should equal label on their means"
import sys, json
d = sys.argv[1]
a, b = json.load(open(d + "/tokens_mean.json")), json.load(open(d + "/tokens2_mean.json"))
fa = [[(f["formula"], f["auc"]) for f in r["formulas"]] for r in a["representations"]]
fb = [[(f["formula"], f["auc"]) for f in r["formulas"]] for r in b["representations"]]
assert fa == fb, (fa, fb)
PYEOF
for t in tokens1 tokens2; do
  "$CLI" label --scores "$L/$t.npy" --labels "$L/labels.npy" --names "$L/names.txt" \
    --length 3 --beam 4 --out "$L/$t.json" --quiet > /dev/null || fail "label on $t exited $?"
  $PY - "$L" "$t" <<'PYEOF' || fail "label on class tokens $t should equal label on the scores"
import sys, json
d, t = sys.argv[1], sys.argv[2]
a, b = json.load(open(d + "/positive.json")), json.load(open(f"{d}/{t}.json"))
fa = [[(f["formula"], f["auc"]) for f in r["formulas"]] for r in a["representations"]]
fb = [[(f["formula"], f["auc"]) for f in r["formulas"]] for r in b["representations"]]
assert fa == fb and b["images"] == 600, (fa, fb)
PYEOF
done

# tcav on the ConceptWorld CNN: watermarked images as the concept, clean ones as random sets,
# the red_circle sub-folder as the class images; scores.json and the CAV files checked with numpy
T=$OUT/tcav
CWMODEL=$(cd "$(dirname "$0")/../../resources/demo" && pwd)/conceptworld_cnn.pt
mkdir -p "$T/random"
"$CLI" conceptworld --split test --count 200 --seed 31 --out "$T/mixed" --quiet > /dev/null \
  || fail "conceptworld for tcav exited $?"
for r in 0 1 2 3; do
  "$CLI" conceptworld --split test --count 40 --seed $((40 + r)) --no-watermark \
    --out "$T/cw$r" --quiet > /dev/null && mv "$T/cw$r/images" "$T/random/r$r"
done
$PY - "$T" <<'PYEOF' || fail "could not collect the watermarked images"
import sys, csv, os, shutil
d = sys.argv[1]
os.makedirs(d + "/watermark")
for row in csv.DictReader(open(d + "/mixed/concepts.csv")):
    if row["watermark"] == "1":
        shutil.copy(f"{d}/mixed/{row['image']}", f"{d}/watermark/{row['image'].replace('/', '_')}")
PYEOF
"$CLI" tcav --model "$CWMODEL" --layer block3 --class red_circle --images "$T/mixed/images" \
  --concept "$T/watermark" --random-sets "$T/random" --classifier mean --out "$T/out" --quiet \
  > "$T/tcav.txt" || fail "tcav exited $?"
expect_in "watermark: score" "$T/tcav.txt"
$PY - "$T/out" <<'PYEOF' || fail "numpy checks of tcav"
import sys, json, os, numpy as np
d = sys.argv[1]
doc = json.load(open(d + "/scores.json"))
assert doc["method"] == "tcav" and doc["class"] == "red_circle" and doc["runs"] == 4, doc
assert doc["null_runs"] == 2, doc  # 4 random sets paired (0, 1), (2, 3): independent nulls
assert doc["class_selection"] == "labelled" and doc["class_images"] > 10
assert not doc["constant_gradient"] and doc["bonferroni_threshold"] == 0.05
c = doc["concepts"][0]
assert c["name"] == "watermark" and len(c["scores"]) == 4 and 0 <= c["p_value"] <= 1, c
assert not c["near_chance"] and c["undefined_runs"] == 0, c
assert all(0 <= s <= 1 for s in c["scores"] + doc["random"]["scores"])
assert abs(c["mean"] - np.mean(c["scores"])) < 1e-12 and c["mean"] > 0.8, c
for stem in c["cavs"] + doc["random"]["cavs"]:
    v = np.load(f"{d}/{stem}.npy")
    meta = json.load(open(f"{d}/{stem}.json"))
    assert v.shape == (64 * 8 * 8,) and abs(np.linalg.norm(v) - 1) < 1e-5, (stem, v.shape)
    assert meta["shape"] == [64, 8, 8] and meta["classifier"] == "mean", meta
print("tcav watermark", c["scores"], "p", c["p_value"], "random", doc["random"]["scores"])
PYEOF
# without --images the class images are the random images the model predicts as the class
"$CLI" tcav --model "$CWMODEL" --layer block3 --class red_circle --concept "$T/watermark" \
  --random-sets "$T/random" --classifier mean --out "$T/noimages" --quiet > /dev/null \
  || fail "tcav without --images exited $?"
$PY - "$T/noimages" <<'PYEOF' || fail "numpy checks of tcav without --images"
import sys, json
doc = json.load(open(sys.argv[1] + "/scores.json"))
assert doc["class_selection"] == "random images predicted as the class", doc["class_selection"]
assert 0 < doc["class_images"] < 120, doc["class_images"]
PYEOF
# a saved CAV is reusable: scored again as a fixed direction, against the same random sets
"$CLI" tcav --model "$CWMODEL" --layer block3 --class red_circle --images "$T/mixed/images" \
  --cav "$T/out/cavs/watermark_run0.npy" --random-sets "$T/random" --classifier mean \
  --out "$T/reuse" --quiet > /dev/null || fail "tcav --cav exited $?"
$PY - "$T" <<'PYEOF' || fail "numpy checks of tcav --cav"
import sys, json
d = sys.argv[1]
first, again = json.load(open(d + "/out/scores.json")), json.load(open(d + "/reuse/scores.json"))
c = again["concepts"][0]
assert c["fixed_direction"] and len(c["scores"]) == 1, c
assert 0 <= c["p_value"] <= 1 and again["fixed_direction_test"].startswith("normal prediction"), c
assert abs(c["scores"][0] - first["concepts"][0]["scores"][0]) < 1e-9, (c, first["concepts"][0])
PYEOF
# a relative CAV: the watermark against clean images (concept r3) instead of random sets
"$CLI" tcav --model "$CWMODEL" --layer block3 --class red_circle --images "$T/mixed/images" \
  --concept "$T/watermark" --concept "$T/random/r3" --relative watermark:r3 \
  --random-sets "$T/random" --classifier mean --out "$T/relative" --quiet > /dev/null \
  || fail "tcav --relative exited $?"
$PY - "$T/relative" <<'PYEOF' || fail "numpy checks of tcav --relative"
import sys, json
doc = json.load(open(sys.argv[1] + "/scores.json"))
names = [c["name"] for c in doc["concepts"]]
assert names == ["watermark", "r3", "watermark vs r3"], names
assert doc["concepts"][2]["mean"] > 0.8, doc["concepts"][2]
PYEOF
"$CLI" tcav --model "$CWMODEL" --class red_circle --images "$T/mixed/images" \
  --concept "$T/watermark" --relative watermark:nothing --random-sets "$T/random" \
  --out "$T/x" 2> "$T/relative.err"; code=$?
[ $code -eq 1 ] || fail "an unknown --relative concept should exit 1, got $code"
expect_in "nothing" "$T/relative.err"
# SACV at the deepest layer (pooling + linear head) is refused, naming a layer that works
"$CLI" tcav --model "$CWMODEL" --layer block4 --spatial --class red_circle \
  --images "$T/mixed/images" --concept "$T/watermark" --random-sets "$T/random" \
  --classifier mean --out "$T/x" 2> "$T/sacv.err"; code=$?
[ $code -eq 1 ] || fail "sacv at block4 should exit 1, got $code"
expect_in "block3, for example" "$T/sacv.err"
"$CLI" tcav --model "$CWMODEL" --class purple_hexagon --images "$T/mixed/images" \
  --concept "$T/watermark" --random-sets "$T/random" --out "$T/x" 2> "$T/class.err"; code=$?
[ $code -eq 1 ] || fail "an unknown tcav class should exit 1, got $code"
expect_in "red_circle" "$T/class.err"
"$CLI" tcav --model "$CWMODEL" --class red_circle --images "$T/mixed/images" \
  --concept "$T/watermark" --random "$T/random/r0" --out "$T/x" 2> "$T/random.err"; code=$?
[ $code -eq 1 ] || fail "one random folder should exit 1, got $code"
expect_in "random" "$T/random.err"

# predict
"$CLI" predict --demo --limit 200 --quiet > "$OUT/pred.tsv" 2> "$OUT/pred.err" || fail "predict exited $?"
[ "$(wc -l < "$OUT/pred.tsv")" -eq 201 ] || fail "predict should print a header and 200 rows"
expect_in "accuracy: 0.[89]" "$OUT/pred.err"

# bad input: non-zero exit and a message naming the file and the fix
"$CLI" info --model "$MODELS/not_a_model.pt" 2> "$OUT/bad.err"; code=$?
[ $code -eq 1 ] || fail "bad model should exit 1, got $code"
expect_in "not_a_model.pt" "$OUT/bad.err"
expect_in "export_model.py" "$OUT/bad.err"
"$CLI" extract --demo --layer nope --out "$OUT/x" 2> "$OUT/layer.err"; code=$?
[ $code -eq 1 ] || fail "unknown layer should exit 1, got $code"
expect_in "block1, block2, block3" "$OUT/layer.err"
"$CLI" extract --demo --images "$OUT/no-such-folder" --out "$OUT/y" 2> "$OUT/nofolder.err"; code=$?
[ $code -eq 1 ] || fail "missing folder should exit 1, got $code"
expect_in "no-such-folder" "$OUT/nofolder.err"
"$CLI" extract --demo --out "$OUT/z" --limit abc 2> "$OUT/arg.err"; code=$?
[ $code -eq 1 ] || fail "bad --limit should exit 1, got $code"
"$CLI" frobnicate 2> /dev/null; [ $? -eq 2 ] || fail "unknown command should exit 2"

if [ $failures -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all CLI checks passed"

#!/usr/bin/env bash
# The Debian package (packaging/package.sh) as a user gets it: built from this build tree,
# unpacked into a scratch root, its desktop files validated, its dependencies resolvable on
# Debian 12, and the unpacked binaries run, finding the demo models under the scratch root's
# share/directrix rather than in the source or build tree.
#   test_package.sh SOURCE_DIR BUILD_DIR WORK_DIR CHECK_SCREENSHOT_PY GUI_CACHE
# GUI_CACHE: the XDG cache where the build tree's demo already discovered its concepts (the
# installed app finds them by the model's content, so it does not discover them again).
set -euo pipefail
src=$1 build=$2 work=$3 check_png=$4 gui_cache=$5
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"

deb=$(NO_BUILD=1 BUILD_DIR="$build" OUT_DIR="$work/out" bash "$src/packaging/package.sh" | tail -n 1)
[[ $(basename "$deb") =~ ^directrix_[0-9]+\.[0-9]+\.[0-9]+_[a-z0-9]+\.deb$ ]] ||
  fail "package name $(basename "$deb") is not directrix_<version>_<arch>.deb"
echo "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

root=$work/root
dpkg-deb -x "$deb" "$root"
app=org.directrix.Directrix
for f in usr/bin/directrix usr/bin/directrix-cli \
         usr/share/directrix/demo/fashion_cnn.pt usr/share/directrix/demo/conceptworld_cnn.pt \
         usr/share/applications/$app.desktop usr/share/metainfo/$app.metainfo.xml \
         usr/share/mime/packages/$app.xml \
         usr/share/icons/hicolor/scalable/apps/$app.svg \
         usr/share/icons/hicolor/48x48/apps/$app.png usr/share/icons/hicolor/256x256/apps/$app.png \
         usr/share/icons/hicolor/scalable/mimetypes/application-x-directrix-project.svg \
         usr/share/icons/hicolor/48x48/mimetypes/application-x-directrix-project.png; do
  [ -f "$root/$f" ] || fail "the package lacks /$f"
done
if find "$root" -name '*.a' -o -name 'bench*' -o -name '*_tests' | grep -q .; then
  fail "the package carries build or test outputs"
fi

desktop-file-validate "$root/usr/share/applications/$app.desktop"
appstreamcli validate --no-net "$root/usr/share/metainfo/$app.metainfo.xml"
grep -q 'type="application/x-directrix-project"' "$root/usr/share/mime/packages/$app.xml" ||
  fail "the MIME file does not define application/x-directrix-project"

depends=$(dpkg-deb -f "$deb" Depends)
for d in dataset-fashion-mnist libopenblas0-pthread libtorch libqt6widgets6 libopencv-imgcodecs; do
  grep -q "$d" <<< "$depends" || fail "Depends lacks $d: $depends"
done
if command -v apt-get > /dev/null && [ "$(id -u)" -eq 0 ]; then
  # Simulated: resolves every dependency against the machine's Debian archive, installs nothing.
  apt-get install -s -q "$deb" > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get cannot install the package"; }
fi

# The unpacked binaries find their data relative to themselves (share/directrix/demo).
info=$("$root/usr/bin/directrix-cli" info --demo)
model=$(head -n 1 <<< "$info")
[ "$model" = "$(realpath "$root")/usr/share/directrix/demo/fashion_cnn.pt" ] ||
  fail "the installed CLI opened $model, not the packaged demo model"
grep -q "contract: valid" <<< "$info" || fail "directrix-cli info --demo: $info"
"$root/usr/bin/directrix" --version | grep -q "Directrix" || fail "directrix --version"
QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} XDG_CACHE_HOME=$gui_cache XDG_CONFIG_HOME=$work/config \
  "$root/usr/bin/directrix" --demo --view gallery --screenshot "$work/installed.png"
/usr/bin/python3 "$check_png" "$work/installed.png"
echo "package test passed"

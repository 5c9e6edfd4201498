#!/usr/bin/env bash
# Installs every build, run and test dependency of Directrix from Debian 12 packages.
# Idempotent: packages already present are skipped by apt. Needs root or sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread libgloo-dev
  libopencv-dev libeigen3-dev nlohmann-json3-dev zlib1g-dev
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev libqt6opengl6-dev qt6-svg-dev
  qt6-qpa-plugins libgl-dev
  libgtest-dev libgmock-dev googletest
  python3 python3-torch python3-torchvision python3-numpy python3-sklearn python3-scipy python3-pil
  dataset-fashion-mnist
  xvfb xauth imagemagick chromium
  librsvg2-bin desktop-file-utils appstream
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

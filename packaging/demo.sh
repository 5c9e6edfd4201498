#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the demo: installs the dependencies, builds,
# and opens Directrix on the Fashion-MNIST demo (extraction runs on first start, then cached).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
bash packaging/build.sh
exec ./build/app/directrix --demo "$@"

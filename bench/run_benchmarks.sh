#!/usr/bin/env bash
# Runs every benchmark: extraction vs forward for the demo CNN and a torchvision resnet18
# (random weights, exported at layer4), concept-method fit times vs scikit-learn on one patch
# matrix, and live counterfactual latency for both models.
# Usage: bench/run_benchmarks.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RESNET="$BUILD/bench/resnet18_layer4.pt"
if [ ! -f "$RESNET" ]; then
  /usr/bin/python3 packaging/export_model.py --torchvision resnet18 --layers layer3,layer4 \
    --out "$RESNET"
fi
"$BUILD/bench/extract_bench" --images 5000
"$BUILD/bench/extract_bench" --model "$RESNET" --images 256
"$BUILD/bench/fit_bench" --sklearn-script bench/sklearn_fit.py
"$BUILD/bench/counterfactual_bench"
"$BUILD/bench/counterfactual_bench" --model "$RESNET" --layer layer4

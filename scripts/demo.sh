#!/usr/bin/env bash
# Installs, builds and runs the demo review end to end (synthetic backend, tiny VGG19 weights,
# embedded SQLite cache; no GPU, no downloads). Prints where the report is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/ghx models tiny models/tiny >/dev/null
./build/ghx run experiments/demo.toml
echo "open $(pwd)/reports/demo-v1/report.html (also report.md, results.json, results.csv)"

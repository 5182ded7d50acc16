#!/usr/bin/env bash
# Calibration of the adjacent-rank verdicts (docs/statistics.md): 1000 simulated reviews per row,
# equal checkpoints (false claims) and one truly better checkpoint (found). Not a test: the suite
# runs a short version of the same code (tests/stats/test_calibration.cpp, "[calibration]").
# Usage: bench/calibration.sh   (after scripts/build.sh --test; about a minute on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
build/tests/ghx_tests "[.bench][calibration]" -s | grep '^|' | tee bench/out/calibration.md

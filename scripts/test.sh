#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (Catch2 unit tests and end-to-end CLI tests,
# all through ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --test
cd build
ctest --output-on-failure -j"$(nproc)"

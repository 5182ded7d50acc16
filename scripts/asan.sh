#!/usr/bin/env bash
# The whole test suite once more, built with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMakePresets.json preset "asan", into build-asan/; docs/reliability.md). Any sanitizer report
# fails the test it happens in. .ci/run runs it after the plain suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$(nproc)"
ctest --preset asan -j"$(nproc)"

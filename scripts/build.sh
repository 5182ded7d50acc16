#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), configures and builds ghx into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "$@"
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGHX_WERROR=$werror >/dev/null
ninja -C build -j"$(nproc)"

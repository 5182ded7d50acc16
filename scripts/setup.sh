#!/usr/bin/env bash
# Installs every Debian 12 package ghx needs to build and test. Idempotent, non-interactive.
# Usage: scripts/setup.sh            (build dependencies: enough for the demo)
#        scripts/setup.sh --test     (also what the test suite needs: Chromium for the report test)
#        scripts/setup.sh --bench    (also the tools bench/ compares against)
#        scripts/setup.sh --fuzz     (also clang and libFuzzer, for scripts/fuzz.sh)
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libtomlplusplus-dev libxxhash-dev libsqlitecpp-dev libsqlite3-dev
  libopencv-dev libcli11-dev catch2 nlohmann-json3-dev
  libcpp-httplib-dev libbrotli-dev libkainjow-mustache-dev libarchive-dev libssl-dev sqlite3 libicu-dev zlib1g-dev
)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(snakemake python3-torch python3-torchvision time) ;;
    # The report's screenshot test renders report.html in headless Chromium (with a font).
    --test) pkgs+=(chromium fonts-dejavu-core) ;;
    # scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes.
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: scripts/setup.sh [--bench] [--test] [--fuzz]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Installs every Debian 12 package ghx needs to build and test. Idempotent, non-interactive.
# Usage: scripts/setup.sh            (build dependencies: enough for the demo)
#        scripts/setup.sh --test     (also what the test suite needs: Chromium for the report test,
#                                     nginx for the remote-cache test)
#        scripts/setup.sh --slurm    (Slurm and munge, for scripts/slurm-test.sh)
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
    --bench) pkgs+=(snakemake python3-torch python3-torchvision time bc nginx) ;;
    # The report's screenshot test renders report.html in headless Chromium (with a font).
    # The remote-cache test serves Bazel's HTTP cache protocol with nginx's WebDAV PUT.
    --test) pkgs+=(chromium fonts-dejavu-core nginx) ;;
    --slurm) pkgs+=(slurm-wlm munge) ;;
    # scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes.
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: scripts/setup.sh [--bench] [--test] [--fuzz] [--slurm]" >&2; exit 2 ;;
  esac
done
# An install that was interrupted (a killed session, a lost machine) leaves dpkg half done, and
# every later apt-get refuses to run until it is finished: finish it first.
if [ -n "$(dpkg --audit 2>/dev/null)" ] || [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then
  echo "setup: finishing an interrupted package install (dpkg --configure -a)" >&2
  $SUDO dpkg --configure -a
  $SUDO apt-get install -f -y -qq >/dev/null
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Services these packages bring (nginx, munge, slurm) are not started by the install: the
  # tests start their own on private ports and sockets. A policy-rc.d of the machine's is kept.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  trap 'if [ $own_policy = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi' EXIT
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

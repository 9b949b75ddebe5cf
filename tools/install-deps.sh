#!/usr/bin/env bash
# Debian 12 packages weft builds and tests with. Runs as root or through sudo.
set -euo pipefail
case "${1:-}" in
  -h|--help) echo "usage: tools/install-deps.sh"
             echo "Installs the Debian 12 packages (apt) and Python modules (pip) weft builds and tests with."
             exit 0 ;;
  --version) echo "install-deps.sh (weft) $(sed -n 's/^#define WEFT_VERSION_[A-Z]* \([0-9]*\)$/\1/p' \
                  "$(dirname "$0")/../include/weft.h" | paste -sd.)"
             exit 0 ;;
esac
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(build-essential meson ninja-build pkg-config libsodium-dev libcmocka-dev python3 python3-dev
      python3-numpy python3-pytest python3-pip mpich libmpich-dev iproute2 nftables clang libclang-rt-14-dev
      cmake groff-base) # cmake and groff: tests/install (a CMake consumer; man pages rendered)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${missing[@]}"
fi
# The python3 first on PATH may not be Debian's (pyenv, a venv): give it numpy and pytest too.
if ! python3 -c "import numpy, pytest" >/dev/null 2>&1; then
  python3 -m pip install --quiet numpy pytest || echo "install-deps: could not pip-install numpy/pytest for $(command -v python3); the Python tests will be skipped"
fi
# PyTorch for the weft.torch backend and its tests (suite torch), and Gloo's numbers in
# bench/compare. The CPU wheel pinned here is the one the project targets (docs/PYTORCH.md);
# an unpinned `pip install torch` would fetch gigabytes of CUDA libraries.
if ! python3 -c "import torch" >/dev/null 2>&1; then
  python3 -m pip install --quiet torch==2.13.0 || echo "install-deps: could not pip-install torch==2.13.0 for $(command -v python3); the torch tests will be skipped"
fi
# PyTorch's own distributed test suite (tests/torch/dist_suite.py) imports expecttest.
if ! python3 -c "import expecttest" >/dev/null 2>&1; then
  python3 -m pip install --quiet expecttest || echo "install-deps: could not pip-install expecttest; torch-dist-suite will be skipped"
fi

#!/usr/bin/env bash
# The README's first command: install what weft needs on Debian 12, build it, and run the main
# job (a 4-rank allreduce on this machine through weftrun). Safe to run again.
set -euo pipefail
case "${1:-}" in
  -h|--help) echo "usage: tools/quickstart.sh"
             echo "Installs weft's dependencies, builds it in build/ and runs a 4-rank allreduce under weftrun."
             exit 0 ;;
  --version) echo "quickstart.sh (weft) $(sed -n 's/^#define WEFT_VERSION_[A-Z]* \([0-9]*\)$/\1/p' \
                  "$(dirname "$0")/../include/weft.h" | paste -sd.)"
             exit 0 ;;
esac
cd "$(dirname "$0")/.."
"$(dirname "$0")/install-deps.sh"
if [ ! -f build/build.ninja ]; then meson setup build --buildtype=release; fi
ninja -C build
echo
echo "== weftrun -n 4 allreduce_demo"
build/tools/weftrun -n 4 --timeout 120 build/examples/allreduce_demo

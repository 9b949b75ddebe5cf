#!/bin/sh
# Runs one libFuzzer target for a bounded time on a copy of its seed corpus.
#
#   tests/fuzz/run_fuzz.sh TARGET SECONDS [EXTRA_LIBFUZZER_ARGS...]
#
# TARGET: frame, peer_hello, coord_msg, coord_reader, auth, config, host, env (a "fuzz_" prefix
# is accepted). The libFuzzer binaries come from a clang build with libFuzzer (Debian/Ubuntu:
# clang plus libclang-rt-<version>-dev), e.g.
#   CC=clang meson setup build-fuzz -Db_sanitize=address,undefined -Db_lundef=false
#   ninja -C build-fuzz
# Environment: FUZZ_BUILD_DIR (default: build-fuzz, then /tmp/build-fuzz, then build, relative to
# the repository root), FUZZ_WORK_DIR (default: a new temporary directory; it receives the grown
# corpus in corpus/ and any crashing input in artifacts/).
# Exit status: 0 when the run ended without a finding, otherwise libFuzzer's (non-zero); the
# crashing input is printed. To keep it as a regression test, copy it into
# tests/fuzz/regressions/fuzz_TARGET/ (the standalone replay runs it in every build).
set -eu

if [ $# -lt 2 ]; then
  sed -n '2,18s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
target=${1#fuzz_}
seconds=$2
shift 2

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=
for d in ${FUZZ_BUILD_DIR:-} "$root/build-fuzz" /tmp/build-fuzz "$root/build"; do
  case $d in /*) ;; *) d="$root/$d" ;; esac
  if [ -x "$d/tests/fuzz/fuzz_${target}_libfuzzer" ]; then
    bin="$d/tests/fuzz/fuzz_${target}_libfuzzer"
    break
  fi
done
if [ -z "$bin" ]; then
  echo "run_fuzz.sh: no fuzz_${target}_libfuzzer binary found (build with clang + libFuzzer, or" \
       "set FUZZ_BUILD_DIR)" >&2
  exit 2
fi
seeds="$here/corpus/fuzz_$target"
if [ ! -d "$seeds" ]; then
  echo "run_fuzz.sh: no seed corpus $seeds" >&2
  exit 2
fi

work=${FUZZ_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/weft-fuzz-$target.XXXXXX")}
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
regress="$here/regressions/fuzz_$target"
dirs="$work/corpus"
[ -d "$regress" ] && dirs="$dirs $regress"
dict=
[ -f "$here/dict/fuzz_$target.dict" ] && dict="-dict=$here/dict/fuzz_$target.dict"

# Sanitizer reports stop the run (UBSan recovers by default) and carry a stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:print_stacktrace=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"

echo "run_fuzz.sh: $bin for ${seconds}s, corpus $work/corpus, artifacts $work/artifacts" >&2
# shellcheck disable=SC2086 # $dict and $dirs are lists on purpose
"$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" $dict "$@" $dirs

#!/usr/bin/env bash
# consumer.sh MESON BUILD_DIR VERSION PREFIX BINDIR LIBDIR INCLUDEDIR MANDIR
#
# weft as a user gets it: `meson install` into a DESTDIR under the build directory, then
#   1. the installed tree has the libraries (soname link, static archive), header, tools, man
#      pages, weft.pc and the CMake package;
#   2. a C program builds with pkg-config (shared, and static with --static) and with CMake
#      (find_package(weft), weft::weft and weft::weft_static), and each runs under the installed
#      weftrun with 2 ranks, linked to the installed library (not the build tree's);
#   3. the same program compiled against a header one minor version newer than the library
#      refuses to run (WEFT_CHECK_VERSION);
#   4. the installed weft-bench runs a tiny sweep.
# The *DIR arguments are meson's options as given (relative to PREFIX or absolute).
# Exit 77 (skip) only when cmake is missing, after every other check passed.
# Pipes never end in `grep -q`: under pipefail its early exit makes the writer's SIGPIPE the
# pipeline's status. Output is captured first and searched as a here-string.
set -euo pipefail
meson=$1 build=$(cd "$2" && pwd) version=$3 prefix=$4
here=$(cd "$(dirname "$0")" && pwd)
under_prefix() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
work=$build/tests/install/consumer
destdir=$work/destdir
bindir=$destdir$(under_prefix "$5") libdir=$destdir$(under_prefix "$6")
includedir=$destdir$(under_prefix "$7") mandir=$destdir$(under_prefix "$8")
major=${version%%.*}
CC=${CC:-cc}
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

rm -rf "$work"
mkdir -p "$work"
step "meson install --destdir $destdir"
"$meson" install -C "$build" --destdir "$destdir" --no-rebuild --quiet

step "installed files"
for f in "$bindir"/{weftrun,weft-coordinator,weft-bench}; do [ -x "$f" ] || fail "not installed: $f"; done
for f in "$libdir/libweft.so" "$libdir/libweft.so.$major" "$libdir/libweft.so.$version" "$libdir/libweft.a" \
         "$includedir/weft.h" "$libdir/pkgconfig/weft.pc" \
         "$libdir/cmake/weft/weftConfig.cmake" "$libdir/cmake/weft/weftConfigVersion.cmake" \
         "$mandir"/man1/{weftrun,weft-coordinator,weft-bench}.1; do
  [ -e "$f" ] || fail "not installed: $f"
done
[ "$(readlink "$libdir/libweft.so.$major")" = "libweft.so.$version" ] || fail "libweft.so.$major does not point at libweft.so.$version"
grep -q '^lib_core_api.c.o$' <<< "$(ar t "$libdir/libweft.a")" || fail "libweft.a lacks the API objects"
grep -q "^\.TH WEFTRUN 1 .*\"weft $version\"" "$mandir/man1/weftrun.1" || fail "weftrun.1 does not carry version $version"
for t in weftrun weft-coordinator; do
  [ "$("$bindir/$t" --version)" = "$t (weft) $version" ] || fail "installed $t --version"
done

# Everything below runs the installed programs only: no coordinator from the build tree, the
# installed library first on the search path.
unset WEFT_COORDINATOR_BIN
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# The .pc file names the final prefix; the sysroot prefixes its paths with the DESTDIR (the
# staging case pkg-config documents; --define-prefix cannot handle a multiarch libdir).
export PKG_CONFIG_SYSROOT_DIR=$destdir

# run_job NAME EXE: 2 ranks under the installed weftrun; both must report a right result.
run_job() {
  local name=$1 exe=$2 out
  if ! out=$(timeout 90 "$bindir/weftrun" -n 2 --timeout 60 "$exe" 2>&1); then
    echo "$out" >&2
    fail "$name: weftrun -n 2 failed"
  fi
  for r in 0 1; do
    grep -q "^\[$r\] consumer ok rank $r of 2: sum 3, 0 wrong (weft $version)$" <<< "$out" ||
      { echo "$out" >&2; fail "$name: rank $r did not report a right result"; }
  done
  echo "ok: $name ran on 2 ranks"
}
# needs_installed_lib EXE: the dynamic linker resolves libweft.so.MAJOR into the DESTDIR.
needs_installed_lib() {
  grep -q "libweft.so.$major => $libdir/libweft.so.$major" <<< "$(ldd "$1")" ||
    { ldd "$1" >&2; fail "$(basename "$1") does not load $libdir/libweft.so.$major"; }
}
links_no_shared_lib() {
  if grep -q "NEEDED.*libweft" <<< "$(readelf -d "$1")"; then fail "$(basename "$1") needs libweft.so though linked statically"; fi
}

step "pkg-config"
[ "$(pkg-config --modversion weft)" = "$version" ] || fail "pkg-config --modversion weft: $(pkg-config --modversion weft)"
# shellcheck disable=SC2046 # word splitting of the flags is the point
$CC -o "$work/consumer_pc" "$here/consumer.c" $(pkg-config --cflags --libs weft)
needs_installed_lib "$work/consumer_pc"
run_job "pkg-config, shared" "$work/consumer_pc"
# Static: --static adds libweft.a's own needs (libsodium, threads, libm); -l:libweft.a picks the
# archive where -lweft would take the shared library.
# shellcheck disable=SC2046
$CC -o "$work/consumer_pc_static" "$here/consumer.c" $(pkg-config --cflags weft) \
    $(pkg-config --static --libs weft | sed 's/-lweft\b/-l:libweft.a/')
links_no_shared_lib "$work/consumer_pc_static"
run_job "pkg-config --static" "$work/consumer_pc_static"

step "version check: a header newer than the library"
mkdir -p "$work/newer"
minor=$(sed -n 's/^#define WEFT_VERSION_MINOR \([0-9]*\)$/\1/p' "$includedir/weft.h")
sed "s/^#define WEFT_VERSION_MINOR .*/#define WEFT_VERSION_MINOR $((minor + 1))/" "$includedir/weft.h" > "$work/newer/weft.h"
# shellcheck disable=SC2046
$CC -o "$work/consumer_newer" -I"$work/newer" "$here/consumer.c" $(pkg-config --libs weft)
rc=0
out=$("$work/consumer_newer" 2>&1) || rc=$?
[ "$rc" = 3 ] && grep -q "built with weft $major.$((minor + 1))" <<< "$out" ||
  fail "a program built with a newer header ran on the older library (exit $rc: $out)"
echo "ok: refused ($out)"

step "installed weft-bench"
timeout 90 "$bindir/weftrun" -n 2 --timeout 60 "$bindir/weft-bench" -b 8 -e 1K -f 8 -n 2 -w 1 -q > "$work/bench.out" 2>&1 ||
  { cat "$work/bench.out" >&2; fail "installed weft-bench"; }
grep -q "Wrong elements    : 0 OK" "$work/bench.out" || { cat "$work/bench.out" >&2; fail "installed weft-bench's check"; }
echo "ok: weft-bench"

step "CMake"
if ! command -v cmake >/dev/null; then
  echo "SKIP: cmake is not installed (tools/install-deps.sh installs it); everything else passed"
  exit 77
fi
cmake -S "$here/cmake" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$destdir$prefix" \
      -DCMAKE_C_COMPILER="$CC" -DWEFT_EXPECT_VERSION="$version" -DWEFT_EXPECT_MAJOR="$major" > "$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; fail "cmake configure (find_package(weft))"; }
grep -q "weft $version from $libdir/cmake/weft" "$work/cmake.log" || { cat "$work/cmake.log" >&2; fail "cmake found another weft"; }
cmake --build "$work/cmake-build" > "$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log" >&2; fail "cmake --build"; }
needs_installed_lib "$work/cmake-build/consumer_cmake"
run_job "CMake, weft::weft" "$work/cmake-build/consumer_cmake"
links_no_shared_lib "$work/cmake-build/consumer_cmake_static"
run_job "CMake, weft::weft_static" "$work/cmake-build/consumer_cmake_static"
echo "ok: every consumer"

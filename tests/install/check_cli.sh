#!/usr/bin/env bash
# check_cli.sh VERSION PROGRAM...
#
# Every program weft ships answers --help (a usage text on stdout, exit 0) and --version
# ("NAME (weft) VERSION" on stdout, exit 0; VERSION is meson.build's, so a program built from a
# stale header shows here). Bounded: a program that waits for a job instead of answering fails.
set -uo pipefail
version=$1
shift
fail=0
for prog in "$@"; do
  name=$(basename "$prog") before=$fail
  out=$(timeout 20 "$prog" --help </dev/null 2>/dev/null)
  rc=$?
  if [ "$rc" != 0 ] || [ "${out#usage: }" = "$out" ]; then
    echo "FAIL: $name --help: exit $rc, stdout does not start with 'usage: ': ${out:0:200}" >&2
    fail=1
  fi
  out=$(timeout 20 "$prog" --version </dev/null 2>/dev/null)
  rc=$?
  if [ "$rc" != 0 ] || [ "$out" != "$name (weft) $version" ]; then
    echo "FAIL: $name --version: exit $rc, printed '$out', expected '$name (weft) $version'" >&2
    fail=1
  fi
  [ "$fail" = "$before" ] && echo "ok: $name --help, --version"
done
exit "$fail"

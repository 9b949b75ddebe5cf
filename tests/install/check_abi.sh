#!/usr/bin/env bash
# check_abi.sh LIBWEFT_SO SYMBOLS_FILE WEFT_H SONAME
#
# The shared library's ABI is exactly the committed list (abi/libweft.symbols): every function it
# exports is listed, every listed function is exported, and the list is weft.h's WEFT_API
# declarations, no more, no less. A difference means either an internal function leaked (hidden
# visibility lost: tests and bindings must reach weft__ names through the internal static
# library, never through libweft.so) or the public API changed without its list. Also checks
# the soname, which programs record and the dynamic linker matches.
set -euo pipefail
lib=$1 list=$2 header=$3 soname=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/exported"
grep -v '^#' "$list" | grep -v '^[[:space:]]*$' | sort -u > "$tmp/listed"
# Declarations open a line with WEFT_API and name the function before its '('.
grep -E '^WEFT_API ' "$header" | sed -E 's/^[^(]*[ *](weft_[a-z0-9_]+)\(.*/\1/' | sort -u > "$tmp/declared"

fail=0
report() { # report TITLE FILE: prints the names in FILE, if any, under TITLE
  if [ -s "$2" ]; then
    echo "FAIL: $1:" >&2
    sed 's/^/    /' "$2" >&2
    fail=1
  fi
}
comm -23 "$tmp/exported" "$tmp/listed" > "$tmp/a"
report "exported by $(basename "$lib") but not in $list (an internal symbol leaked, or new API missing from the list)" "$tmp/a"
comm -13 "$tmp/exported" "$tmp/listed" > "$tmp/a"
report "in $list but not exported (removing a public function breaks the ABI)" "$tmp/a"
comm -23 "$tmp/declared" "$tmp/listed" > "$tmp/a"
report "declared WEFT_API in $(basename "$header") but not in $list" "$tmp/a"
comm -13 "$tmp/declared" "$tmp/listed" > "$tmp/a"
report "in $list but not declared WEFT_API in $(basename "$header")" "$tmp/a"

actual_soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$actual_soname" != "$soname" ]; then
  echo "FAIL: soname is '$actual_soname', expected '$soname'" >&2
  fail=1
fi

n=$(wc -l < "$tmp/listed")
[ "$n" -gt 0 ] || { echo "FAIL: empty symbol list" >&2; fail=1; }
if [ "$fail" = 0 ]; then echo "ok: $(basename "$lib") ($actual_soname) exports exactly the $n functions of $list"; fi
exit "$fail"

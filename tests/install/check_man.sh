#!/usr/bin/env bash
# check_man.sh PROGRAM PAGE [PROGRAM PAGE]...
#
# A manual page and its program's --help name the same long options: an option added to the
# program but not to its page, or one the page still describes after the program dropped it,
# fails here. Also renders each page with groff's warnings on (when groff is installed), so a
# roff mistake fails too.
set -uo pipefail
export LC_ALL=C
fail=0
while [ $# -ge 2 ]; do
  prog=$1 page=$2
  shift 2
  name=$(basename "$prog") before=$fail
  help_opts=$(timeout 20 "$prog" --help 2>/dev/null | grep -oE -- '--[a-z][a-z_-]*' | sort -u)
  # roff writes a dash as \- : "\-\-world\-size".
  page_opts=$(sed 's/\\-/-/g' "$page" | grep -oE -- '--[a-z][a-z_-]*' | sort -u)
  if [ -z "$help_opts" ]; then echo "FAIL: $name --help lists no long option" >&2; fail=1; continue; fi
  missing=$(comm -23 <(echo "$help_opts") <(echo "$page_opts"))
  stale=$(comm -13 <(echo "$help_opts") <(echo "$page_opts"))
  if [ -n "$missing" ]; then echo "FAIL: $name --help has options $(basename "$page") does not describe:" $missing >&2; fail=1; fi
  if [ -n "$stale" ]; then echo "FAIL: $(basename "$page") describes options $name --help does not have:" $stale >&2; fail=1; fi
  if command -v groff >/dev/null; then
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    if [ -n "$warnings" ]; then echo "FAIL: groff warns on $(basename "$page"): $warnings" >&2; fail=1; fi
  fi
  [ "$fail" = "$before" ] && echo "ok: $(basename "$page") and $name --help: $(echo $help_opts | wc -w) options"
done
exit "$fail"

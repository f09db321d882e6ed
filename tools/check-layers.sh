#!/bin/sh
# Check libcommon's layering: every '#include "DIR/..."' in libcommon/DIR0/
# must name DIR0 itself or a folder that DIR0's row of the table in
# libcommon/README.md lists under "may use"; and no library file outside
# cli/ may exit. Prints each violation and exits 1 if there is any.
#   sh tools/check-layers.sh [ROOT]
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
lib=$root/libcommon
table=$lib/README.md
[ -f "$table" ] || { echo "check-layers: $table not found" >&2; exit 1; }
# "| `core/` | ... | core io |" -> "core: core io"
rules=$(sed -n 's/^| `\([a-z]*\)\/` | [^|]* | *\([a-z ]*\) *|$/\1 \2/p' "$table")
[ -n "$rules" ] || { echo "check-layers: no layer table in $table" >&2; exit 1; }
bad=0
for dir in "$lib"/*/; do
  d=$(basename "$dir")
  allowed=$(printf '%s\n' "$rules" | awk -v d="$d" '$1 == d { $1 = ""; print }')
  if ! printf '%s\n' "$rules" | awk -v d="$d" '$1 == d { f = 1 } END { exit !f }'; then
    echo "check-layers: libcommon/$d/ has no row in libcommon/README.md" >&2
    bad=1
    continue
  fi
  for f in "$dir"*.c "$dir"*.cc "$dir"*.h; do
    [ -e "$f" ] || continue
    rel=libcommon/$d/$(basename "$f")
    # includes of other library folders
    for inc in $(sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$f"); do
      case $inc in
        */*) ;;
        *) echo "check-layers: $rel includes \"$inc\" without its folder" >&2; bad=1; continue ;;
      esac
      to=${inc%%/*}
      [ "$to" = "$d" ] && continue
      ok=0
      for a in $allowed; do [ "$a" = "$to" ] && ok=1; done
      if [ $ok = 0 ]; then
        echo "check-layers: $rel includes $inc: $d/ may use only: ${allowed:-nothing}" >&2
        bad=1
      fi
    done
    # only cli/ exits
    if [ "$d" != cli ] && grep -nE '(^|[^_a-z])(exit|_exit|die|die_err|die_errx)[ \t]*\(' "$f" |
         grep -v '^\([0-9]*\):[ \t]*\(/\*\|\*\)' >/dev/null; then
      echo "check-layers: $rel calls exit/die: only cli/ may exit (return an error)" >&2
      bad=1
    fi
  done
done
[ $bad = 0 ] && echo "check-layers: libcommon layering ok ($(printf '%s\n' "$rules" | wc -l) folders)" >&2
exit $bad

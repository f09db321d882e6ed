# Sourced by the pipeline scripts: put lrcpipe's filters on PATH (the repo's
# bin/ when run from a checkout, else whatever `make install` put on PATH)
# and define small helpers. POSIX sh.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ -n "${LRCPIPE_BIN:-}" ]; then
  PATH=$LRCPIPE_BIN:$PATH
elif [ -x "$root/bin/ct-resample" ]; then
  PATH=$root/bin:$PATH
fi
export PATH

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "$*"; exit 1; }
need() { for f in "$@"; do command -v "$f" >/dev/null || die "$f not found (run make, or make install)"; done; }

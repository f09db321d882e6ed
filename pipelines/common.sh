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
# --help: the script's header comment, from its second line to 'set -eu'
usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }
# "message (N s)": N seconds since the script started
t0=$(date +%s)
stamp() { say "$1 ($(( $(date +%s) - t0 )) s)"; }
die() { say "$*"; exit 1; }
need() { for f in "$@"; do command -v "$f" >/dev/null || die "$f not found (run make, or make install)"; done; }

# Pre-training's defaults, shared by prepare, pretrain and experiment (which
# records them in its settings): Felzenszwalb at scale 100, sigma 0.8 with
# regions down to 5 pixels (about 25 per slice at 3 mm); the paper's
# positive view, an elastic warp alone (alpha drawn per pair in [10, 20) px,
# sigma 4 px), regions under 5 pixels in either view dropped.
LRC_FZ_ARGS="--min-size 5 --min-pixels 5"
LRC_AUG_ARGS="--alpha 10:20 --sigma 4 --rotate 0 --scale 0 --brightness 0 --contrast 0 --gamma 0 --noise 0 --min-pixels 5"

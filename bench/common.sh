# Sourced by the benchmark scripts (. "$(dirname "$0")/common.sh"): where
# things are, PyTorch's best environment on this machine, the load line, and
# the machine's FMA peak.
#   root, build, bin, py  the repository, the build, the filters, the Python
#                         with Debian's python3-torch (LRCPIPE_ROOT,
#                         LRCPIPE_BUILD, LRCPIPE_BIN, PYTHON override them)
#   torch_run [NAME=VALUE...] CMD...
#                         runs CMD as PyTorch is at its best here: one
#                         OpenBLAS thread, jemalloc preloaded with its decay
#                         off (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1:
#                         in this VM a page fault is so dear that jemalloc's
#                         default decay alone made a step 3-6x slower)
#   say_load              prints the load average before the run
#   peak_gflops THREADS   prints GFLOP/s (0 when it cannot be measured):
#                         run.sh measures the peak once at the start and
#                         exports LRCPIPE_PEAK ("T:GFLOPS ..."); a script run
#                         alone measures it itself with bench/fma_peak
root=${LRCPIPE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
build=${LRCPIPE_BUILD:-$root/build/rel}
bin=${LRCPIPE_BIN:-$root/bin}
py=${PYTHON:-/usr/bin/python3}
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -f "$jemalloc" ] || { echo "jemalloc missing ($jemalloc): PyTorch would not be at its best"; jemalloc=; }

torch_run() {
  env OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$jemalloc" MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 "$@"
}

say_load() {
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (a loaded machine distorts both sides)"
}

peak_gflops() {
  _t=$1
  if [ -z "${LRCPIPE_PEAK:-}" ] || ! echo " $LRCPIPE_PEAK" | grep -q " $_t:"; then
    [ -x "$build/bench/fma_peak" ] || { echo 0; return; }
    LRCPIPE_PEAK="${LRCPIPE_PEAK:-} $("$build/bench/fma_peak" "$_t" | sed -n 's/^threads=\([0-9]*\) gflops=\([0-9.]*\).*/\1:\2/p')"
  fi
  echo " $LRCPIPE_PEAK" | tr ' ' '\n' | sed -n "s/^$_t://p" | head -1
}

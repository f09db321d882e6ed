# Sourced by the step benchmarks (engine.sh, lrc.sh, finetune.sh): the
# machine's FMA peak for a thread count, measured by bench/fma_peak in this
# run. run.sh measures it once at the start and exports LRCPIPE_PEAK
# ("T:GFLOPS ..."); a script run alone measures it itself.
#   peak_gflops THREADS      prints GFLOP/s (0 when it cannot be measured)
peak_gflops() {
  _t=$1
  if [ -z "${LRCPIPE_PEAK:-}" ] || ! echo " $LRCPIPE_PEAK" | grep -q " $_t:"; then
    _b=${LRCPIPE_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build/rel}/bench/fma_peak
    [ -x "$_b" ] || { echo 0; return; }
    LRCPIPE_PEAK="${LRCPIPE_PEAK:-} $("$_b" "$_t" | sed -n 's/^threads=\([0-9]*\) gflops=\([0-9.]*\).*/\1:\2/p')"
  fi
  echo " $LRCPIPE_PEAK" | tr ' ' '\n' | sed -n "s/^$_t://p" | head -1
}

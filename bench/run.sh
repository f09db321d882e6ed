#!/bin/sh
# Run every benchmark script in bench/ (bench/NAME.sh), or those named in
# BENCH="a b". Each prints lrcpipe against its reference, measured in the
# same run, as a ratio; the training steps also as a fraction of the FMA
# peak, which this script measures first (bench/fma_peak, 1 and 2 threads).
# Absolute times vary on a shared machine: the load average is printed at
# the start and the end, with a warning when the machine is not idle.
set -u
here=$(dirname "$0")
build=${LRCPIPE_BUILD:-$(cd "$here/.." && pwd)/build/rel}
fail=0
echo "lrcpipe benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at the start: $load"
# idle: under 10 % of the CPU busy over 3 seconds (/proc/stat; the load
# average lags, and right after make has built the benchmarks it is high on
# an idle machine)
cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
busy=$( (cpu; sleep 3; cpu) | tr '\n' ' ' | awk '{b = $3 - $1; i = $4 - $2; printf "%.0f", (b + i > 0 ? 100 * b / (b + i) : 0)}')
echo "CPU busy over the last 3 s: ${busy} %"
if [ "$busy" -gt 10 ]; then
  echo "WARNING: the machine is not idle: timings, ratios and fractions of peak below are distorted;"
  echo "WARNING: rerun on an idle machine"
fi
if [ -x "$build/bench/fma_peak" ]; then
  peak=$("$build/bench/fma_peak" 1 2)
  LRCPIPE_PEAK=$(echo "$peak" | sed -n 's/^threads=\([0-9]*\) gflops=\([0-9.]*\) .*/\1:\2/p' | tr '\n' ' ')
  export LRCPIPE_PEAK
  echo "FMA peak ($(echo "$peak" | sed -n '1s/.*isa=//p'), register-only loop), GFLOP/s by threads: $LRCPIPE_PEAK"
fi
for s in "$here"/*.sh; do
  name=$(basename "$s" .sh)
  case $name in run | common) continue ;; esac
  if [ -n "${BENCH:-}" ]; then
    case " $BENCH " in *" $name "*) ;; *) continue ;; esac
  fi
  echo
  echo "== $name"
  sh "$s" || { echo "bench $name failed"; fail=1; }
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail

#!/bin/sh
# LRC training step: lrcpipe (bench/lrc_step.c -> lrctrainer.h) against the
# same step in PyTorch (bench/lrc_ref.py), in one run, on the same pair frames
# (real CT slices of the bundled sample, 128 x 128, Felzenszwalb regions,
# elastic warps; tests/py/make_pairs.py), default U-Net (16-32-64-128-256,
# D = 64), N = 50 samples per region, Adam. Pairs per second, best of
# REPS runs of STEPS steps each, and their ratio.
#
# PyTorch is run at its best on this machine: OPENBLAS_NUM_THREADS=1, jemalloc
# preloaded AND told never to return memory to the OS
# (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1: in this VM a page fault is
# so dear that jemalloc's default decay alone made the step 3-6x slower),
# torch.set_num_threads(THREADS), the faster of NCHW and channels-last.
# lrcpipe uses THREADS threads. "peak": lrcpipe's GFLOP/s (the U-Net's
# convolutions, 3x forward, both views) as a fraction of the FMA peak on
# THREADS threads, measured in this run (bench/fma_peak, common.sh).
# Environment: BATCHES (default "8"), STEPS (default 5), REPS (default 3),
# THREADS (default 2; 1 is less sensitive to a loaded machine).
set -eu
. "$(dirname "$0")/common.sh"
steps=${STEPS:-5}
reps=${REPS:-3}
threads=${THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" "$root/tests/py/make_pairs.py" "$tmp/pairs.fr" 64 128 1 "$root"/data/sample/pre0*_ct.nii.gz
peak=$(peak_gflops "$threads")
echo "LRC step, 128x128, default U-Net, N=50, Adam; pairs/s (best of $reps x $steps steps); $threads thread(s) each; OPENBLAS_CORETYPE left as is"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (a loaded machine distorts both sides, threads most); FMA peak on $threads thread(s): $peak GFLOP/s"
printf '%-8s %12s %12s %8s %10s %6s\n' batch lrcpipe pytorch ratio "GFLOP/s" peak
for b in ${BATCHES:-8}; do
  ours=$("$build/bench/lrc_step" "$tmp/pairs.fr" "$b" "$steps" "$reps" "$threads")
  o=$(echo "$ours" | awk '/pairs_per_s/ {print $2}')
  g=$(echo "$ours" | awk '/gflops/ {print $2}')
  theirs=$(torch_run "$py" "$root/bench/lrc_ref.py" "$tmp/pairs.fr" "$b" "$steps" "$reps" "$threads")
  t=$(echo "$theirs" | awk '/pairs_per_s/ {print $2}')
  printf '%-8s %12s %12s %7.2fx %10s %5.0f%%   PyTorch %s\n' "$b" "$o" "$t" "$(echo "$o $t" | awk '{print $1 / $2}')" "$g" \
    "$(echo "$g $peak" | awk '{print ($2 > 0 ? 100 * $1 / $2 : 0)}')" \
    "$(echo "$theirs" | sed -n 's/^layout //p')"
done

#!/bin/sh
# The global pre-training methods' steps (libcommon/pretrain/egtrainer.h:
# rotation, relloc, byol, simsiam): lrcpipe (bench/global_step.c) against
# the same step in PyTorch (bench/global_ref.py, loading the same initial
# checkpoint), in one run, side by side, on random 96 x 96 pairs, batch 8,
# the default configuration (Eg ResNet-18 x 0.25, the methods' default
# heads). Pairs per second, best of REPS runs of STEPS steps, and the ratio.
#
# PyTorch is run at its best on this machine: OPENBLAS_NUM_THREADS=1,
# jemalloc preloaded with its decay off (as bench/lrc.sh), THREADS threads,
# the faster of NCHW and channels-last. lrcpipe uses THREADS threads.
# Environment: METHODS (default: all), SIZE (96), BATCH (8), STEPS (5),
# REPS (3), THREADS (2).
set -eu
. "$(dirname "$0")/common.sh"
size=${SIZE:-96}
batch=${BATCH:-8}
steps=${STEPS:-5}
reps=${REPS:-3}
threads=${THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "global methods' steps, ${size}x${size}, batch $batch, default Eg and heads, SGD; pairs/s (best of $reps x $steps steps); $threads thread(s) each"
say_load
printf '%-10s %10s %10s %8s\n' method lrcpipe pytorch ratio
for m in ${METHODS:-rotation relloc byol simsiam}; do
  "$bin/lrc-train" -q --method "$m" --init -c "$tmp/$m.st"
  o=$("$build/bench/global_step" "$m" "$batch" "$size" "$steps" "$reps" "$threads" | awk '/pairs_per_s/ {print $2}')
  theirs=$(torch_run "$py" "$root/bench/global_ref.py" "$m" "$tmp/$m.st" "$batch" "$size" "$steps" "$reps" "$threads")
  t=$(echo "$theirs" | awk '/pairs_per_s/ {print $2}')
  printf '%-10s %10s %10s %7.2fx   PyTorch %s\n' "$m" "$o" "$t" "$(echo "$o $t" | awk '{print $1 / $2}')" \
    "$(echo "$theirs" | sed -n 's/^layout //p')"
done

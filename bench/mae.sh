#!/bin/sh
# MAE's step (libcommon/pretrain/mae.h, lrc-train --method mae) on a
# ViT-tiny: lrcpipe (bench/global_step.c) against the same step in PyTorch
# (bench/mae_torch.py, loading the same initial checkpoint), on random
# 96 x 96 images, batch 8, patches of 8 (144, 36 kept), the decoder of
# pipelines/experiment's default (4 blocks of 128). Pairs per second, best
# of REPS runs of STEPS steps, and the ratio.
#
# PyTorch is run at its best on this machine: OPENBLAS_NUM_THREADS=1,
# jemalloc preloaded with its decay off (as bench/global.sh), THREADS
# threads, the better of OpenMP's two wait policies. lrcpipe uses THREADS
# threads.
# Environment: VIT (tiny), PATCH (8), DEC_DEPTH (4), DEC_WIDTH (128),
# SIZE (96), BATCH (8), STEPS (3), REPS (3), THREADS (2).
set -eu
. "$(dirname "$0")/common.sh"
vit=${VIT:-tiny} patch=${PATCH:-8} dd=${DEC_DEPTH:-4} dw=${DEC_WIDTH:-128}
size=${SIZE:-96} batch=${BATCH:-8} steps=${STEPS:-3} reps=${REPS:-3} threads=${THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "mae step, ViT $vit, patch $patch, decoder $dd x $dw, ${size}x${size}, batch $batch, AdamW; pairs/s (best of $reps x $steps steps); $threads thread(s) each"
say_load
"$bin/lrc-train" -q --method mae --vit "$vit" --patch "$patch" --mae-decoder-depth "$dd" --mae-decoder-width "$dw" \
  --init -c "$tmp/mae.st"
o=$("$build/bench/global_step" mae "$batch" "$size" "$steps" "$reps" "$threads" "$vit" "$patch" "$dd" "$dw" |
  awk '/pairs_per_s/ {print $2}')
# PyTorch's OpenMP threads spin while they wait (OMP_WAIT_POLICY=active):
# on a machine shared with other work that makes its small element-wise
# operations a hundred times slower; the better of both policies counts
t=0
for policy in active passive; do
  r=$(torch_run OMP_WAIT_POLICY=$policy "$py" "$root/bench/mae_torch.py" "$tmp/mae.st" "$batch" "$size" "$steps" "$reps" "$threads" | awk '/pairs_per_s/ {print $2}')
  echo "PyTorch with OMP_WAIT_POLICY=$policy: $r pairs/s"
  t=$(echo "$t $r" | awk '{print ($2 > $1 ? $2 : $1)}')
done
printf '%-10s %10s %10s %8s\n' method lrcpipe pytorch ratio
printf '%-10s %10s %10s %7.2fx\n' mae "$o" "$t" "$(echo "$o $t" | awk '{print $1 / $2}')"

#!/bin/sh
# Fine-tuning step: lrcpipe (bench/seg_step.c -> segtrain.h: forward of the
# two-branch network, soft Dice loss, backward, Adam) against the same step
# in PyTorch (bench/seg_ref.py), in one run, on random slices, default
# network (Eg ResNet-18 x 0.25 + Dg beside the U-Net 16..256, D = 64; 8
# classes). Steps per second, best of REPS runs of STEPS steps each, and
# their ratio; also lrcpipe's images/s, GFLOP/s, that as a fraction of the
# FMA peak on 2 threads measured in this run (bench/fma_peak, common.sh), and
# the loss's share.
#
# PyTorch is run at its best on this machine: OPENBLAS_NUM_THREADS=1, jemalloc
# preloaded with its decay off (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1, as
# bench/engine.sh and bench/lrc.sh: page faults are dear in this VM),
# torch.set_num_threads(2). lrcpipe uses 2 threads.
# Environment: SIZES (default "96 128"), BATCH (8), ARCH (global+local),
# STEPS (default 4), REPS (default 3).
set -eu
. "$(dirname "$0")/common.sh"
steps=${STEPS:-4}
reps=${REPS:-3}
batch=${BATCH:-8}
arch=${ARCH:-global+local}
peak=$(peak_gflops 2)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); FMA peak on 2 threads: $peak GFLOP/s (bench/fma_peak, this run)"
echo "fine-tuning step, $arch, batch $batch, 8 classes, Dice loss, Adam; steps/s (best of $reps x $steps); OPENBLAS_CORETYPE left as is"
printf '%-6s %10s %10s %8s %10s %9s %6s %9s\n' size lrcpipe pytorch ratio "img/s" "GFLOP/s" peak "loss ms"
for s in ${SIZES:-96 128}; do
  ours=$("$build/bench/seg_step" "$arch" "$batch" "$s" "$steps" "$reps" 2)
  o=$(echo "$ours" | tr ' ' '\n' | awk -F= '$1 == "steps_per_s" {print $2}')
  i=$(echo "$ours" | tr ' ' '\n' | awk -F= '$1 == "img_per_s" {print $2}')
  g=$(echo "$ours" | tr ' ' '\n' | awk -F= '$1 == "gflops" {print $2}')
  l=$(echo "$ours" | tr ' ' '\n' | awk -F= '$1 == "ms_loss" {print $2}')
  t=$(torch_run "$py" "$root/bench/seg_ref.py" "$arch" "$batch" "$s" "$steps" "$reps" | awk '/steps_per_s/ {print $2}')
  printf '%-6s %10s %10s %7.2fx %10s %9s %5.0f%% %9s\n' "$s" "$o" "$t" "$(echo "$o $t" | awk '{print $1 / $2}')" "$i" "$g" \
    "$(echo "$g $peak" | awk '{print ($2 > 0 ? 100 * $1 / $2 : 0)}')" "$l"
done

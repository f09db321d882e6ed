#!/bin/sh
# The training engine against PyTorch: full training steps (forward,
# backward, Adam) of the default U-Net (16-32-64-128-256, D = 64, batch
# norm) at batch 2 and 8, 128x128 and 256x256, 2 threads, in the same run.
#
# PyTorch runs at its best on this machine, as issue 6 asks: Debian's
# python3-torch with OPENBLAS_NUM_THREADS=1, jemalloc preloaded and
# torch.set_num_threads(2); jemalloc with its decay off
# (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1: page faults are so dear in
# this VM that returning memory to the kernel made PyTorch's step several
# times slower, as the lrc-train engineer found); and since its OpenMP threads
# spin-wait, each round also tries OMP_WAIT_POLICY=PASSIVE and keeps the
# better of the two.
# lrcpipe and PyTorch alternate, ROUNDS times (default 2); each reports the
# best of a few repetitions; the table shows the best of the rounds. GFLOP/s
# counts 3x the forward convolution FLOPs (1.54 GFLOP per 128x128 image,
# unet_flops()); "peak" is that as a fraction of the machine's FMA peak on the
# same threads, measured in this run (bench/fma_peak, common.sh). The FLOPs are
# those of direct convolution on both sides: where Winograd does fewer, the
# rate (and its fraction of the peak) is an effective one.
# RSS is each process's peak resident memory (getrusage). OPENBLAS_CORETYPE
# is left as the environment has it.
#
#   bench/engine.sh            (LRCPIPE_BUILD: the build directory, as make bench sets it)
#   SETTINGS="128:2 256:8" ROUNDS=3 bench/engine.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
step=$build/bench/engine_step
rounds=${ROUNDS:-2}
settings=${SETTINGS:-"128:2 128:8 256:2 256:8"}
threads=${THREADS:-2}

[ -x "$step" ] || { echo "engine.sh: $step missing (make bench builds it)"; exit 1; }
"$py" -c "import torch" 2>/dev/null || { echo "engine.sh: $py has no torch (Debian python3-torch)"; exit 1; }
[ -n "$jemalloc" ] || { echo "engine.sh: Debian libjemalloc2 missing"; exit 1; }
peak=$(peak_gflops "$threads")

field() { # field NAME LINE
  echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

probe=$("$step" 1 16 1 1 1)
echo "U-Net training step (forward, backward, Adam), $threads threads, engine $(field isa "$probe"), Winograd mode $(field winograd "$probe") (LRCPIPE_WINOGRAD: 0 off, 1 where faster)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg); FMA peak on $threads threads: $peak GFLOP/s (bench/fma_peak, this run)"
echo "PyTorch $("$py" -c 'import torch; print(torch.__version__)'): OPENBLAS_NUM_THREADS=1, jemalloc (decay off), set_num_threads($threads); best of default and OMP_WAIT_POLICY=PASSIVE"
printf '%-12s %10s %8s %6s %10s %8s %6s %7s %10s %10s\n' setting "lrcpipe" "GFLOP/s" "peak" "PyTorch" "GFLOP/s" "peak" ratio "RSS ours" "RSS torch"
printf '%-12s %10s %8s %6s %10s %8s %6s %7s %10s %10s\n' "" "img/s" "" "" "img/s" "" "" "" "MB" "MB"
for s in $settings; do
  size=${s%:*} batch=${s#*:}
  steps=$(( size == 256 ? 2 : 4 ))
  best_l=0 best_t=0 rss_l=0 rss_t=0 gf_l=0
  r=0
  while [ $r -lt "$rounds" ]; do
    r=$((r + 1))
    out=$("$step" "$batch" "$size" "$steps" 3 "$threads" adam 40)
    ips=$(field img_per_s "$out")
    if awk "BEGIN{exit !($ips > $best_l)}"; then best_l=$ips gf_l=$(field gflops "$out"); fi
    fwd=$(field fwd_gflop "$out")
    rss_l=$(field maxrss_kb "$out")
    for policy in "" PASSIVE; do
      out=$(torch_run ${policy:+OMP_WAIT_POLICY=$policy} "$py" "$here/engine_torch.py" "$batch" "$size" "$steps" 3 "$threads" 40)
      ips=$(field img_per_s "$out")
      [ -n "$ips" ] || { echo "engine.sh: PyTorch run failed: $out"; exit 1; }
      if awk "BEGIN{exit !($ips > $best_t)}"; then best_t=$ips; fi
      rss_t=$(field maxrss_kb "$out")
    done
  done
  awk -v s="${size}x${size} b$batch" -v l="$best_l" -v gl="$gf_l" -v t="$best_t" -v rl="$rss_l" -v rt="$rss_t" -v f="$fwd" -v pk="$peak" 'BEGIN{
    gt = t * 3 * f;
    printf "%-12s %10.2f %8.1f %5.0f%% %10.2f %8.1f %5.0f%% %6.2fx %10.0f %10.0f\n", s, l, gl, (pk > 0 ? 100 * gl / pk : 0), t, gt, (pk > 0 ? 100 * gt / pk : 0), l / t, rl / 1024, rt / 1024 }'
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare the ratios)"

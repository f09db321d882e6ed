#!/bin/sh
# fz-superpixel against skimage.segmentation.felzenszwalb on the same slices,
# in the same run. Prints ratios; absolute times vary on a shared machine.
#   compute: fz_segment in-process (bench/fz_time.c) against skimage's call
#            in-process, single-threaded, as the thread's CPU time (a shared
#            machine's waiting does not count), best of REPS per slice; on
#            5 slices 512x512 of ts02 (abdomen, window [-160, 240]) or,
#            without ../shared/data, 5 slices 128x128 of the bundled sample
#   whole process: wall time, best of REPS, of fz-superpixel -j 1 and -j 2
#            on 20 slices against a Python script doing the same (read
#            frames, felzenszwalb, write frames); and, to tell the threads
#            from the machine, two -j 1 processes on 10 slices each at once
#            against one on all 20
set -eu
root=${LRCPIPE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${LRCPIPE_BIN:-$root/bin}
build=${LRCPIPE_BUILD:-$root/build/rel}
py=${PYTHON:-/usr/bin/python3}
data=${LRCPIPE_DATA:-$root/../shared/data}
reps=${REPS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

specs=""
if [ -d "$data/ct_other" ]; then
  for z in 2 6 10 14 18; do specs="$specs $data/ct_other/ts02_ct.nii.gz:$z:-160:240"; done
  what="5 slices 512x512 of ts02 (../shared/data)"
else
  for z in 48 56 64 72 80; do specs="$specs $root/data/sample/subj03_ct.nii.gz:$z:-160:240"; done
  what="5 slices 128x128 of the bundled sample (../shared/data absent)"
fi
# shellcheck disable=SC2086
"$py" "$root/tests/py/fz_ref.py" slices "$tmp/s.fr" $specs
echo "fz-superpixel vs skimage 0.19.3 felzenszwalb: $what"

field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
ms() { awk -v t="$1" 'BEGIN { printf "%.1f", t * 200 }'; } # sum over 5 slices -> ms per slice

for set in "100 0.8 50" "1 0.8 20" "300 0.5 100" "10 0 10"; do
  # shellcheck disable=SC2086
  set -- $set
  sk=$("$py" "$root/bench/fz_skimage.py" time "$tmp/s.fr" "$1" "$2" "$3" "$reps" | field best_sum_s)
  out=$("$build/bench/fz_time" "$tmp/s.fr" "$1" "$2" "$3" "$reps")
  fz=$(echo "$out" | field best_sum_s)
  ex=$(echo "$out" | sed -n 's/.*exact_slices \([0-9]*\).*/\1/p')
  fx=$("$build/bench/fz_time" "$tmp/s.fr" "$1" "$2" "$3" "$reps" exact | field best_sum_s)
  echo "compute, 1 thread, scale=$1 sigma=$2 min_size=$3: $(ratio "$sk" "$fz")x faster than skimage" \
    "($(ms "$fz") vs $(ms "$sk") ms CPU per slice); numpy's order needed for some runs in $ex of 5 slices;" \
    "with --exact-sort (whole introsort) $(ratio "$sk" "$fx")x"
done

# Whole process, default parameters.
cat "$tmp/s.fr" "$tmp/s.fr" "$tmp/s.fr" "$tmp/s.fr" > "$tmp/s20.fr"
cat "$tmp/s.fr" "$tmp/s.fr" > "$tmp/s10.fr"
best() { # best wall time in seconds of $reps runs of sh -c "$1"
  b=""
  for _ in $(seq "$reps"); do
    t0=$(date +%s.%N); sh -c "$1" > "$tmp/out"; t1=$(date +%s.%N)
    b=$(awk -v a="$t0" -v c="$t1" -v b="$b" 'BEGIN { t = c - a; if (b == "" || t < b) b = t; print b }')
  done
  echo "$b"
}
fzs="$bin/fz-superpixel -q"
tpy=$(best "'$py' '$root/bench/fz_skimage.py' pipe 100 0.8 50 < '$tmp/s20.fr'")
t1=$(best "$fzs -j 1 < '$tmp/s20.fr'")
t2=$(best "$fzs -j 2 < '$tmp/s20.fr'")
tp=$(best "$fzs -j 1 < '$tmp/s10.fr' -o '$tmp/a.fr' & $fzs -j 1 < '$tmp/s10.fr' -o '$tmp/b.fr'; wait")
echo "whole process, 20 slices: -j 1 $(ratio "$tpy" "$t1")x, -j 2 $(ratio "$tpy" "$t2")x faster than the Python" \
  "pipe ($t1 s, $t2 s vs $tpy s wall)"
echo "two cores: -j 2 runs $(ratio "$t1" "$t2")x as fast as -j 1; two -j 1 processes on half the slices each" \
  "run $(ratio "$t1" "$tp")x as fast as one (what the machine gives two cores right now)"

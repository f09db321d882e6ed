#!/bin/sh
# fz-superpixel against skimage.segmentation.felzenszwalb on the same slices,
# in the same run. Prints ratios (skimage time / lrcpipe time); absolute times
# vary on a shared machine. Best of REPS per slice for compute time, best of
# REPS whole runs for throughput.
#   compute: fz_segment in-process (bench/fz_time.c) vs skimage's call
#            in-process, single-threaded, 512x512 slices of ts02 (abdomen,
#            window [-160, 240]) or, without ../shared/data, the bundled
#            128x128 sample
#   whole process: fz-superpixel -j 1 and -j 2 on the stream vs a Python
#            script doing the same (read frames, felzenszwalb, write frames)
set -eu
root=${LRCPIPE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${LRCPIPE_BIN:-$root/bin}
build=${LRCPIPE_BUILD:-$root/build/rel}
py=${PYTHON:-/usr/bin/python3}
data=${LRCPIPE_DATA:-$root/../shared/data}
reps=${REPS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -d "$data/ct_other" ]; then
  specs=""
  for z in 2 6 10 14 18; do specs="$specs $data/ct_other/ts02_ct.nii.gz:$z:-160:240"; done
  what="5 slices 512x512 of ts02 (../shared/data)"
else
  specs=""
  for z in 48 56 64 72 80; do specs="$specs $root/data/sample/subj03_ct.nii.gz:$z:-160:240"; done
  what="5 slices 128x128 of the bundled sample (../shared/data absent)"
fi
# shellcheck disable=SC2086
"$py" "$root/tests/py/fz_ref.py" slices "$tmp/s.fr" $specs
echo "fz-superpixel vs skimage 0.19.3 felzenszwalb: $what"

field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

for set in "100 0.8 50" "1 0.8 20" "300 0.5 100" "10 0 10"; do
  # shellcheck disable=SC2086
  set -- $set
  sk=$("$py" "$root/bench/fz_skimage.py" time "$tmp/s.fr" "$1" "$2" "$3" "$reps" | field best_sum_s)
  out=$("$build/bench/fz_time" "$tmp/s.fr" "$1" "$2" "$3" "$reps")
  fz=$(echo "$out" | field best_sum_s)
  ex=$(echo "$out" | sed -n 's/.*exact_slices \([0-9]*\).*/\1/p')
  fx=$("$build/bench/fz_time" "$tmp/s.fr" "$1" "$2" "$3" "$reps" exact | field best_sum_s)
  printf 'compute, 1 thread, scale=%s sigma=%s min_size=%s: %.1fx faster than skimage (%.1f ms vs %.1f ms per slice); numpy-order fallback on %s of 5 slices; --exact-sort alone %.1fx\n' \
    "$1" "$2" "$3" "$(ratio "$sk" "$fz")" "$(awk -v t="$fz" 'BEGIN{print t*200}')" \
    "$(awk -v t="$sk" 'BEGIN{print t*200}')" "$ex" "$(ratio "$sk" "$fx")"
done

# Whole process, default parameters, the stream 4 times over (20 slices).
cat "$tmp/s.fr" "$tmp/s.fr" "$tmp/s.fr" "$tmp/s.fr" > "$tmp/s4.fr"
best() { # best wall time of $reps runs of the command "$@"
  b=""
  for _ in $(seq "$reps"); do
    t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N)
    b=$(awk -v a="$t0" -v c="$t1" -v b="$b" 'BEGIN { t = c - a; if (b == "" || t < b) b = t; print b }')
  done
  echo "$b"
}
tpy=$(best sh -c "'$py' '$root/bench/fz_skimage.py' pipe 100 0.8 50 < '$tmp/s4.fr'")
t1=$(best sh -c "'$bin/fz-superpixel' -q -j 1 < '$tmp/s4.fr'")
t2=$(best sh -c "'$bin/fz-superpixel' -q -j 2 < '$tmp/s4.fr'")
printf 'whole process, 20 slices: -j 1 %.1fx, -j 2 %.1fx faster than the Python pipe (%.2f s, %.2f s vs %.2f s); -j 2 over -j 1: %.2fx\n' \
  "$(ratio "$tpy" "$t1")" "$(ratio "$tpy" "$t2")" "$t1" "$t2" "$tpy" "$(ratio "$t1" "$t2")"

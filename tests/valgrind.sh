#!/bin/sh
# Valgrind memcheck on a short end-to-end run: each filter in turn under
# valgrind on the real output of the stage before it (made without valgrind),
# once on a short stream and once on a stream twice as long, so that a leak
# that grows with the stream shows as a difference. Not part of make check
# (about 30 minutes on 2 busy cores).
#   sh tests/valgrind.sh [OUTDIR]      (default build/valgrind)
# Prints, per filter and stream length, valgrind's error count and its
# "definitely lost" / "indirectly lost" bytes; the full logs stay in OUTDIR.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
b=$root/bin
s=$root/data/sample
out=${1:-$root/build/valgrind}
mkdir -p "$out"
vg="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30"
export OMP_NUM_THREADS=1

summary() { # LOG: "errors N, definitely lost D, indirectly lost I"
  e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$1" | tail -1)
  d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$1" | tail -1)
  i=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$1" | tail -1)
  echo "errors ${e:-?}, definitely lost ${d:-0} B, indirectly lost ${i:-0} B"
}
run() { # NAME TAG IN OUT CMD...  (IN/OUT file names; '-' none)
  name=$1 tag=$2 in=$3 o=$4
  shift 4
  log=$out/$name.$tag.log
  set +e
  if [ "$in" = - ]; then $vg --log-file="$log" "$@" >"$out/$o"; else $vg --log-file="$log" "$@" <"$out/$in" >"$out/$o"; fi
  rc=$?
  set -e
  printf '%-14s %-6s exit %-3s %s\n' "$name" "$tag" "$rc" "$(summary "$log")"
}

for n in 1 2; do
  t=n$n
  every=$((3 - n))  # n1: every 2nd slice, n2: every slice
  "$b/ct-resample" -q "$s/pre012_ct.nii.gz" -s 2.5,4,4 >"$out/vol.$t"
  "$b/slice-extract" -q --size 64,64 --every $every <"$out/vol.$t" >"$out/sl.$t"
  "$b/fz-superpixel" -q <"$out/sl.$t" >"$out/sp.$t"
  "$b/elastic-aug" -q --seed 1 --threads 1 <"$out/sp.$t" >"$out/pairs.$t"
  "$b/ct-resample" -q "$s/subj03_ct.nii.gz" --label "$s/subj03_seg.nii.gz" --labels-json "$s/labels.json" \
    -s 5,4,4 | "$b/slice-extract" -q --size 64,64 --every $every >"$out/lab.$t"
  "$b/lrc-train" -q --method lrc --widths 8,16,32,64,64 --init -c "$out/init.st"

  vols="$s/pre012_ct.nii.gz"
  [ $n = 1 ] || vols="$vols $s/pre024_ct.nii.gz"
  run ct-resample $t - vol.vg.$t "$b/ct-resample" -q --threads 1 -s 2.5,4,4 $vols
  run slice-extract $t vol.$t sl.vg.$t "$b/slice-extract" -q --size 64,64 --every $every
  run fz-superpixel $t sl.$t sp.vg.$t "$b/fz-superpixel" -q
  run elastic-aug $t sp.$t pairs.vg.$t "$b/elastic-aug" -q --seed 1 --threads 1
  run lrc-train $t pairs.$t null "$b/lrc-train" -q --method lrc --widths 8,16,32,64,64 --steps $((2 * n)) \
    --batch 4 --threads 1 -c "$out/x.$t.st"
  run seg-finetune $t lab.$t null "$b/seg-finetune" -q --arch local --local "$out/init.st" --steps $((2 * n)) \
    --batch 2 --val-every 0 --threads 1 -c "$out/seg.$t.st"
  run seg-predict $t lab.$t pred.$t "$b/seg-finetune" -q --predict "$out/seg.$t.st" --threads 1
  run dice-eval $t pred.$t dice.$t "$b/dice-eval" -q
done

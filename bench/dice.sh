#!/bin/sh
# dice-eval against the NumPy/SciPy reference (tests/py/dice_ref.py, MONAI's
# definitions, cropping to the organ's box as MONAI does), on the same
# perturbed label maps in the same run: Dice only, and Dice + HD95 + ASSD.
# Both sides read the same NIfTI files (their load time is included). Best
# of 3 runs each; ratios only (the machine is shared).
set -eu
root=${LRCPIPE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${LRCPIPE_BIN:-$root/bin}
py=${PYTHON:-/usr/bin/python3}
data=${LRCPIPE_DATA:-$root/../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -d "$data/ct" ]; then
  segs="$data/ct/subj01_seg.nii.gz $data/ct/subj02_seg.nii.gz $data/ct/subj03_seg.nii.gz $data/ct/subj04_seg.nii.gz $data/ct/subj05_seg.nii.gz $data/ct/subj06_seg.nii.gz $data/ct_other/ts01_seg.nii.gz"
  what="ct/subj01..06 + ct_other/ts01"
else
  segs=$(ls "$root"/data/sample/*_seg.nii.gz)
  what="data/sample"
fi
"$py" "$root/tests/py/dice_ref.py" perturb "$tmp" 1 $segs
eargs=""
rargs=""
n=0
for v in shift erode dilate flip; do
  for s in $segs; do
    b=$(basename "$s")
    # dice-eval takes the id from the --ref name; make it unique per variant
    mkdir -p "$tmp/r-$v"
    ln -s "$tmp/ref/$b" "$tmp/r-$v/${v}_$b"
    eargs="$eargs --ref $tmp/r-$v/${v}_$b --pred $tmp/$v/$b"
    rargs="$rargs $tmp/r-$v/${v}_$b $tmp/$v/$b"
    n=$((n + 1))
  done
done

best() { # best wall time in seconds of 3 runs of "$@"
  b=""
  for i in 1 2 3; do
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{d = $2 - $1; print (d < $3 ? d : $3)}')
  done
  echo "$b"
}

echo "$n label-map pairs ($what; shifted, eroded, dilated, 1% flipped)"
for mode in dice surface; do
  flag=""
  [ $mode = surface ] && flag=--surface
  tr=$(best "$py" "$root/tests/py/dice_ref.py" score $flag $rargs)
  tc=$(best "$bin/dice-eval" $flag $eargs)
  t1=$(OMP_NUM_THREADS=1 best "$bin/dice-eval" $flag $eargs)
  echo "$mode $tr $tc $t1" | awk '{printf "%-8s reference %.2f s  dice-eval %.3f s (%.1fx faster), 1 thread %.3f s (%.1fx)\n", $1, $2, $3, $2 / $3, $4, $2 / $4}'
done

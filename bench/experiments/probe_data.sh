# Sourced by the probe experiments (global_probe.sh, selfterm.sh) after
# they set steps, size and npre: the same frames for both, in $out (OUT, or
# a new temporary directory; frames already there are reused):
#   pairs.fr    pre-training pairs from the first $npre volumes of the pool
#               (../shared/data/ct_pretrain), warp ALPHA px (default size/16)
#   ptrain.fr   labelled slices with organs of subj01-10 (the probe's fit)
#   ptest.fr    those of subj25-34 (the probe's score)
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LRCPIPE_BIN:-$root/bin}
py=${PYTHON:-/usr/bin/python3}
data=${LRCPIPE_DATA:-$root/../shared/data}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
pre=$(ls "$data"/ct_pretrain/pre*_ct.nii.gz | head -n "$npre")
train=$(ls "$data"/ct/subj0[1-9]_ct.nii.gz "$data"/ct/subj10_ct.nii.gz)
test=$(ls "$data"/ct/subj2[5-9]_ct.nii.gz "$data"/ct/subj3[0-4]_ct.nii.gz)
[ -f "$out/pairs.fr" ] || ALPHA=${ALPHA:-$((size / 16))} "$py" "$root/tests/py/make_pairs.py" "$out/pairs.fr" 4000 "$size" 1 $pre
[ -f "$out/ptrain.fr" ] || SLICES_ONLY=1 LABELS=1 LABELLED=1 ALL=1 "$py" "$root/tests/py/make_pairs.py" "$out/ptrain.fr" 0 "$size" 1 $train
[ -f "$out/ptest.fr" ] || SLICES_ONLY=1 LABELS=1 LABELLED=1 ALL=1 "$py" "$root/tests/py/make_pairs.py" "$out/ptest.fr" 0 "$size" 1 $test

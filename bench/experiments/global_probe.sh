#!/bin/sh
# Did a global method learn anything? Each method of lrc-train's global
# branch pre-trains Eg (ResNet-18 x 0.25) on the same pair frames from the
# unlabeled pool; then a linear probe on the frozen Eg's hypercolumn features
# (bench/experiments/probe_eg.py) predicts the 7 organs of held-out labelled
# subjects (train subj01-10, test subj25-34; slices with organs). The
# untrained encoder (lrc-train --init) is the baseline. Not part of
# `make check` or `make bench`.
#
# Environment: METHODS (default "moco rotation"), STEPS (1500), SIZE (64),
# NPRE (pre-training volumes from ../shared/data/ct_pretrain, 40), THREADS
# (2), SEED (1), OUT (a directory to keep; default a new temporary one; its
# frames and checkpoints are reused when present).
set -eu
steps=${STEPS:-1500}; size=${SIZE:-64}; npre=${NPRE:-40}
echo "pre-training on $npre volumes, $steps steps of 8 pairs, ${size}x${size}, Eg ResNet-18 x 0.25; probe: slices with organs, train subj01-10, test subj25-34"
. "$(dirname "$0")/probe_data.sh"
probe() { # CKPT NAME
  printf '%-10s %s\n' "$2" "$("$py" "$root/bench/experiments/probe_eg.py" "$1" "$out/ptrain.fr" "$out/ptest.fr")"
}
"$bin/lrc-train" -q --method moco --init -c "$out/untrained.st"
probe "$out/untrained.st" untrained
for m in ${METHODS:-moco rotation}; do
  [ -f "$out/$m.st" ] || "$bin/lrc-train" -q --method "$m" --batch 8 --epochs 20 --steps "$steps" \
    --seed "${SEED:-1}" --threads "${THREADS:-2}" --log "$out/$m.jsonl" -c "$out/$m.st" -i "$out/pairs.fr"
  last=$(tail -n 50 "$out/$m.jsonl" | "$py" -c "import sys, json; l = [json.loads(x) for x in sys.stdin]; k = [n for n in ('acc', 'std') if n in l[0]][0]; print('loss %.4f %s %.4f' % (sum(x['loss'] for x in l) / len(l), k, sum(x[k] for x in l) / len(l)))")
  printf '%-10s final (last 50 steps) %s; ' "$m" "$last"
  probe "$out/$m.st" "$m"
done
echo "outputs in $out"

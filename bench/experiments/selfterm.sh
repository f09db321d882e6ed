#!/bin/sh
# Which local loss pre-trains better: the paper's printed form (self term in
# the denominator, floor log 2) or --exclude-self (SimCLR's convention)?
# Both pre-train the same U-Net on the same pair frames (same seed, steps,
# warps) from the unlabeled pool; then a linear probe on the frozen features
# (bench/experiments/probe.py) predicts the 7 organs of held-out labelled
# subjects; higher Dice = more organ information in the features. The
# untrained U-Net is the baseline. Not part of `make check` or `make bench`.
#
# Environment: STEPS (default 1500), SIZE (64), NPRE (pre-training volumes
# from ../shared/data/ct_pretrain, default 40), WIDTHS (16,32,64,128,256),
# ALPHA (warp strength in px, default SIZE/16), VARIANTS ("printed exclude"),
# THREADS (2), SEED (1), OUT (a directory to keep; default a new temporary one;
# its pair frames and checkpoints are reused when present).
set -eu
steps=${STEPS:-1500}; size=${SIZE:-64}; npre=${NPRE:-40}; widths=${WIDTHS:-16,32,64,128,256}
echo "pre-training on $npre volumes, $steps steps of 8 pairs, ${size}x${size}, widths $widths; probe: slices with organs, train subj01-10, test subj25-34"
. "$(dirname "$0")/probe_data.sh"
probe() { # CKPT NAME
  "$bin/lrc-train" --embed -c "$1" -i "$out/ptrain.fr" -o "$out/etrain.fr"
  "$bin/lrc-train" --embed -c "$1" -i "$out/ptest.fr" -o "$out/etest.fr"
  printf '%-10s %s\n' "$2" "$("$py" "$root/bench/experiments/probe.py" "$out/etrain.fr" "$out/etest.fr")"
}
"$bin/lrc-train" -q --method lrc --init --widths "$widths" -c "$out/untrained.st"
probe "$out/untrained.st" untrained
for v in ${VARIANTS:-printed exclude}; do
  flag=; [ "$v" = exclude ] && flag=--exclude-self
  [ -f "$out/$v.st" ] || "$bin/lrc-train" -q --method lrc $flag --widths "$widths" --batch 8 --epochs 20 \
    --steps "$steps" --seed "${SEED:-1}" --threads "${THREADS:-2}" --log "$out/$v.jsonl" -c "$out/$v.st" -i "$out/pairs.fr"
  last=$(tail -n 50 "$out/$v.jsonl" | "$py" -c "import sys, json; l = [json.loads(x)['loss'] for x in sys.stdin]; print('%.4f' % (sum(l) / len(l)))")
  printf '%-10s final loss %s; ' "$v" "$last"
  probe "$out/$v.st" "$v"
done
echo "outputs in $out"

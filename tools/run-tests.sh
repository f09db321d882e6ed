#!/bin/sh
# Run the test programs, TEST_JOBS at a time (default: one per core), and
# print a line per program as it ends, then the failures' logs and a total.
# A line gives the program's wall time and the CPU time (user + system) of
# it and its children, so a test that waits (timeouts, process start-up)
# stands apart from one that computes. A test program exits non-zero when
# any of its cases fails. Most programs keep one core busy, so two at a time
# nearly halve the suite on two cores; the slowest start first.
#   sh tools/run-tests.sh build/rel/tests/test_a build/rel/tests/test_b ...
set -u
# CPU seconds of this shell's finished children, from `times` written to $1
# (times must run in this shell: a $(...) subshell has children of its own)
cpu_of() {
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
  rm -f "$1"
}
if [ "${1:-}" = --one ]; then
  # one program (xargs runs this): its line, and a .failed mark beside its log
  t=$2
  t0=$(date +%s)
  if "$t" >"$t.log" 2>&1; then status=PASS; else status=FAIL; : >"$t.failed"; fi
  times >"$t.times"
  echo "$status $(basename "$t") ($(( $(date +%s) - t0 )) s, cpu $(cpu_of "$t.times") s)"
  exit 0
fi
jobs=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
start=$(date +%s)
# the slowest first (measured 2026-12-04), so the last minutes are not one
# long program running alone; the rest in the order given
slow="test_mpi test_pipelines test_seg_finetune test_ct test_examples test_lrc_train test_dice_eval"
order=
for s in $slow; do
  for t in "$@"; do [ "$(basename "$t")" = "$s" ] && order="$order $t"; done
done
for t in "$@"; do
  case " $slow " in *" $(basename "$t") "*) ;; *) order="$order $t" ;; esac
done
for t in "$@"; do rm -f "$t.log" "$t.failed"; done
printf '%s\n' $order | xargs -P "$jobs" -n 1 sh "$0" --one
fail=0
for t in "$@"; do
  if [ -e "$t.failed" ]; then
    fail=$((fail + 1))
    echo "---- $(basename "$t") (FAIL): the end of its log"
    sed 's/^/    /' "$t.log" | tail -n 40
  elif [ ! -e "$t.log" ]; then
    fail=$((fail + 1))
    echo "---- $(basename "$t"): did not run"
  fi
done
times >"${TMPDIR:-/tmp}/run-tests.$$"
echo "$# test programs, $fail failed, $(( $(date +%s) - start )) s, cpu $(cpu_of "${TMPDIR:-/tmp}/run-tests.$$") s, $jobs at a time"
[ "$fail" = 0 ]

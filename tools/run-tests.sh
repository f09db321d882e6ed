#!/bin/sh
# Run each test program, print a one-line summary per program and a total:
# its wall time and the CPU time (user + system) of it and its children,
# so that a test waiting on processes stands apart from one that computes.
# A test program exits non-zero when any of its cases fails.
set -u
fail=0
start=$(date +%s)
tf=${TMPDIR:-/tmp}/run-tests.$$
trap 'rm -f "$tf"' EXIT
# The CPU seconds of this shell's finished children so far, in $cpu. `times`
# must run in this shell: a $(...) subshell would report its own children.
cpu_now() {
  times >"$tf"
  cpu=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$tf")
}
cpu_now
c_start=$cpu
for t in "$@"; do
  name=$(basename "$t")
  t0=$(date +%s)
  cpu_now
  c0=$cpu
  if "$t" >"$t.log" 2>&1; then
    status=PASS
  else
    status=FAIL
    fail=$((fail + 1))
  fi
  cpu_now
  echo "$status $name ($(( $(date +%s) - t0 )) s, cpu $((cpu - c0)) s)"
  [ $status = PASS ] || sed 's/^/    /' "$t.log" | tail -n 40
done
cpu_now
echo "$# test programs, $fail failed, $(( $(date +%s) - start )) s, cpu $((cpu - c_start)) s"
[ "$fail" = 0 ]

#!/bin/sh
# Run each test program, print a one-line summary per program and a total.
# A test program exits non-zero when any of its cases fails.
set -u
fail=0
start=$(date +%s)
for t in "$@"; do
  name=$(basename "$t")
  t0=$(date +%s)
  if "$t" >"$t.log" 2>&1; then
    echo "PASS $name ($(( $(date +%s) - t0 )) s)"
  else
    echo "FAIL $name ($(( $(date +%s) - t0 )) s)"
    sed 's/^/    /' "$t.log" | tail -n 40
    fail=$((fail + 1))
  fi
done
echo "$# test programs, $fail failed, $(( $(date +%s) - start )) s"
[ "$fail" = 0 ]

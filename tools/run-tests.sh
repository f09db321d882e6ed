#!/bin/sh
# Run the test programs given, TEST_JOBS at a time (default 1), the slowest
# first so that no long one starts last. Prints a line per program as it
# ends, then the log tail of each that failed, and a total. A test program
# exits non-zero when any of its cases fails; each writes its log beside
# itself (NAME.log).
set -u
# One at a time by default, and in CI: on a loaded two-core machine two at
# once pushed single commands past the tests' 300 s limit, in the release
# suite and under the sanitizers.
jobs=${TEST_JOBS:-1}
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
start=$(date +%s)
# the slowest programs go first
slow="test_seg_finetune test_pipelines test_examples test_mpi test_egmethods test_lrc_train test_mae"
order() {
  for s in $slow; do
    for t in "$@"; do [ "$(basename "$t")" = "$s" ] && echo "$t"; done
  done
  for t in "$@"; do
    case " $slow " in *" $(basename "$t") "*) ;; *) echo "$t" ;; esac
  done
}
order "$@" | xargs -P "$jobs" -I{} sh -c '
  t=$1 state=$2 name=$(basename "$1") t0=$(date +%s)
  if "$t" > "$t.log" 2>&1; then
    echo "PASS $name ($(( $(date +%s) - t0 )) s)"
  else
    echo "FAIL $name ($(( $(date +%s) - t0 )) s)"
    { echo "FAIL $name:"; tail -n 40 "$t.log" | sed "s/^/    /"; } > "$state/$name.fail"
  fi' sh {} "$state"
fail=$(ls "$state" | wc -l)
for f in "$state"/*.fail; do [ -f "$f" ] && cat "$f"; done
echo "$# test programs, $fail failed, $(( $(date +%s) - start )) s"
[ "$fail" = 0 ]

#!/bin/sh
# Run every benchmark script in bench/ (bench/NAME.sh), or those named in
# BENCH="a b". Each prints lrcpipe against its reference, measured in the
# same run, as a ratio; absolute times vary on a shared machine.
set -u
here=$(dirname "$0")
fail=0
echo "lrcpipe benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
for s in "$here"/*.sh; do
  name=$(basename "$s" .sh)
  [ "$name" = run ] && continue
  if [ -n "${BENCH:-}" ]; then
    case " $BENCH " in *" $name "*) ;; *) continue ;; esac
  fi
  echo
  echo "== $name"
  sh "$s" || { echo "bench $name failed"; fail=1; }
done
exit $fail

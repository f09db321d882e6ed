#!/bin/sh
# Frame encode+decode throughput, 4 MiB tensors: through a pipe between two
# processes and over ZeroMQ tcp on loopback, beside a plain `cat | cat` of the
# same bytes (the limit of the pipe). Best of 3 runs each.
set -eu
B=${LRCPIPE_BUILD:-build/rel}/bench/frame_bench
N=${FRAMES_N:-256}
MIB=4
dir=$(mktemp -d /dev/shm/lrcbench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
$B gen $N $MIB "$dir/s.frames" 2>/dev/null
bytes=$(stat -c %s "$dir/s.frames")
best() { # command... -> best wall seconds of 3
  b=""
  for i in 1 2 3; do
    t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
cat_pipe() { cat "$dir/s.frames" | cat > /dev/null; }
frame_pipe() { $B gen $N $MIB - 2>/dev/null | $B sink - 2>/dev/null; }
port=$((40000 + $$ % 20000))
frame_zmq() {
  $B sink tcp://127.0.0.1:$port 2>/dev/null & s=$!
  $B gen $N $MIB @tcp://127.0.0.1:$port 2>/dev/null
  wait $s
}
tc=$(best cat_pipe); tp=$(best frame_pipe); tz=$(best frame_zmq)
gbs() { echo "scale=2; $bytes / $1 / 1000000000" | bc -l; }
printf '%-40s %8s GB/s\n' "cat | cat (same bytes, the limit)" "$(gbs $tc)"
printf '%-40s %8s GB/s   %s x cat time\n' "encode | pipe | decode" "$(gbs $tp)" "$(echo "scale=2; $tp / $tc" | bc -l)"
printf '%-40s %8s GB/s   %s x cat time\n' "encode | zmq tcp loopback | decode" "$(gbs $tz)" "$(echo "scale=2; $tz / $tc" | bc -l)"
echo "($N records of one $MIB MiB float32 tensor; goal >= 1 GB/s and <= 2x cat)"

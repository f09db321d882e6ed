#!/bin/sh
# Install the Debian 12 packages lrcpipe needs, if any are missing.
#   deps.sh build   what `make` and `make demo` need
#   deps.sh test    + what `make check` needs (reference implementations)
#   deps.sh bench   + what `make bench` needs
#   deps.sh data    what tools/openkbp.py needs (Python 3, NumPy, nibabel)
# As root it runs apt-get; otherwise it lists the missing packages and fails.
set -eu
build="gcc g++ make pkg-config libdcmtk-dev libopenjp2-7-dev libnifti2-dev libmsgpack-dev libzmq3-dev libopenblas-dev libpng-dev zlib1g-dev libopenmpi-dev openmpi-bin gnuplot-nox"
test="$build libcmocka-dev mandoc python3-numpy python3-scipy python3-skimage python3-msgpack python3-torch python3-torchvision python3-nibabel python3-pydicom libopenjp2-tools plastimatch"
bench="$test libjemalloc2 hyperfine time bc"
data="python3-numpy python3-nibabel"
case "${1:-build}" in
  build) want=$build ;;
  test) want=$test ;;
  bench) want=$bench ;;
  data) want=$data ;;
  *) echo "deps.sh: unknown set '$1' (build, test, bench, data)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "lrcpipe: missing Debian packages:$missing" >&2
  echo "lrcpipe: run 'sudo apt-get install$missing' (or make as root)" >&2
  exit 1
fi
echo "lrcpipe: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends $missing >/dev/null || {
  apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing >/dev/null
}

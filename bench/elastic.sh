#!/bin/sh
# elastic-aug against the SciPy recipe (uniform noise, gaussian_filter,
# map_coordinates) on 512x512 real slices, measured in the same run; prints
# milliseconds per slice and the ratio. OPENBLAS_CORETYPE is left as it is.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${LRCPIPE_ROOT:-$here/..}
bin=${LRCPIPE_BIN:-$root/bin}
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
s=$root/data/sample
# 16 axial slices of two bundled volumes, zoomed to 512x512, with
# Felzenszwalb regions as fz-superpixel would add them.
"$py" "$root/tests/py/elastic_ref.py" slices "$tmp/slices.fr" --size 512 \
    --ct "$s/subj16_ct.nii.gz" --seg "$s/subj16_seg.nii.gz" --z 40,48,56,64,72,80,88,96 \
    --ct "$s/pre038_ct.nii.gz" --z 40,48,56,64,72,80,88,96 >/dev/null
"$py" "$here/elastic_bench.py" "$bin/elastic-aug" "$tmp/slices.fr" 4

#!/bin/sh
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for
# FUZZ_TIME seconds (default 60), or FUZZ_RUNS executions when that is set,
# on a seed corpus made from real files.
#   sh tests/fuzz/run.sh [target...]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/fuzz
time=${FUZZ_TIME:-60}
mkdir -p "$out"
cflags="-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I$root/libcommon -I/usr/include/nifti $(pkg-config --cflags libzmq msgpack ompi-c)"
libs="$(pkg-config --libs libzmq msgpack ompi-c) $(pkg-config --libs dcmtk 2>/dev/null) -lopenjp2 -lnifti2 -lznz -lz -lstdc++ -lm"
lib_src=$(ls "$root"/libcommon/*/*.c "$root"/libcommon/*/*.cc)
# libcommon built once for fuzzing (instrumented, without the fuzzer main)
if [ ! -f "$out/libcommon.a" ] || [ -n "$(find "$root/libcommon" -newer "$out/libcommon.a" \( -name '*.[ch]' -o -name '*.cc' \))" ]; then
  rm -f "$out"/*.o
  libflags="$(echo "$cflags" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/') -fopenmp \
    $(pkg-config --cflags openblas libpng)"
  for f in $lib_src; do
    # clang refuses some GCC vector code: outside an AVX target (elastic.c's
    # target_clones helpers) it is built for AVX2; GCC-only builtins
    # (__builtin_shuffle in elem.c) are built by gcc, uninstrumented (numeric
    # kernels, no parser): said on stderr
    o=$out/$(basename "$(dirname "$f")")_$(basename "${f%.cc}" .c).o
    case $f in
      *.cc) clang++ $(echo "$libflags" | sed 's/-std=gnu11/-std=gnu++17/; s/-fopenmp//') \
              $(pkg-config --cflags dcmtk libopenjp2 2>/dev/null || echo -I/usr/include/openjpeg-2.5) -c "$f" -o "$o"; continue ;;
    esac
    clang $libflags -c "$f" -o "$o" 2>/dev/null || clang $libflags -mavx2 -c "$f" -o "$o" 2>/dev/null || {
      echo "run.sh: $(basename "$f"): clang cannot build it; gcc, not instrumented" >&2
      gcc -O2 -g -std=gnu11 -D_GNU_SOURCE -fopenmp -I"$root/libcommon" -I/usr/include/nifti \
        $(pkg-config --cflags libzmq msgpack openblas libpng ompi-c) -c "$f" -o "$o"; }
  done
  ar rcs "$out/libcommon.a" "$out"/*.o
fi
targets=${*:-"frame nifti parse ckpt dicom dataset tfevents"}
for t in $targets; do
  # compiled as C, linked by clang++ (DCMTK and UBSan's C++ checks need its runtime)
  clang $cflags -c "$root/tests/fuzz/fuzz_$t.c" -o "$out/fuzz_$t.o"
  ahead=
  if [ "$t" = ckpt ]; then
    # A checkpoint is mostly its JSON header (tens of KB): with comparisons
    # traced in the JSON parser two thirds of fuzz_ckpt's time went to the
    # parser's per-character compares (~900 exec/s). The grammar is
    # fuzz_parse's job, traced there; here json.c and mval.c keep ASan,
    # UBSan and edge coverage but not compare tracing (~2,700 exec/s; with
    # the pooled header parse of ckpt.c, ~3,900 over a 10 M run).
    for f in json mval; do
      clang $(echo "$cflags" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/') \
        -fno-sanitize-coverage=trace-cmp -c "$root/libcommon/core/$f.c" -o "$out/ckpt_$f.o"
      ahead="$ahead $out/ckpt_$f.o"
    done
  fi
  clang++ -fsanitize=fuzzer,address,undefined "$out/fuzz_$t.o" $ahead "$out/libcommon.a" $libs \
    $(pkg-config --libs openblas libpng) -fopenmp -o "$out/fuzz_$t"
  corpus=$out/corpus_$t
  mkdir -p "$corpus"
  case $t in
    frame) [ -n "$(ls "$corpus")" ] || /usr/bin/python3 "$root/tests/py/badstreams.py" "$corpus" ;;
    nifti) [ -n "$(ls "$corpus")" ] || /usr/bin/python3 "$root/tests/fuzz/seed_nifti.py" "$root/data/sample" "$corpus" ;;
    parse) [ -n "$(ls "$corpus")" ] || { printf '2.5,1,1' > "$corpus/a"; printf '4G' > "$corpus/b";
             cp "$root/data/sample/labels.json" "$corpus/c"; printf '3:9' > "$corpus/d"; } ;;
    ckpt) [ -n "$(ls "$corpus")" ] || { [ -x "$root/bin/seg-finetune" ] || make -C "$root" -s -j2 all;
            /usr/bin/python3 "$root/tests/fuzz/seed_ckpt.py" "$root" "$corpus"; } ;;
    dicom) [ -n "$(ls "$corpus")" ] || { /usr/bin/python3 "$root/tests/py/dicom_series.py" "$root/data/sample" \
             "$out/dicom_seed" 2>/dev/null && for d in axial flipped rle j2k mixed; do
             cp "$out/dicom_seed/$d/$(ls "$out/dicom_seed/$d" | head -1)" "$corpus/$d.dcm"; done &&
             cp "$out/dicom_seed/multi/DICOMDIR" "$corpus/"; } ;;
    dataset) [ -n "$(ls "$corpus")" ] || { printf '%s' '{"name": "HaN", "labels": {"0": "background", "1": "Brainstem"}, "training": [{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}], "test": ["./imagesTs/b.nii.gz"]}' > "$corpus/msd";
             printf '%s' '{"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1}, "file_ending": ".nii.gz"}' > "$corpus/v2"; } ;;
    tfevents) [ -n "$(ls "$corpus")" ] || { printf 'stepstepwalltime\003\004lossabcd\002lr1234\010val/dicedcba' > "$corpus/a"; } ;;
  esac
  extra=
  case $t in
    ckpt) extra="-max_len=131072 -dict=$root/tests/fuzz/ckpt.dict" ;;
    dicom) extra="-max_len=65536" ;;
  esac
  limit="-max_total_time=$time"
  # long runs: no allocation stacks recorded (a quarter of fuzz_ckpt's time
  # went to them); run a crash file again without this to see them
  [ -n "${FUZZ_RUNS:-}" ] && limit="-runs=$FUZZ_RUNS" && export ASAN_OPTIONS="${ASAN_OPTIONS:-malloc_context_size=0}"
  echo "== fuzz_$t (${FUZZ_RUNS:-$time s}${FUZZ_RUNS:+ runs})"
  "$out/fuzz_$t" $limit -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$out/" $extra "$corpus" 2>&1 |
    grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|runtime error|SUMMARY|crash-|timeout-|slow-unit|oom-" || true
done

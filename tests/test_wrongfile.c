/* A file of another format given where frames are expected is named as
 * such, with the stage that reads it, in one line (not "record 0: record is
 * not a map"): NIfTI (plain and gzip), DICOM, .npy, safetensors (whose
 * first byte may or may not look like a msgpack map), PNG, JSON, CSV; on
 * -i, as an operand and on stdin, for several filters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/sniff.h"
#include "testutil.h"

static int setup(void **state)
{
    (void)state;
    /* safetensors: 8-byte header length then JSON; 0x88 = 136 makes the
     * first byte a msgpack fixmap marker, 0x16 = 22 does not */
    return tu_sh("cd %s && ct-resample -q %s/subj03_ct.nii.gz --spacing 5,8,8 -o vol.nii && "
                 "cp %s/subj03_seg.nii.gz seg.nii.gz && "
                 "head -c 128 /dev/zero > slice.dcm && printf 'DICM\\002\\000\\001\\000OB' >> slice.dcm && "
                 "printf '\\223NUMPY\\001\\000v\\000{\\047descr\\047: \\047<f4\\047, }' > a.npy && "
                 "printf '\\026\\000\\000\\000\\000\\000\\000\\000{\"__metadata__\": {}}  ' > small.safetensors && "
                 "{ printf '\\210\\000\\000\\000\\000\\000\\000\\000{\"__metadata__\": {\"step\": \"1\"}, \"w\": "
                 "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}'; "
                 "head -c 44 /dev/zero | tr '\\0' ' '; printf '\\000\\000\\000\\000'; } > map.safetensors && "
                 "printf '\\211PNG\\r\\n\\032\\n\\000\\000\\000\\rIHDR' > p.png && "
                 "printf '{\"step\": 1, \"loss\": 2}\\n' > log.jsonl && cp %s/manifest.csv m.csv",
                 tu_tmpdir(), tu_sample(), tu_sample(), tu_sample());
}

static void test_named(void **state)
{
    static const struct {
        const char *file, *what, *reader;
    } files[] = {
        {"vol.nii", "a NIfTI-1 image, not a frame stream", "ct-resample reads it"},
        {"seg.nii.gz", "a gzip-compressed NIfTI-1 image (.nii.gz), not a frame stream", "ct-resample reads it"},
        {"slice.dcm", "a DICOM file, not a frame stream", "ct-resample reads its series"},
        {"a.npy", "a NumPy .npy file, not a frame stream", "frame-cat --from-npy"},
        {"small.safetensors", "a safetensors checkpoint, not a frame stream", "seg-finetune"},
        {"map.safetensors", "a safetensors checkpoint, not a frame stream", "lrc-train"},
        {"p.png", "a PNG picture", "frame-view"},
        {"log.jsonl", "JSON text", "frame-view --curve"},
        {"m.csv", "text, not a frame stream", "ct-resample --manifest"},
    };
    static const char *forms[] = {"fz-superpixel -i %s -o /dev/null", "slice-extract < %s > /dev/null",
                                  "frame-cat --no-stats %s", "elastic-aug -i %s -o /dev/null",
                                  "slice-regroup -i %s -o /dev/null", "frame-view --show image -i %s --png x.png"};
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
            char cmd[512], want[300];
            snprintf(cmd, sizeof cmd, forms[k], files[i].file);
            snprintf(want, sizeof want, "%s: %s", strstr(forms[k], "<") ? "stdin" : files[i].file, files[i].what);
            tu_expect(cmd, 1, want, files[i].reader);
        }
}

static void test_sniff(void **state)
{
    char out[300];
    unsigned char frame[] = {0x84, 0xa1, 'v', 1};
    (void)state;
    assert_int_equal(sniff_is_frame_start(frame, sizeof frame), 1);
    assert_int_equal(sniff_describe(frame, sizeof frame, out, sizeof out), 0);
    assert_int_equal(sniff_describe((const unsigned char *)"", 0, out, sizeof out), 0);
    /* gzip that is not NIfTI */
    assert_int_equal(sniff_describe((const unsigned char *)"\x1f\x8b\x08\x00", 4, out, sizeof out), 1);
    assert_non_null(strstr(out, "gzip-compressed data"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_named),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/* Regression tests for what the fuzz targets (tests/fuzz/) found in the
 * readers: each case rebuilds the offending input and checks the fix.
 *  - ckpt: an int64 after an odd number of float32s, as ckpt_write lays
 *    out batch norm's num_batches_tracked, and an unpadded header: every
 *    tensor view is aligned for its dtype and holds the written values.
 *  - nii: a NIfTI-2 / NIfTI-1 header with dim[0] out of 0..7 (libnifti
 *    wrote past its stack): ct-resample exits 1 with one line naming dim[0];
 *    headers libnifti refuses with a message of its own: still one line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nifti1.h>
#include <nifti2.h>

#include "core/err.h"
#include "nn/ckpt.h"
#include "testutil.h"

static void check_views(const char *path)
{
    ckpt *c = ckpt_open(path);
    tensor v;
    if (!c)
        fail_msg("%s", err_get());
    assert_int_equal(ckpt_get_tensor(c, "w", &v), 0);
    assert_int_equal((uintptr_t)v.data % 4, 0);
    assert_true(((const float *)v.data)[2] == 2.5f);
    assert_int_equal(ckpt_get_tensor(c, "count", &v), 0);
    assert_int_equal((uintptr_t)v.data % 8, 0);
    assert_int_equal(*(const int64_t *)v.data, 1234567890123LL);
    ckpt_close(c);
}

static void test_ckpt_aligned_views(void **state)
{
    (void)state;
    char path[600];
    float w[3] = {0.5f, 1.5f, 2.5f};
    int64_t count = 1234567890123LL, shape[1] = {3};
    ckpt_writer *wr = ckpt_writer_new();
    /* 12 bytes of float32, then the int64 at data offset 12 */
    assert_int_equal(ckpt_put_tensor(wr, "w", DT_F32, 1, shape, w), 0);
    assert_int_equal(ckpt_put_tensor(wr, "count", DT_I64, 0, NULL, &count), 0);
    snprintf(path, sizeof path, "%s/odd.st", tu_tmpdir());
    assert_int_equal(ckpt_write(wr, path), 0);
    ckpt_writer_free(wr);
    check_views(path);

    /* the same tensors behind an unpadded header (data at an odd offset) */
    const char *h = "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}, "
                    "\"count\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [12, 20]}}";
    unsigned char buf[256];
    uint64_t L = strlen(h);
    memcpy(buf + 8, h, L);
    while ((8 + L) % 8 != 1) /* JSON whitespace, so that the data start at an odd address */
        buf[8 + L++] = ' ';
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(L >> (8 * i));
    memcpy(buf + 8 + L, w, 12);
    memcpy(buf + 8 + L + 12, &count, 8);
    snprintf(path, sizeof path, "%s/nopad.st", tu_tmpdir());
    assert_int_equal(tu_write(path, buf, 8 + L + 20), 0);
    check_views(path);
}

static void test_nifti_dim0(void **state)
{
    (void)state;
    char path[600];
    /* NIfTI-2, byte-swapped sizeof_hdr, dim[0] garbage (as the fuzzer's) */
    {
        unsigned char buf[sizeof(nifti_2_header) + 4 + 64] = {0};
        nifti_2_header h;
        memset(&h, 0, sizeof h);
        h.sizeof_hdr = (int32_t)__builtin_bswap32(540);
        memcpy(h.magic, "n+2\0\r\n\032\n", 8);
        h.dim[0] = 0x18c61faf12624a77LL;
        h.datatype = (int16_t)__builtin_bswap16(NIFTI_TYPE_UINT8);
        h.bitpix = (int16_t)__builtin_bswap16(8);
        h.dim[1] = h.dim[2] = h.dim[3] = (int64_t)__builtin_bswap64(2);
        for (int i = 1; i <= 3; i++) { /* 1 mm, byte-swapped as the header */
            double one = 1;
            uint64_t u;
            memcpy(&u, &one, 8);
            u = __builtin_bswap64(u);
            memcpy(&h.pixdim[i], &u, 8);
        }
        memcpy(buf, &h, sizeof h);
        snprintf(path, sizeof path, "%s/dim0_n2.nii", tu_tmpdir());
        assert_int_equal(tu_write(path, buf, sizeof buf), 0);
    }
    /* NIfTI-1, dim[0] out of range in either byte order */
    {
        unsigned char buf[352 + 64] = {0};
        nifti_1_header h;
        memset(&h, 0, sizeof h);
        h.sizeof_hdr = 348;
        memcpy(h.magic, "n+1", 4);
        h.dim[0] = 0x2345;
        h.dim[1] = h.dim[2] = h.dim[3] = 2;
        h.datatype = NIFTI_TYPE_UINT8;
        h.bitpix = 8;
        h.vox_offset = 352;
        h.pixdim[1] = h.pixdim[2] = h.pixdim[3] = 1;
        memcpy(buf, &h, sizeof h);
        snprintf(path, sizeof path, "%s/dim0_n1.nii", tu_tmpdir());
        assert_int_equal(tu_write(path, buf, sizeof buf), 0);
    }
    tu_expect("ct-resample dim0_n2.nii", 1, "dim0_n2.nii", "dim[0]");
    tu_expect("ct-resample dim0_n1.nii", 1, "dim0_n1.nii", "dim[0]");
}

/* Headers libnifti refuses with its own "** ERROR" line on stderr (bad
 * datatype, dim[1] <= 0): still exactly one line, ours. */
static void test_nifti_one_line(void **state)
{
    (void)state;
    char path[600];
    unsigned char buf[352 + 64] = {0};
    nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    memcpy(h.magic, "n+1", 4);
    h.dim[0] = 3;
    h.dim[1] = h.dim[2] = h.dim[3] = 2;
    h.datatype = 0;
    h.bitpix = 8;
    h.vox_offset = 352;
    h.pixdim[1] = h.pixdim[2] = h.pixdim[3] = 1;
    memcpy(buf, &h, sizeof h);
    snprintf(path, sizeof path, "%s/dt0.nii", tu_tmpdir());
    assert_int_equal(tu_write(path, buf, sizeof buf), 0);
    h.datatype = NIFTI_TYPE_UINT8;
    h.dim[1] = 0;
    memcpy(buf, &h, sizeof h);
    snprintf(path, sizeof path, "%s/dim1.nii", tu_tmpdir());
    assert_int_equal(tu_write(path, buf, sizeof buf), 0);
    tu_expect("ct-resample dt0.nii", 1, "dt0.nii", "datatype 0");
    tu_expect("ct-resample dim1.nii", 1, "dim1.nii", "dim[1]");
    /* dim[0] = 0: libnifti takes the byte order from sizeof_hdr (here big
     * endian), so dim[1] must be checked in that order (bytes 80 01: 384
     * little endian, negative big endian) */
    assert_int_equal(tu_sh("cd %s && %s -c \"import struct; h = bytearray(352); struct.pack_into('>i', h, 0, 348); "
                           "struct.pack_into('>8h', h, 40, 0, 0, 1, 1, 1, 1, 1, 1); h[42:44] = b'\\x80\\x01'; "
                           "struct.pack_into('>2h', h, 70, 4, 16); struct.pack_into('>8f', h, 76, *[1.0] * 8); "
                           "struct.pack_into('>f', h, 108, 352.0); h[344:348] = b'n+1\\0'; "
                           "open('swap0.nii', 'wb').write(bytes(h))\"",
                           tu_tmpdir(), tu_python()),
                     0);
    tu_expect("ct-resample swap0.nii", 1, "swap0.nii", "dim[1]");
}

/* A checkpoint whose configuration claims a far larger model than the data
 * it holds (widths of 4096 in a file of kilobytes): the loaders refuse it
 * in one line before allocating that model (found reading the loaders: it
 * would have allocated and initialised tens of GB first). */
static void test_ckpt_config_claims_too_much(void **state)
{
    (void)state;
    const char *fix =
        "import json, struct, sys; b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; "
        "h = json.loads(b[8:8 + n]); m = h['__metadata__']; k = sys.argv[3]; c = json.loads(m[k]); "
        "c[sys.argv[4]] = json.loads(sys.argv[5]); m[k] = json.dumps(c); "
        "j = json.dumps(h).encode(); j += b' ' * ((8 - len(j) % 8) % 8); "
        "open(sys.argv[2], 'wb').write(struct.pack('<Q', len(j)) + j + b[8 + n:])";
    char cmd[2048];
    assert_int_equal(tu_sh("cd %s && lrc-train -q --method lrc --init --widths 4,4,4,4,4 --dim 4 -c u.st && "
                           "lrc-train -q --method moco --init --width 0.0625 -c r.st && "
                           "ct-resample -q -s 2.5,8,8 --label %s/subj03_seg.nii.gz %s/subj03_ct.nii.gz | "
                           "slice-extract -q --size 32,32 --skip-empty --every 4 > lab.fr",
                           tu_tmpdir(), tu_sample(), tu_sample()),
                     0);
    snprintf(cmd, sizeof cmd, "cd %s && %s -c \"%s\" u.st ubig.st config widths '[4096, 4096, 4096, 4096, 4096]'",
             tu_tmpdir(), tu_python(), fix);
    assert_int_equal(tu_sh("%s", cmd), 0);
    snprintf(cmd, sizeof cmd, "cd %s && %s -c \"%s\" r.st rbig.st config width 4.0", tu_tmpdir(), tu_python(), fix);
    assert_int_equal(tu_sh("%s", cmd), 0);
    tu_expect("lrc-train --embed -c ubig.st < /dev/null", 1, "ubig.st", "enc1.conv2.weight");
    tu_expect("seg-finetune --classes 8 --local ubig.st --steps 1 -c x.st -i lab.fr", 1, "ubig.st", "enc1.conv2.weight");
    tu_expect("seg-finetune --classes 8 --global rbig.st --steps 1 -c x.st -i lab.fr", 1, "rbig.st", "conv1.weight");
    tu_expect("lrc-train --method moco --resume -c rbig.st < /dev/null", 1, "rbig.st", NULL);
    /* the untouched files still load */
    tu_expect("seg-finetune -q --classes 8 --local u.st --global r.st --steps 1 --batch 2 --threads 1 -c x.st -i lab.fr && "
           "seg-finetune --predict x.st -i lab.fr | frame-cat -t pred --no-stats | grep -q pred",
           0, NULL, NULL);
}

/* Voxel data at a vox_offset that is not a multiple of the voxel size
 * (legal: it is a byte offset): read whole and right, and without a
 * misaligned load (UBSan reported one under SANITIZE=1, found by fuzz_nifti). */
static void test_nifti_odd_offset(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(tu_sh("cd %s && %s -c \"import struct; h = bytearray(356); struct.pack_into('<i', h, 0, 348); "
                           "struct.pack_into('<8h', h, 40, 3, 2, 2, 2, 1, 1, 1, 1); "
                           "struct.pack_into('<2h', h, 70, 64, 64); struct.pack_into('<8f', h, 76, *[1.0] * 8); "
                           "struct.pack_into('<f', h, 108, 356.0); struct.pack_into('<f', h, 112, 1.0); "
                           "h[344:348] = b'n+1\\0'; "
                           "open('odd.nii', 'wb').write(bytes(h) + struct.pack('<8d', *range(-3, 5)))\"",
                           tu_tmpdir(), tu_python()),
                     0);
    int rc = tu_sh_err(&err, "cd %s && ct-resample -s 1,1,1 odd.nii | frame-cat > odd.txt", tu_tmpdir());
    if (rc != 0 || *err)
        fail_msg("ct-resample odd.nii: exit %d, stderr: %s", rc, err);
    free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/odd.txt", tu_tmpdir());
    char *txt = tu_read(path, NULL);
    assert_non_null(txt);
    if (!strstr(txt, "min=-3 max=4 mean=0.5"))
        fail_msg("odd.nii read as: %s", txt);
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_aligned_views),
        cmocka_unit_test(test_nifti_dim0),
        cmocka_unit_test(test_nifti_one_line),
        cmocka_unit_test(test_ckpt_config_claims_too_much),
        cmocka_unit_test(test_nifti_odd_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

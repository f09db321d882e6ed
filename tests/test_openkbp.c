/* tools/openkbp.py convert, offline, on OpenKBP-style CSV files this test
 * writes: CT values clipped and shifted to HU, unlisted voxels -1024, organ
 * masks with the higher label winning an overlap, the labelled layout in
 * RAS+ (checked here voxel by voxel from the CSV index, read back with
 * lrcpipe's NIfTI reader, and in world coordinates: anterior is +y), the
 * pre-training pool's layout (OpenKBP's array unchanged, origin 0), the
 * manifests and labels.json; and a bad CSV refused in one line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "io/nii.h"
#include "testutil.h"

#define N 128

static int64_t lin(int a, int b, int c) /* OpenKBP: (AP, RL, SI), C order */
{
    return ((int64_t)a * N + b) * N + c;
}

static int setup(void **state)
{
    (void)state;
    /* patient p1 (labelled) and p2 (pre-training): a few CT voxels, two
     * overlapping masks, anisotropic spacing */
    return tu_sh(
        "cd %s && mkdir -p src/provided-data/train-pats/p1 src/provided-data/train-pats/p2 && "
        "for p in p1 p2; do d=src/provided-data/train-pats/$p && "
        "printf '4.000000000000000000e+00\\n4.000000000000000000e+00\\n2.500000000000000000e+00\\n' > "
        "$d/voxel_dimensions.csv && "
        "printf ',data\\n%lld,1100.0\\n%lld,5000.0\\n%lld,0.0\\n%lld,2047.0\\n' > $d/ct.csv && "
        "printf ',data\\n%lld,\\n%lld,\\n' > $d/Brainstem.csv && printf ',data\\n%lld,\\n%lld,\\n' > "
        "$d/SpinalCord.csv && printf ',data\\n%lld,1.0\\n' > $d/PTV70.csv; done && "
        "printf 'set,folder,file,source_path\\nt,ct,subj01,provided-data/train-pats/p1\\n"
        "t,ct_pretrain,pre001,provided-data/train-pats/p2\\n' > cases.csv",
        tu_tmpdir(), (long long)lin(10, 20, 30), (long long)lin(0, 0, 0), (long long)lin(127, 127, 127),
        (long long)lin(64, 3, 100), (long long)lin(10, 20, 30), (long long)lin(50, 60, 70), (long long)lin(50, 60, 70),
        (long long)lin(51, 60, 70), (long long)lin(1, 1, 1));
}

static double at(const nii_image *im, int x, int y, int z)
{
    return tensor_get(&im->data, ((size_t)z * N + (size_t)y) * N + (size_t)x);
}

static void test_convert(void **state)
{
    char p[4096];
    nii_image ct, seg, pre;
    (void)state;
    if (tu_sh("cd %s && %s %s/tools/openkbp.py convert src out --set t --cases cases.csv 2>/dev/null", tu_tmpdir(),
              tu_python(), tu_root()))
        fail_msg("openkbp.py convert failed");
    snprintf(p, sizeof p, "%s/out/ct/subj01_ct.nii.gz", tu_tmpdir());
    assert_int_equal(nii_read(p, &ct, NII_NATIVE), 0);
    snprintf(p, sizeof p, "%s/out/ct/subj01_seg.nii.gz", tu_tmpdir());
    assert_int_equal(nii_read(p, &seg, NII_NATIVE), 0);
    snprintf(p, sizeof p, "%s/out/ct_pretrain/pre001_ct.nii.gz", tu_tmpdir());
    assert_int_equal(nii_read(p, &pre, NII_NATIVE), 0);
    assert_int_equal(ct.data.dtype, DT_I16);
    assert_int_equal(seg.data.dtype, DT_U8);
    assert_int_equal(ct.sform_code, 1);
    assert_int_equal(ct.qform_code, 1);

    /* RAS+: x = 127 - RL index, y = 127 - AP index, z = 127 - SI index */
    assert_true(at(&ct, 127 - 20, 127 - 10, 127 - 30) == 1100 - 1024);
    assert_true(at(&ct, 127, 127, 127) == 4095 - 1024); /* 5000 clipped */
    assert_true(at(&ct, 0, 0, 0) == -1024);
    assert_true(at(&ct, 127 - 3, 127 - 64, 127 - 100) == 2047 - 1024);
    assert_true(at(&ct, 5, 6, 7) == -1024); /* unlisted */
    assert_true(at(&seg, 127 - 20, 127 - 10, 127 - 30) == 1);
    assert_true(at(&seg, 127 - 60, 127 - 50, 127 - 70) == 2); /* overlap: SpinalCord (2) wins */
    assert_true(at(&seg, 127 - 60, 127 - 51, 127 - 70) == 2);
    assert_true(at(&seg, 127 - 1, 127 - 1, 127 - 1) == 0); /* PTV70 is not converted */
    {
        size_t n = 0;
        for (size_t i = 0; i < tensor_numel(&seg.data); i++)
            n += tensor_get(&seg.data, i) != 0;
        assert_int_equal(n, 3);
    }
    /* affine: diag(RL, AP, SI spacing), first voxel at -127 spacing: the
     * voxel at OpenKBP (a, b, c) is at world (-4b, -4a, -2.5c), so a more
     * anterior voxel (smaller a) has a larger y */
    {
        static const double want[16] = {4, 0, 0, -508, 0, 4, 0, -508, 0, 0, 2.5, -317.5, 0, 0, 0, 1};
        for (int i = 0; i < 16; i++)
            if (fabs(ct.affine[i] - want[i]) > 1e-9 || fabs(seg.affine[i] - want[i]) > 1e-9)
                fail_msg("affine[%d] = %g, want %g", i, ct.affine[i], want[i]);
    }
    /* the pre-training layout: OpenKBP's array as it is, origin 0 */
    assert_true(at(&pre, 10, 20, 30) == 1100 - 1024); /* x = AP, y = RL, z = SI */
    assert_true(at(&pre, 64, 3, 100) == 2047 - 1024);
    for (int i = 0; i < 16; i++) {
        double w = i == 0 || i == 5 ? 4 : i == 10 ? 2.5 : i == 15 ? 1 : 0;
        if (fabs(pre.affine[i] - w) > 1e-9)
            fail_msg("pretrain affine[%d] = %g, want %g", i, pre.affine[i], w);
    }
    nii_free(&ct);
    nii_free(&seg);
    nii_free(&pre);
    /* manifests and labels as the shared data has them */
    if (tu_sh("cd %s/out && grep -qx 'subj01,ababier/open-kbp,provided-data/train-pats/p1' ct/manifest.csv && "
              "grep -qx 'pre001,ababier/open-kbp,provided-data/train-pats/p2' ct_pretrain/manifest.csv && "
              "cmp ct/labels.json %s/labels.json",
              tu_tmpdir(), tu_sample()))
        fail_msg("manifests or labels.json differ");
}

static void test_bad_csv(void **state)
{
    (void)state;
    tu_expect("mkdir -p bad/provided-data/train-pats/p1 && cp src/provided-data/train-pats/p1/* "
              "bad/provided-data/train-pats/p1/ && printf ',data\\n2097152,1.0\\n' > "
              "bad/provided-data/train-pats/p1/ct.csv && "
              "$PYTHON $LRCPIPE_ROOT/tools/openkbp.py convert bad badout --set t --cases cases.csv",
              1, "ct.csv:2: index 2097152 outside the 128^3 grid", NULL);
    tu_expect("$PYTHON $LRCPIPE_ROOT/tools/openkbp.py convert nowhere o --set t --cases cases.csv", 1,
              "nowhere: no provided-data/train-pats", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_bad_csv),
    };
    err_init("test_openkbp");
    return cmocka_run_group_tests(tests, setup, NULL);
}

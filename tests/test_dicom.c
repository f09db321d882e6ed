/* DICOM series in: ct-resample and frame-cat on small series that
 * tests/py/dicom_series.py writes with pydicom from a crop of real CT, each
 * beside the NIfTI of the same volume (nibabel): voxel for voxel the same
 * after ct-resample, in three orientations (one flipped and written feet
 * first in shuffled file order) and in two compressed transfer syntaxes
 * (RLE through DCMTK, JPEG 2000 through OpenJPEG); the
 * one-line refusals (mixed series, gantry tilt, a missing and a duplicate
 * slice); several series under one folder; and the geometry module on
 * hand-made slice attributes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ct/dicomvol.h"
#include "io/dicom.h"
#include "testutil.h"

static int setup(void **state)
{
    (void)state;
    return tu_sh("cd %s && %s %s/tests/py/dicom_series.py %s . 2>/dev/null", tu_tmpdir(), tu_python(), tu_root(),
                 tu_sample());
}

static void sh_ok(const char *cmd)
{
    if (tu_sh("cd %s && %s", tu_tmpdir(), cmd))
        fail_msg("failed: %s", cmd);
}

/* The DICOM series and the NIfTI of the same volume give the same bytes
 * out of ct-resample, on the input grid and resampled. */
static void test_same_as_nifti(void **state)
{
    static const char *pairs[][2] = {
        {"axial", "axial.nii.gz"}, {"flipped", "flipped.nii.gz"},
        {"coronal", "coronal.nii.gz"}, {"rle", "axial.nii.gz"}, {"j2k", "axial.nii.gz"},
    };
    static const char *spacings[] = {"2.5,1,1", "1.7,0.9,1.3"};
    (void)state;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        for (size_t k = 0; k < 2; k++) {
            char cmd[2048];
            snprintf(cmd, sizeof cmd,
                     "ct-resample -q --spacing %s %s -o d_%s.nii && ct-resample -q --spacing %s %s -o n_%s.nii && "
                     "cmp d_%s.nii n_%s.nii",
                     spacings[k], pairs[i][0], pairs[i][0], spacings[k], pairs[i][1], pairs[i][0], pairs[i][0],
                     pairs[i][0]);
            sh_ok(cmd);
        }
    /* and the voxels themselves, before resampling, against nibabel */
    sh_ok("frame-cat --from-dicom flipped -o - | frame-cat --to-nifti 'fc_%i.nii' && "
          "$PYTHON -c \"import nibabel as nib, numpy as np, sys\n"
          "a = nib.load('fc_flipped.nii'); b = nib.load('flipped.nii.gz')\n"
          "sys.exit(not (np.array_equal(a.get_fdata(), b.get_fdata()) and np.allclose(a.affine, b.affine)))\"");
}

/* The spacing between slices comes from the positions (the files say
 * SliceThickness 9.9), and the frame names its series. */
static void test_meta(void **state)
{
    char *txt;
    (void)state;
    sh_ok("frame-cat --from-dicom axial/ -o - | frame-cat --json --no-stats > meta.json");
    txt = tu_read("meta.json", NULL);
    if (!txt) {
        char p[4096];
        snprintf(p, sizeof p, "%s/meta.json", tu_tmpdir());
        txt = tu_read(p, NULL);
    }
    assert_non_null(txt);
    assert_non_null(strstr(txt, "\"spacing\": [2.5, 1.25, 0.75]"));
    assert_non_null(strstr(txt, "\"id\": \"axial\""));
    assert_non_null(strstr(txt, "\"series_uid\""));
    free(txt);
}

static void test_refusals(void **state)
{
    (void)state;
    tu_expect("ct-resample mixed", 1, "mixed series in mixed", "IM0005.dcm has 30 x 24 pixels");
    tu_expect("ct-resample tilt", 1, "gantry tilt", "15.00 degrees");
    tu_expect("ct-resample missing", 1, "missing slice in missing: 1 between IM0004.dcm and IM0006.dcm", NULL);
    tu_expect("ct-resample duplicate", 1, "duplicate slice", "IM0099.dcm");
    tu_expect("frame-cat --from-dicom tilt -o /dev/null", 1, "gantry tilt", NULL);
    tu_expect("mkdir -p empty && ct-resample empty", 1, "empty: no DICOM image under it", NULL);
    tu_expect("head -c 700 axial/IM0002.dcm > cut.dcm && ct-resample cut.dcm", 1, "cut.dcm: unreadable DICOM file",
              NULL);
    tu_expect("ct-resample --label axial.nii.gz multi", 2, "multi holds 2 DICOM series", NULL);
}

/* Several series under one folder: one case each, ids by SeriesNumber,
 * files that are not images skipped; a DICOM file stands for its series. */
static void test_several_series(void **state)
{
    char *txt, p[4096];
    (void)state;
    sh_ok("ct-resample -q multi -o - | frame-cat --no-stats > multi.txt && "
          "ct-resample -q axial/IM0003.dcm -o - | frame-cat --no-stats > one.txt");
    snprintf(p, sizeof p, "%s/multi.txt", tu_tmpdir());
    txt = tu_read(p, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "id=multi_s3"));
    assert_non_null(strstr(txt, "id=multi_s7"));
    assert_true(strstr(txt, "id=multi_s3") < strstr(txt, "id=multi_s7"));
    assert_non_null(strstr(txt, "end count=2"));
    free(txt);
    snprintf(p, sizeof p, "%s/one.txt", tu_tmpdir());
    txt = tu_read(p, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "id=axial"));
    assert_non_null(strstr(txt, "end count=1"));
    free(txt);
    /* a manifest names one series per row */
    sh_ok("printf 'id,image,label\\nct1,multi/a,\\nct2,flipped,flipped_lab.nii.gz\\n' > dm.csv && "
          "$PYTHON -c \"import nibabel as nib, numpy as np\n"
          "a = nib.load('flipped.nii.gz'); nib.save(nib.Nifti1Image((np.asarray(a.dataobj) > 0).astype(np.uint8), "
          "a.affine), 'flipped_lab.nii.gz')\" && ct-resample -q -m dm.csv -o - | frame-cat --no-stats > dm.txt && "
          "grep -q 'id=ct1' dm.txt && grep -q 'id=ct2' dm.txt && grep -q 'label .*|u1' dm.txt");
    tu_expect("printf 'id,image\\nx,multi\\n' > dm2.csv && ct-resample -m dm2.csv", 1, "dm2.csv:2",
              "holds 2 DICOM series");
}

/* ---- the geometry module on hand-made attributes ---- */

static void mk(dicom_series *s, int n, const double *iop, double dz, const double *shift)
{
    s->n = n;
    s->paths = calloc((size_t)n, sizeof *s->paths);
    s->info = calloc((size_t)n, sizeof *s->info);
    snprintf(s->uid, sizeof s->uid, "1.2.3");
    for (int k = 0; k < n; k++) {
        dcm_info *a = &s->info[k];
        char name[64];
        double nrm[3] = {iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5],
                         iop[0] * iop[4] - iop[1] * iop[3]};
        /* slices stored in reverse order: the module sorts them */
        int z = n - 1 - k;
        snprintf(name, sizeof name, "d/s%d", k);
        s->paths[k] = strdup(name);
        a->rows = 4;
        a->cols = 5;
        a->frames = 1;
        a->samples = 1;
        a->bits_alloc = 16;
        a->has_ipp = a->has_iop = a->has_spacing = 1;
        memcpy(a->iop, iop, sizeof a->iop);
        a->spacing[0] = 0.8;
        a->spacing[1] = 0.6;
        a->instance_number = k;
        for (int i = 0; i < 3; i++)
            a->ipp[i] = 10.0 * (i + 1) + nrm[i] * dz * z + (shift ? shift[i] * z : 0);
    }
}

static void test_geometry(void **state)
{
    static const double axial[6] = {1, 0, 0, 0, 1, 0};
    static const double sag[6] = {0, 1, 0, 0, 0, -1};
    double A[16], sp[3], tilt[3] = {0, 0.3, 0};
    int64_t sh[3];
    dicom_series s;
    (void)state;
    mk(&s, 6, axial, 1.5, NULL);
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), 0);
    assert_int_equal(sh[0], 6);
    assert_int_equal(sh[1], 4);
    assert_int_equal(sh[2], 5);
    assert_true(fabs(sp[0] - 1.5) < 1e-12 && fabs(sp[1] - 0.8) < 1e-12 && fabs(sp[2] - 0.6) < 1e-12);
    /* LPS (1,0,0) columns, (0,1,0) rows -> RAS x and y negated */
    assert_true(A[0] == -0.6 && A[5] == -0.8 && A[10] == 1.5);
    assert_true(A[3] == -10 && A[7] == -20 && A[11] == 30);
    assert_string_equal(s.paths[0], "d/s5"); /* the lowest slice first */
    dicomvol_series_free(&s);

    mk(&s, 5, sag, 2.0, NULL); /* sagittal: normal = r x c = (-1, 0, 0) */
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), 0);
    assert_true(fabs(A[2] - 2.0) < 1e-12 && A[6] == 0 && A[10] == 0);
    dicomvol_series_free(&s);

    mk(&s, 5, axial, 2.0, tilt);
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), -1);
    assert_non_null(strstr(err_get(), "gantry tilt"));
    dicomvol_series_free(&s);

    mk(&s, 1, axial, 2.0, NULL);
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), -1);
    assert_non_null(strstr(err_get(), "one slice"));
    dicomvol_series_free(&s);

    mk(&s, 7, axial, 2.0, NULL); /* an irregular gap: 1.3 x spacing */
    s.info[0].ipp[2] += 0.6;
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), -1);
    assert_non_null(strstr(err_get(), "irregular slice spacing"));
    dicomvol_series_free(&s);

    mk(&s, 5, axial, 2.0, NULL);
    s.info[3].has_ipp = 0;
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), -1);
    assert_non_null(strstr(err_get(), "no ImagePositionPatient"));
    dicomvol_series_free(&s);

    mk(&s, 5, axial, 2.0, NULL);
    s.info[2].iop[0] = 0.9;
    s.info[2].iop[1] = 0.43589;
    assert_int_equal(dicomvol_geometry(&s, A, sh, sp), -1);
    assert_non_null(strstr(err_get(), "different orientations"));
    dicomvol_series_free(&s);
}

/* Bytes that are not DICOM are "not DICOM", a damaged Part 10 file an error. */
static void test_read_mem(void **state)
{
    unsigned char buf[300];
    dcm_info info;
    (void)state;
    memset(buf, 'x', sizeof buf);
    assert_int_equal(dcm_read_mem(buf, sizeof buf, &info, NULL, 0), 0);
    memset(buf, 0, 128);
    memcpy(buf + 128, "DICM", 4);
    buf[132] = 2; /* a group 2 element cut short */
    assert_int_equal(dcm_read_mem(buf, 140, &info, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_nifti),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_several_series),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_read_mem),
    };
    err_init("test_dicom");
    return cmocka_run_group_tests(tests, setup, NULL);
}

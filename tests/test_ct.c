/* ct-resample, slice-extract and slice-regroup on real CT, against
 * independent references (nibabel + scipy.ndimage + skimage in
 * tests/py/ct_ref.py), through real processes and pipes; and every kind of
 * bad input the issue lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#define PY "%s %s/tests/py/ct_ref.py"
#define PYARGS tu_python(), tu_root()

/* Run cmd in the scratch directory; expect status and, on failure, one
 * stderr line holding every needle. */
static void expect(const char *cmd, int status, const char *n1, const char *n2)
{
    char *err = NULL;
    int rc = tu_sh_err(&err, "cd %s && %s", tu_tmpdir(), cmd);
    if (rc != status)
        fail_msg("'%s': status %d, want %d; stderr: %s", cmd, rc, status, err);
    if (status != 0 && tu_count_lines(err) != 1)
        fail_msg("'%s': want one line on stderr, got: %s", cmd, err);
    if (n1 && !strstr(err, n1))
        fail_msg("'%s': stderr lacks '%s': %s", cmd, n1, err);
    if (n2 && !strstr(err, n2))
        fail_msg("'%s': stderr lacks '%s': %s", cmd, n2, err);
    free(err);
}

static void sh_ok(const char *fmt, const char *a, const char *b)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (tu_sh("cd %s && %s", tu_tmpdir(), cmd))
        fail_msg("failed: %s", cmd);
}

static int setup(void **state)
{
    (void)state;
    /* The sample at the default spacing, shared by several tests. */
    if (tu_sh("cd %s && ct-resample %s/subj03_ct.nii.gz --label %s/subj03_seg.nii.gz --id subj03 "
              "--labels-json %s/labels.json -o s03.frames",
              tu_tmpdir(), tu_sample(), tu_sample(), tu_sample()))
        return -1;
    /* and at 2.5 x 2 x 2 mm: still no axis downsampled (3.906 -> 2 in-plane,
     * 2.5 -> 2.5 in z), a quarter of the voxels, for the pipeline tests */
    if (tu_sh("cd %s && ct-resample %s/subj03_ct.nii.gz --label %s/subj03_seg.nii.gz --id subj03 "
              "--spacing 2.5,2,2 -o s03c.frames",
              tu_tmpdir(), tu_sample(), tu_sample()))
        return -1;
    /* One Python run (its imports cost seconds) writes every derived input:
     * the bad files, permuted/oblique copies, NIfTI-2 and scaled copies. */
    return tu_sh("mkdir -p %s/bad && cd %s && " PY " bad %s bad"
                 " + reorient %s/subj05_ct.nii.gz pil_ct.nii.gz PIL + reorient %s/subj05_seg.nii.gz pil_seg.nii.gz PIL"
                 " + reorient %s/subj05_ct.nii.gz obl_ct.nii.gz LSA 12"
                 " + reorient %s/subj05_seg.nii.gz obl_seg.nii.gz LSA 12"
                 " + formats %s/subj27_ct.nii.gz n2.nii.gz u16.nii.gz > /dev/null",
                 tu_tmpdir(), tu_tmpdir(), PYARGS, tu_sample(), tu_sample(), tu_sample(), tu_sample(), tu_sample(),
                 tu_sample());
}

/* ---- accuracy against scipy ---- */

static void test_sample_matches_scipy(void **state)
{
    (void)state;
    /* subj03: 3.906 x 3.906 x 2.5 mm -> 2.5 x 1 x 1 (the default, made in setup);
     * subj28: 5.117 mm in-plane, 3.0 mm slices, to another spacing. */
    sh_ok("ct-resample %s/subj28_ct.nii.gz --label %s/subj28_seg.nii.gz --spacing 3.5,2.2,1.9 -o s28.frames",
          tu_sample(), tu_sample());
    if (tu_sh("cd %s && " PY " resample %s/subj03_ct.nii.gz %s/subj03_seg.nii.gz s03.frames subj03 2.5,1,1 %s"
              " + resample %s/subj28_ct.nii.gz %s/subj28_seg.nii.gz s28.frames subj28_ct 3.5,2.2,1.9 1",
              tu_tmpdir(), PYARGS, tu_sample(), tu_sample(), getenv("LRCPIPE_LONG") ? "1" : "6", tu_sample(),
              tu_sample()))
        fail_msg("the sample differs from scipy");
}

static void test_data_matches_scipy(void **state)
{
    (void)state;
    static const struct {
        const char *image, *label, *id, *spacing;
    } cases[] = {
        /* 3 mm isotropic abdomen, 117-class labels */
        {"ct_other/ts01_ct.nii.gz", "ct_other/ts01_seg.nii.gz", "ts01_ct", "2.5,1.5,1.5"},
        /* 0.977 mm in-plane, 2 mm slices: downsampled in every axis */
        {"ct_other/ts02_ct.nii.gz", "ct_other/ts02_seg.nii.gz", "ts02_ct", "2.5,1,1"},
        /* coronal acquisition, 0.957 x 1.5 x 0.957 mm, no labels */
        {"ct_unlabeled/head01_ct.nii.gz", NULL, "head01_ct", "2.5,1,1"},
        /* 4.688 x 3.0 mm, non-integer ratios both ways */
        {"ct/subj04_ct.nii.gz", "ct/subj04_seg.nii.gz", "subj04_ct", "2.2,3.3,1.7"},
    };
    char py[8192];
    size_t used;
    TU_NEED_DATA();
    used = (size_t)snprintf(py, sizeof py, "cd %s && " PY, tu_tmpdir(), PYARGS);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char lab[1024] = "-", labopt[1100] = "";
        if (cases[i].label) {
            snprintf(lab, sizeof lab, "%s/%s", tu_data(), cases[i].label);
            snprintf(labopt, sizeof labopt, "--label %s", lab);
        }
        if (tu_sh("cd %s && ct-resample %s/%s %s --spacing %s -o d%zu.frames", tu_tmpdir(), tu_data(),
                  cases[i].image, labopt, cases[i].spacing, i))
            fail_msg("ct-resample failed on %s", cases[i].image);
        used += (size_t)snprintf(py + used, sizeof py - used, "%s resample %s/%s %s d%zu.frames %s %s %s",
                                 i ? " +" : "", tu_data(), cases[i].image, lab, i, cases[i].id, cases[i].spacing,
                                 getenv("LRCPIPE_LONG") ? "1" : "3");
        assert_true(used < sizeof py);
    }
    if (tu_sh("%s", py))
        fail_msg("the shared data differs from scipy");
}

/* ---- orientation ---- */

static void test_reorient(void **state)
{
    (void)state;
    const char *s = tu_sample();
    /* A permuted/flipped copy (PIL, made in setup) must give exactly the
     * RAS+ original's output; an oblique (12 degrees about z) LSA copy is
     * checked against nibabel's as_closest_canonical + scipy directly. */
    sh_ok("ct-resample %s/subj05_ct.nii.gz --label %s/subj05_seg.nii.gz --id v --spacing 3,2,2 -o ras.frames", s, s);
    sh_ok("ct-resample pil_ct.nii.gz --label pil_seg.nii.gz --id v --spacing 3,2,2 -o %s%s", "pil.frames", "");
    sh_ok("ct-resample obl_ct.nii.gz --label obl_seg.nii.gz --spacing 2.5,2.5,2.5 -o obl.frames%s%s", "", "");
    expect("frame-cat --no-stats pil.frames | grep -q '\"orig_orient\": \"PIL\"'", 0, NULL, NULL);
    expect("frame-cat --no-stats obl.frames | grep -q '\"orig_orient\": \"LSA\"'", 0, NULL, NULL);
    /* and the field-of-view grid on the oblique copy */
    sh_ok("ct-resample obl_ct.nii.gz --label obl_seg.nii.gz --fov --spacing 2,3.3,2.7 -o fov.frames%s%s", "", "");
    if (tu_sh("cd %s && " PY " same ras.frames pil.frames + resample obl_ct.nii.gz obl_seg.nii.gz obl.frames obl_ct "
              "2.5,2.5,2.5 2 + resample obl_ct.nii.gz obl_seg.nii.gz fov.frames obl_ct 2,3.3,2.7 3 fov",
              tu_tmpdir(), PYARGS))
        fail_msg("reoriented volumes resampled differently");
}

/* NIfTI-2, and an unsigned type with scaling (scl_inter), both made in
 * setup, give the same volume as the int16 NIfTI-1 original. */
static void test_formats(void **state)
{
    (void)state;
    const char *s = tu_sample();
    sh_ok("ct-resample %s/subj27_ct.nii.gz --id v --spacing 3,2.5,2.5 -o f1.frames%s", s, "");
    sh_ok("ct-resample n2.nii.gz --id v --spacing 3,2.5,2.5 -o f2.frames && "
          "ct-resample u16.nii.gz --id v --spacing 3,2.5,2.5 -o f3.frames%s%s", "", "");
    if (tu_sh("cd %s && " PY " same f1.frames f2.frames + same f1.frames f3.frames + "
              "resample u16.nii.gz - f3.frames v 3,2.5,2.5 2",
              tu_tmpdir(), PYARGS))
        fail_msg("NIfTI-2 or scaled copy read differently");
}

/* ---- the way back ---- */

static void test_roundtrip_sample(void **state)
{
    (void)state;
    const char *s = tu_sample();
    /* Every axis is upsampled or kept (r = s_out/s_in <= 1), so nearest there
     * and back returns each original voxel: the labels must come back
     * identical, through crop/pad, through resize, and for subj28 (3.0 mm
     * slices to 2.5) on the field-of-view grid with --skip-empty (no label
     * lies outside the body). */
    sh_ok("slice-extract --preset head < s03c.frames | slice-regroup | ct-resample --to-original -o back_%%n.nii.gz"
          "%s%s",
          "", "");
    sh_ok("slice-extract --resize --size 320,300 < s03c.frames | slice-regroup -t label | "
          "ct-resample --like %s/subj03_seg.nii.gz -o like%s.nii.gz",
          s, "");
    sh_ok("ct-resample %s/subj28_ct.nii.gz --label %s/subj28_seg.nii.gz --fov --spacing 2.5,2.5,2.5 | "
          "slice-extract --skip-empty | slice-regroup | ct-resample --to-original -t label -o s28back.nii.gz",
          s, s);
    if (tu_sh("cd %s && " PY " labels %s/subj03_seg.nii.gz back_label.nii.gz + labels %s/subj03_seg.nii.gz "
              "like.nii.gz + labels %s/subj28_seg.nii.gz s28back.nii.gz",
              tu_tmpdir(), PYARGS, s, s, s))
        fail_msg("a round trip changed the labels");
}

static void test_regroup_errors(void **state)
{
    (void)state;
    sh_ok("slice-extract --size 200,200 --every 4 < s03c.frames > sl.frames%s%s", "", "");
    expect("frame-cat --count sl.frames | grep -qx 32", 0, NULL, NULL);
    expect("frame-cat --z 0:59 -o part1.frames sl.frames && frame-cat --z 64: -o part2.frames sl.frames && "
           "cat part1.frames part2.frames | slice-regroup > /dev/null",
           1, "id subj03: 31 of 32 slices", NULL);
    expect("cat sl.frames sl.frames | slice-regroup > /dev/null", 1, "z=0 arrived after the volume was complete", NULL);
    expect("frame-cat --z 0:8 -o dup.frames sl.frames && cat dup.frames dup.frames | slice-regroup > /dev/null", 1,
           "slice z=0 arrived twice", NULL);
    expect("frame-cat --from-nifti bad/seg_small.nii.gz | slice-regroup > /dev/null",
           1, "not a slice from slice-extract", NULL);
    /* slices of two volumes interleaved (as fanned-out workers deliver
     * them): both come back, equal to the volumes regrouped alone */
    sh_ok("ct-resample --id other --spacing 2.5,4,4 %s/subj27_ct.nii.gz | slice-extract --size 128,128 > o.frames && "
          "frame-cat -o a1.frames --z 0:50 sl.frames && frame-cat -o a2.frames --z 51: sl.frames && "
          "frame-cat -o b1.frames --z 0:70 o.frames && frame-cat -o b2.frames --z 71: o.frames && "
          "cat a1.frames b1.frames a2.frames b2.frames | slice-regroup | frame-cat --to-npy 'mix_%%i_%%n.npy' && "
          "cat sl.frames o.frames | slice-regroup | frame-cat --to-npy 'seq_%%i_%%n.npy' && "
          "for f in mix_*.npy; do cmp $f seq_${f#mix_} || exit 1; done && ls mix_*.npy | wc -l | grep -qx 3%s",
          tu_sample(), "");
    /* the volume comes back whole with every 4th slice set */
    expect("slice-regroup sl.frames | frame-cat --no-stats | grep -q 'label      |u1  \\[128, 249, 249\\]'", 0, NULL,
           NULL);
}

/* ---- slice-extract against numpy/scipy/skimage ---- */

static void test_slices_match_numpy(void **state)
{
    (void)state;
    const char *s = tu_sample();
    sh_ok("ct-resample %s/subj05_ct.nii.gz --label %s/subj05_seg.nii.gz --spacing 2.5,3,3 -o v05.frames", s, s);
    /* crop smaller than the body (a warning says so), pad larger than the
     * slice, resize down and up */
    expect("slice-extract -q --window -200,300 --size 120,150 v05.frames > c1.frames", 0, NULL, NULL);
    expect("slice-extract --size 300,260 --body-threshold -300 --min-body 500 < v05.frames > c2.frames", 0, NULL,
           NULL);
    expect("slice-extract --preset head --resize --size 96,150 < v05.frames > r1.frames", 0, NULL, NULL);
    expect("slice-extract --resize --size 300,350 < v05.frames > r2.frames", 0, NULL, NULL);
    /* straight from NIfTI: int16 HU at 5.078 x 5.078 x 2.5 mm */
    sh_ok("frame-cat --from-nifti %s/subj05_ct.nii.gz --label %s/subj05_seg.nii.gz -o raw05.frames && "
          "slice-extract -q --size 100,120 raw05.frames > c3.frames",
          s, s);
    if (tu_sh("cd %s && " PY " slices v05.frames c1.frames -200,300 120,150 -500 100 crop"
              " + slices raw05.frames c3.frames -160,240 100,120 -500 100 crop"
              " + slices v05.frames c2.frames -160,240 300,260 -300 500 crop"
              " + slices v05.frames r1.frames -500,1000 96,150 -500 100 resize"
              " + slices v05.frames r2.frames -160,240 300,350 -500 100 resize",
              tu_tmpdir(), PYARGS))
        fail_msg("slices differ from numpy/scipy/skimage");
    /* --skip-empty and --every: every 3rd slice only, nslices = the count */
    expect("slice-extract --skip-empty --every 3 --size 64,64 v05.frames 2>/dev/null | frame-cat --no-stats | "
           "awk '/^data/{n++} /nslices/{if(!match($0,/\"nslices\": [0-9]+/)) exit 1; "
           "v=substr($0,RSTART+11,RLENGTH-11); if(k&&v!=k) exit 1; k=v} END{exit !(n==k && n>0)}'",
           0, NULL, NULL);
    expect("slice-extract --skip-empty --every 3 --size 64,64 v05.frames 2>/dev/null | frame-cat --no-stats | "
           "awk '/^data/{sub(/.*z=/,\"\"); if($0%3) exit 1}'",
           0, NULL, NULL);
}

/* ---- manifests ---- */

static void test_manifest(void **state)
{
    (void)state;
    char cmd[2048];
    /* the bundled manifest: five labelled cases, ids from the id column, class names */
    snprintf(cmd, sizeof cmd,
             "ct-resample -m %s/manifest.csv --spacing 5,6,6 --labels-json %s/labels.json | frame-cat --no-stats "
             "> m.txt && test $(grep -c '^data' m.txt) = 5 && test $(grep -c '  label ' m.txt) = 5 && "
             "grep -q 'id=subj28 ' m.txt && grep -q '\"classes\": \\[\"background\", \"Brainstem\"' m.txt",
             tu_sample(), tu_sample());
    expect(cmd, 0, NULL, NULL);
}

static void test_manifest_rows(void **state)
{
    (void)state;
    char path[1024];
    const char *s = tu_sample();
    char text[4096];
    /* comment and blank lines, quoted field, relative paths against the manifest's directory */
    snprintf(path, sizeof path, "%s/mf", tu_tmpdir());
    mkdir(path, 0777);
    sh_ok("cp %s/subj03_ct.nii.gz %s/subj03_seg.nii.gz mf/", s, s);
    sh_ok("cp %s/pre012_ct.nii.gz mf/%s", s, "");
    snprintf(text, sizeof text,
             "# two cases\n"
             "id,image,label\n"
             "\n"
             "a, subj03_ct.nii.gz ,\"subj03_seg.nii.gz\"\n"
             "# unlabelled\n"
             "b,pre012_ct.nii.gz,\n");
    snprintf(path, sizeof path, "%s/mf/good.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    expect("ct-resample -m mf/good.csv --spacing 6,6,6 | frame-cat --no-stats > good.txt && "
           "grep -c '^data' good.txt | grep -qx 2 && grep -q 'id=a' good.txt && grep -q 'id=b' good.txt && "
           "test $(grep -c '  label ' good.txt) = 1",
           0, NULL, NULL);

    snprintf(text, sizeof text, "id,image,label\na,subj03_ct.nii.gz,subj03_seg.nii.gz\nb,pre012_ct.nii.gz\n");
    snprintf(path, sizeof path, "%s/mf/short.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    expect("ct-resample -m mf/short.csv -o x.frames", 1, "mf/short.csv:3:", "2 fields");
    expect("test ! -e x.frames", 0, NULL, NULL);

    snprintf(text, sizeof text, "id,image,label\na,subj03_ct.nii.gz,\nb,missing_ct.nii.gz,\nc,pre012_ct.nii.gz,\n");
    snprintf(path, sizeof path, "%s/mf/missing.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    /* nothing is written when a row names a missing file ... */
    expect("ct-resample -m mf/missing.csv --spacing 6,6,6 -o x.frames", 1, "mf/missing.csv:3:", "missing_ct.nii.gz");
    expect("test ! -e x.frames", 0, NULL, NULL);
    /* ... unless --keep-going: the others are written, the stream ends
     * cleanly, the failure is reported and the exit status is 1 */
    {
        char *err = NULL;
        int rc = tu_sh_err(&err, "cd %s && ct-resample --keep-going -m mf/missing.csv --spacing 6,6,6 -o kg.frames",
                           tu_tmpdir());
        assert_int_equal(rc, 1);
        assert_non_null(strstr(err, "mf/missing.csv:3:"));
        assert_non_null(strstr(err, "1 of 3 cases failed"));
        free(err);
        expect("frame-cat --count kg.frames | grep -qx 2", 0, NULL, NULL);
    }

    snprintf(text, sizeof text, "id,image,label\na,subj03_ct.nii.gz,\na,pre012_ct.nii.gz,\n");
    snprintf(path, sizeof path, "%s/mf/dup.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    expect("ct-resample -m mf/dup.csv -o x.frames", 1, "mf/dup.csv:3:", "already used on line 2");

    snprintf(text, sizeof text, "subject,ct\na,subj03_ct.nii.gz\n");
    snprintf(path, sizeof path, "%s/mf/nohdr.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    expect("ct-resample -m mf/nohdr.csv -o x.frames", 1, "mf/nohdr.csv:1:", "'id' and 'image'");

    snprintf(text, sizeof text, "id,image,label\na,\"subj03_ct.nii.gz,\n");
    snprintf(path, sizeof path, "%s/mf/quote.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    expect("ct-resample -m mf/quote.csv -o x.frames", 1, "mf/quote.csv:2:", "unterminated quote");

    /* a row whose file is not NIfTI: the manifest line and the file are named */
    sh_ok("cp bad/text.nii.gz mf/%s%s", "", "");
    snprintf(text, sizeof text, "id,image,label\na,subj03_ct.nii.gz,\nb,text.nii.gz,\n");
    snprintf(path, sizeof path, "%s/mf/notnii.csv", tu_tmpdir());
    assert_int_equal(tu_write(path, text, strlen(text)), 0);
    expect("ct-resample -m mf/notnii.csv --spacing 6,6,6 -o x.frames", 1, "mf/notnii.csv:3:", "not a NIfTI file");
    expect("test ! -e x.frames", 0, NULL, NULL);
}

/* ---- bad NIfTI ---- */

static void test_bad_nifti(void **state)
{
    (void)state;
    expect("ct-resample bad/text.nii.gz > x.frames", 1, "bad/text.nii.gz", "not a NIfTI file");
    expect("ct-resample bad/trunc.nii.gz > x.frames", 1, "bad/trunc.nii.gz", "truncated");
    expect("ct-resample bad/corrupt.nii.gz > x.frames", 1, "bad/corrupt.nii.gz", "corrupt");
    expect("ct-resample bad/crc.nii.gz > x.frames", 1, "bad/crc.nii.gz", "corrupt");
    expect("ct-resample bad/img2d.nii.gz > x.frames", 1, "bad/img2d.nii.gz", "2-D image");
    expect("ct-resample bad/img5d.nii.gz > x.frames", 1, "bad/img5d.nii.gz", "5-D image");
    expect("ct-resample bad/zero.nii > x.frames", 1, "bad/zero.nii", "spacing 0");
    expect("ct-resample bad/neg.nii > x.frames", 1, "bad/neg.nii", "pixdim[2] is -2.5");
    expect("ct-resample nonexistent.nii.gz > x.frames", 1, "nonexistent.nii.gz", "No such file");
}

static void test_bad_label(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ct-resample %s/subj03_ct.nii.gz --label bad/seg_small.nii.gz > x.frames", tu_sample());
    expect(cmd, 1, "bad/seg_small.nii.gz: label map grid [64, 64, 64] differs", NULL);
    snprintf(cmd, sizeof cmd, "ct-resample %s/subj03_ct.nii.gz --label bad/seg_shift.nii.gz > x.frames", tu_sample());
    expect(cmd, 1, "bad/seg_shift.nii.gz: label map affine differs", NULL);
    snprintf(cmd, sizeof cmd, "ct-resample %s/subj03_ct.nii.gz --label bad/seg_frac.nii.gz > x.frames", tu_sample());
    expect(cmd, 1, "bad/seg_frac.nii.gz", "not an integer in 0..255");
}

static void test_bad_frames(void **state)
{
    (void)state;
    /* volume frames without geometry, or with a negative spacing */
    expect("frame-cat --from-nifti bad/seg_small.nii.gz -o g.frames && "
           "ct-resample -i g.frames --spacing 6,6,6 > /dev/null",
           0, NULL, NULL);
    expect("frame-cat -t label g.frames -o nolabel.frames && ct-resample -i nolabel.frames > /dev/null", 1,
           "no 'image' tensor", "seq 0");
    /* meta spacing made negative and affine removed with Python */
    if (tu_sh("cd %s && %s -c \"import msgpack,sys\n"
              "recs=list(msgpack.Unpacker(open('g.frames','rb'),raw=False))\n"
              "d=[r for r in recs if r['type']=='data'][0]\n"
              "del d['meta']['affine']; d['meta']['spacing']=[2.5,-1.0,1.0]\n"
              "open('negsp.frames','wb').write(b''.join(msgpack.packb(r) for r in recs))\"",
              tu_tmpdir(), tu_python()))
        fail_msg("could not write negsp.frames");
    expect("ct-resample -i negsp.frames > /dev/null", 1, "spacing", "not positive");
    expect("ct-resample --to-original -i g.frames > /dev/null", 1, "no orig_affine", "--like");
    expect("slice-extract negsp.frames > /dev/null", 1, "spacing", "not positive");
}

static void test_nifti_output(void **state)
{
    (void)state;
    char cmd[2048];
    /* a volume with image and label needs %n; an existing name is not overwritten twice */
    expect("ct-resample --to-original -i s03c.frames -o one.nii.gz", 1, "the volume has tensors", "%n");
    expect("ct-resample --to-original -i s03c.frames -t image -o one.nii.gz", 0, NULL, NULL);
    snprintf(cmd, sizeof cmd,
             "ct-resample -m %s/manifest.csv --spacing 6,6,6 -t label -o same.nii.gz", tu_sample());
    expect(cmd, 1, "same.nii.gz: written already", "%i");
    snprintf(cmd, sizeof cmd, "ct-resample %s/subj05_ct.nii.gz --spacing 3,2,2 -o fwd.nii.gz", tu_sample());
    expect(cmd, 0, NULL, NULL);
    /* the resampled NIfTI is aligned: nibabel sees the same world box */
    if (tu_sh("cd %s && %s -c \"import nibabel as nib,numpy as np\n"
              "a=nib.load('%s/subj05_ct.nii.gz'); b=nib.load('fwd.nii.gz')\n"
              "assert np.allclose(a.affine[:3,3], b.affine[:3,3], atol=1e-4), (a.affine, b.affine)\n"
              "assert np.allclose(np.abs(np.diag(b.affine))[:3], [2,2,3])\n"
              "assert b.get_fdata().shape[2] == int(np.floor(127*2.5/3))+1\"",
              tu_tmpdir(), tu_python(), tu_sample()))
        fail_msg("NIfTI output not aligned with the input");
}

static void test_usage(void **state)
{
    (void)state;
    expect("ct-resample --help | grep -q -- --to-original", 0, NULL, NULL);
    expect("slice-extract --help | grep -q -- --skip-empty", 0, NULL, NULL);
    expect("slice-regroup --help | grep -q -- --tensor", 0, NULL, NULL);
    expect("ct-resample --version | grep -q lrcpipe", 0, NULL, NULL);
    expect("ct-resample --spacing 0,1,1 x.nii.gz", 2, "--spacing", NULL);
    expect("ct-resample --spacing 1,1 x.nii.gz", 2, "--spacing", NULL);
    expect("ct-resample --to-original x.nii.gz", 2, "volume frames", NULL);
    expect("ct-resample --label y.nii.gz a.nii.gz b.nii.gz", 2, "exactly one IMAGE", NULL);
    expect("slice-extract --window 100,50 < /dev/null", 2, "LO < HI", NULL);
    expect("slice-extract --preset lung < /dev/null", 2, "unknown preset", NULL);
    expect("slice-extract --size 0,5 < /dev/null", 2, "--size", NULL);
    expect("slice-extract --every 0 < /dev/null", 2, "--every", NULL);
    expect("slice-regroup --bogus < /dev/null", 2, NULL, NULL);
}

/* Output to a FIFO is written in place (a temporary renamed onto it would
 * replace the FIFO). */
/* One thread or all: the same bytes. */
static void test_threads_identical(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ct-resample --threads 1 %s/subj16_ct.nii.gz --label %s/subj16_seg.nii.gz --spacing 2.5,2,2 "
             "-o t1.frames && OMP_NUM_THREADS=2 ct-resample %s/subj16_ct.nii.gz --label %s/subj16_seg.nii.gz "
             "--spacing 2.5,2,2 -o t2.frames && slice-extract --threads 1 --size 256,256 t1.frames > t1s.frames && "
             "slice-extract --threads 2 --size 256,256 t2.frames > t2s.frames && "
             "mkdir -p th1 th2 && frame-cat --to-npy 'th1/%%z_%%n.npy' t1.frames t1s.frames && "
             "frame-cat --to-npy 'th2/%%z_%%n.npy' t2.frames t2s.frames && "
             "test $(ls th1 | wc -l) = 258 && diff -r th1 th2",
             tu_sample(), tu_sample(), tu_sample(), tu_sample());
    expect(cmd, 0, NULL, NULL);
}

static void test_fifo_output(void **state)
{
    (void)state;
    expect("mkfifo ff && (cat ff > ff.out &) && ct-resample --spacing 6,6,6 -i s03c.frames -o ff && sleep 0.2 && "
           "test -p ff && frame-cat --count ff.out | grep -qx 1",
           0, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_sample_matches_scipy),
        cmocka_unit_test(test_data_matches_scipy),
        cmocka_unit_test(test_reorient),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_roundtrip_sample),
        cmocka_unit_test(test_regroup_errors),
        cmocka_unit_test(test_slices_match_numpy),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_manifest_rows),
        cmocka_unit_test(test_bad_nifti),
        cmocka_unit_test(test_bad_label),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_nifti_output),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_fifo_output),
    };
    /* CT_TEST=pattern runs only the matching tests (while working on one). */
    if (getenv("CT_TEST"))
        cmocka_set_test_filter(getenv("CT_TEST"));
    return cmocka_run_group_tests(tests, setup, NULL);
}

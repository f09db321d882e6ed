/* Decathlon / nnU-Net dataset.json as a manifest: the parser on documents
 * of every layout and every bad entry, and ct-resample on data sets laid
 * out from the bundled sample (the volumes it writes are byte for byte those
 * of the CSV manifest naming the same files; the labels map becomes meta
 * classes); and a data set, like a DICOM series, through pipelines/prepare
 * into pre-training and fine-tuning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "io/dataset.h"
#include "io/manifest.h"
#include "testutil.h"

static void sh_ok(const char *cmd)
{
    if (tu_sh("cd %s && %s", tu_tmpdir(), cmd))
        fail_msg("failed: %s", cmd);
}

static int parse(const char *json, manifest *m)
{
    return dataset_parse(json, strlen(json), "/nonexistent", "ds.json", m);
}

static void test_parse_msd(void **state)
{
    manifest m;
    (void)state;
    assert_int_equal(parse("{\"name\": \"Task09_Spleen\", \"labels\": {\"0\": \"background\", \"2\": \"spleen\"},"
                           " \"modality\": {\"0\": \"CT\"}, \"numTraining\": 2,"
                           " \"training\": [{\"image\": \"./imagesTr/spleen_2.nii.gz\","
                           " \"label\": \"./labelsTr/spleen_2.nii.gz\"},"
                           " {\"image\": \"imagesTr/spleen_3.nii.gz\", \"label\": null}],"
                           " \"test\": [\"./imagesTs/spleen_1.nii.gz\", {\"image\": \"/abs/x_0000.nii\"}]}",
                           &m),
                     0);
    assert_int_equal(m.n, 4);
    assert_string_equal(m.cases[0].id, "spleen_2");
    assert_string_equal(m.cases[0].image, "/nonexistent/imagesTr/spleen_2.nii.gz");
    assert_string_equal(m.cases[0].label, "/nonexistent/labelsTr/spleen_2.nii.gz");
    assert_string_equal(m.cases[0].where, "training[0]");
    assert_null(m.cases[1].label);
    assert_string_equal(m.cases[2].id, "spleen_1");
    assert_string_equal(m.cases[2].where, "test[0]");
    assert_string_equal(m.cases[3].id, "x");
    assert_string_equal(m.cases[3].image, "/abs/x_0000.nii");
    assert_int_equal(m.nclasses, 3);
    assert_string_equal(m.classes[0], "background");
    assert_string_equal(m.classes[1], "");
    assert_string_equal(m.classes[2], "spleen");
    manifest_free(&m);
    /* nnU-Net v2's labels: name -> value */
    assert_int_equal(parse("{\"labels\": {\"background\": 0, \"liver\": 1}, \"training\": [\"a.nii.gz\"]}", &m), 0);
    assert_int_equal(m.nclasses, 2);
    assert_string_equal(m.classes[1], "liver");
    manifest_free(&m);
}

static void expect_bad(const char *json, const char *needle)
{
    manifest m;
    if (parse(json, &m) != -1)
        fail_msg("accepted: %s", json);
    if (!strstr(err_get(), needle))
        fail_msg("'%s': message '%s' lacks '%s'", json, err_get(), needle);
    if (!strstr(err_get(), "ds.json"))
        fail_msg("'%s': message '%s' does not name the file", json, err_get());
}

static void test_parse_bad(void **state)
{
    (void)state;
    expect_bad("{\"training\": [{\"image\": \"a.nii.gz\"},]}", "at byte 36");
    expect_bad("[1, 2]", "not an object");
    expect_bad("{\"training\": {\"image\": \"a.nii.gz\"}}", "'training' is not a list");
    expect_bad("{\"training\": [{\"label\": \"a.nii.gz\"}]}", "training[0]: no image path");
    expect_bad("{\"training\": [3]}", "training[0]: neither");
    expect_bad("{\"training\": [\"a.nii.gz\", \"x/a.nii.gz\"]}", "training[1]: id 'a' already used by training[0]");
    expect_bad("{\"training\": [{\"image\": \"a.nii\", \"label\": 7}]}", "'label' is not a path");
    expect_bad("{\"training\": [\"\"]}", "has no file name");
    expect_bad("{\"labels\": {\"bg\": 0, \"tumour\": [1, 2]}, \"training\": [\"a.nii\"]}", "region-based");
    expect_bad("{\"labels\": {\"x\": \"liver\"}, \"training\": [\"a.nii\"]}", "does not map a value");
    expect_bad("{\"labels\": {\"0\": \"bg\", \"a\": 0}, \"training\": [\"a.nii\"]}", "value 0 named twice");
    expect_bad("{\"labels\": {\"300\": \"x\"}, \"training\": [\"a.nii\"]}", "0..255");
    expect_bad("{\"training\": []}", "no cases");
    expect_bad("{\"file_ending\": \".nii.gz\"}", "no cases");
    expect_bad("{\"file_ending\": 3}", "file_ending");
    expect_bad("{\"training\": [\"a\\u0000b.nii\"]}", "has no file name");
}

/* Layouts on disk from the sample: Decathlon (listed, no channel suffix),
 * nnU-Net v1 (listed without the suffix, files with _0000), v2 (no list). */
static int setup(void **state)
{
    (void)state;
    return tu_sh(
        "cd %s && S=%s && for d in msd v1 v2; do mkdir -p $d/imagesTr $d/labelsTr $d/imagesTs; done && "
        "for c in subj03 subj05; do ln -s $S/${c}_ct.nii.gz msd/imagesTr/$c.nii.gz && "
        "ln -s $S/${c}_seg.nii.gz msd/labelsTr/$c.nii.gz && ln -s $S/${c}_ct.nii.gz v1/imagesTr/${c}_0000.nii.gz && "
        "ln -s $S/${c}_seg.nii.gz v1/labelsTr/$c.nii.gz && ln -s $S/${c}_ct.nii.gz v2/imagesTr/${c}_0000.nii.gz && "
        "ln -s $S/${c}_seg.nii.gz v2/labelsTr/$c.nii.gz; done && "
        "ln -s $S/pre012_ct.nii.gz msd/imagesTs/pre012.nii.gz && ln -s $S/pre012_ct.nii.gz "
        "v2/imagesTs/pre012_0000.nii.gz && "
        "L='\"0\": \"background\", \"1\": \"Brainstem\", \"2\": \"SpinalCord\", \"3\": \"RightParotid\", \"4\": "
        "\"LeftParotid\", \"5\": \"Esophagus\", \"6\": \"Larynx\", \"7\": \"Mandible\"' && "
        "T='\"training\": [{\"image\": \"./imagesTr/subj03.nii.gz\", \"label\": \"./labelsTr/subj03.nii.gz\"}, "
        "{\"image\": \"./imagesTr/subj05.nii.gz\", \"label\": \"./labelsTr/subj05.nii.gz\"}]' && "
        "printf '{\"name\": \"HaN\", \"labels\": {%%s}, \"numTraining\": 2, %%s, \"test\": "
        "[\"./imagesTs/pre012.nii.gz\"]}\\n' \"$L\" \"$T\" > msd/dataset.json && "
        "printf '{\"labels\": {%%s}, %%s}\\n' \"$L\" \"$T\" > v1/dataset.json && "
        "printf '{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, \"Brainstem\": 1, "
        "\"SpinalCord\": 2, \"RightParotid\": 3, \"LeftParotid\": 4, \"Esophagus\": 5, \"Larynx\": 6, \"Mandible\": "
        "7}, \"numTraining\": 2, \"file_ending\": \".nii.gz\"}\\n' > v2/dataset.json && "
        "printf 'id,image,label\\nsubj03,%%s/subj03_ct.nii.gz,%%s/subj03_seg.nii.gz\\n"
        "subj05,%%s/subj05_ct.nii.gz,%%s/subj05_seg.nii.gz\\npre012,%%s/pre012_ct.nii.gz,\\n' $S $S $S $S $S > "
        "ref.csv",
        tu_tmpdir(), tu_sample());
}

static void test_layouts(void **state)
{
    (void)state;
    sh_ok("ct-resample -q -m ref.csv --spacing 2.5,4,4 -o 'ref_%i_%n.nii'");
    sh_ok("ct-resample -q -m msd/dataset.json --spacing 2.5,4,4 -o 'msd_%i_%n.nii' && "
          "for c in subj03 subj05; do for t in image label; do cmp ref_${c}_$t.nii msd_${c}_$t.nii; done; done && "
          "cmp ref_pre012_image.nii msd_pre012_image.nii && ! test -e msd_pre012_label.nii");
    sh_ok("ct-resample -q -m v1/dataset.json --spacing 2.5,4,4 -o 'v1_%i_%n.nii' && "
          "for c in subj03 subj05; do for t in image label; do cmp ref_${c}_$t.nii v1_${c}_$t.nii; done; done");
    sh_ok("ct-resample -q -m v2/dataset.json --spacing 2.5,4,4 -o 'v2_%i_%n.nii' && "
          "for c in subj03 subj05; do for t in image label; do cmp ref_${c}_$t.nii v2_${c}_$t.nii; done; done && "
          "cmp ref_pre012_image.nii v2_pre012_image.nii");
    /* the labels map is the class names, as --labels-json gives them */
    sh_ok("ct-resample -q -m v2/dataset.json --spacing 2.5,8,8 -o - | frame-cat --json --no-stats > v2.json && "
          "grep -q '\"classes\": \\[\"background\", \"Brainstem\", \"SpinalCord\", \"RightParotid\", "
          "\"LeftParotid\", \"Esophagus\", \"Larynx\", \"Mandible\"\\]' v2.json && "
          "test $(grep -c '\"id\": \"subj0' v2.json) = 2");
    /* errors name the file and the entry */
    tu_expect("printf '{\"training\": [{\"image\": \"imagesTr/none.nii.gz\"}]}' > msd/bad.json && "
              "ct-resample -m msd/bad.json",
              1, "msd/bad.json:training[0]", "none.nii.gz");
    tu_expect("printf '{\"training\": [\"a.nii.gz\",]}' > msd/bad2.json && ct-resample -m msd/bad2.json", 1,
              "msd/bad2.json", "at byte 25");
}

/* A DICOM series (the sample's, with a NIfTI label map on its grid) and
 * the Decathlon layout each go through pipelines/prepare into a
 * pre-training (lrc-train) and a fine-tuning (seg-finetune) run. */
static void test_prepare_and_train(void **state)
{
    char *err = NULL;
    (void)state;
    if (tu_sh_err(&err, "cd %s && %s -c \"import nibabel as nib, numpy as np\n"
              "s = nib.load('%s/subj03_seg.nii.gz'); A = s.affine.copy()\n"
              "A[:3, 3] = (s.affine @ [0, 0, 56, 1])[:3]\n"
              "F = np.array([[-1, 0, 0, 127], [0, -1, 0, 127], [0, 0, 1, 0], [0, 0, 0, 1.0]])\n"
              "d = np.asarray(s.dataobj)[::-1, ::-1, 56:72]\n"
              "nib.save(nib.Nifti1Image(np.ascontiguousarray(d), A @ F), 'lab03.nii.gz')\" && "
              "printf 'id,image,label\\nd03,%s/dicom/subj03,lab03.nii.gz\\n' > dcm.csv && "
              "cp %s/labels.json . && echo d03 > dcm.cases && printf 'subj03\\nsubj05\\n' > dataset.cases && "
              "for m in dcm.csv msd/dataset.json; do n=$(basename $m .csv | sed 's/.json//'); "
              "pipelines=%s/pipelines; "
              "$pipelines/prepare --size 32 --spacing 2.5,5,5 -o $n.lab.fr $m > /dev/null 2>&1 && "
              "$pipelines/prepare --size 32 --spacing 2.5,5,5 --regions --no-labels -o $n.pre.fr $m "
              "> /dev/null 2>&1 && elastic-aug -q --seed 1 -i $n.pre.fr | lrc-train -q --method lrc --steps 2 "
              "--batch 4 --widths 4,4,8,8,8 --dim 4 -c $n.lrc.st && "
              "frame-cat --json --no-stats $n.lab.fr | grep -q '\"label\"' && "
              "frame-cat --json --no-stats $n.lab.fr | grep -q '\"classes\": \\[\"background\", \"Brainstem\"' && "
              "seg-finetune -q -i $n.lab.fr --cases $n.cases --steps 2 --batch 4 --local $n.lrc.st "
              "-c $n.ft.st || exit 1; done",
              tu_tmpdir(), tu_python(), tu_sample(), tu_sample(), tu_sample(), tu_root()))
        fail_msg("a DICOM series or a dataset.json did not go through prepare, lrc-train and seg-finetune: %s",
                 err);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_msd),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_prepare_and_train),
    };
    err_init("test_dataset");
    return cmocka_run_group_tests(tests, setup, NULL);
}

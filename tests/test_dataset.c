/* Decathlon / nnU-Net dataset.json as a manifest: the parser on documents
 * of every layout and every bad entry, and ct-resample on data sets laid
 * out from the bundled sample (the volumes it writes are byte for byte those
 * of the CSV manifest naming the same files; the labels map becomes meta
 * classes). */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_msd),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_layouts),
    };
    err_init("test_dataset");
    return cmocka_run_group_tests(tests, setup, NULL);
}

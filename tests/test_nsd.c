/* dice-eval --nsd: the normalised surface Dice of real label maps (the
 * sample's, shifted, eroded and noised by tests/py/dice_ref.py)
 * equals an independent implementation (tests/py/nsd_ref.py: k-d tree over
 * surface points in mm, not a distance transform) at two tolerances; the
 * edge cases (identical maps 1, an organ missing from the prediction 0);
 * and dice-eval's two NIfTI operands read as --ref then --pred. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int setup(void **state)
{
    (void)state;
    return tu_sh("cd %s && %s %s/tests/py/dice_ref.py perturb . 7 --only shift,erode,flip %s/subj03_seg.nii.gz %s/subj28_seg.nii.gz "
                 "> /dev/null && %s -c \"import nibabel as nib, numpy as np\n"
                 "a = nib.load('ref/subj03_seg.nii.gz'); d = np.asarray(a.dataobj).copy(); d[d == 5] = 0\n"
                 "nib.save(nib.Nifti1Image(d, a.affine), 'no5.nii.gz')\"",
                 tu_tmpdir(), tu_python(), tu_root(), tu_sample(), tu_sample(), tu_python());
}

static void test_against_reference(void **state)
{
    static const char *variants[] = {"shift", "erode", "flip"};
    static const char *ids[] = {"subj03", "subj28"};
    static const char *tols[] = {"2", "6"};
    char dcmd[8192] = "", rargs[4096] = "", one[1024];
    int k = 0;
    (void)state;
    /* every dice-eval run appends a line to d.jsonl, the reference one line
     * per case to r.jsonl, in the same order */
    for (size_t i = 0; i < 2; i++)
        for (size_t v = 0; v < 3; v++) {
            for (size_t t = 0; t < 2; t++, k++) {
                snprintf(one, sizeof one,
                         "dice-eval --json --nsd %s --ref ref/%s_seg.nii.gz --pred %s/%s_seg.nii.gz | tr -d '\\n' "
                         ">> d.jsonl && echo >> d.jsonl && ",
                         tols[t], ids[i], variants[v], ids[i]);
                strcat(dcmd, one);
            }
            snprintf(one, sizeof one, " %s,%s ref/%s_seg.nii.gz %s/%s_seg.nii.gz", tols[0], tols[1], ids[i],
                     variants[v], ids[i]);
            strcat(rargs, one);
        }
    if (tu_sh("cd %s && rm -f d.jsonl && %s %s %s/tests/py/nsd_ref.py %s > r.jsonl && "
              "%s -c \"import json, sys\n"
              "D = [json.loads(l) for l in open('d.jsonl')]; R = [json.loads(l) for l in open('r.jsonl')]\n"
              "assert len(D) == len(R) == %d, (len(D), len(R))\n"
              "for n, (d, r) in enumerate(zip(D, R)):\n"
              "    got = {str(e['label']): e['nsd'] for e in d['volumes'][0]['organs'].values()}\n"
              "    bad = [(k, got.get(k), x) for k, x in r.items() if got.get(k) != x]\n"
              "    if bad or len(got) != len(r): sys.exit('case %%d at %%s mm: %%s' %% (n, d['nsd_mm'], bad))\"",
              tu_tmpdir(), dcmd, tu_python(), tu_root(), rargs, tu_python(), k))
        fail_msg("dice-eval's NSD differs from the reference");
}

static void test_edges_and_forms(void **state)
{
    char path[4096], *txt;
    (void)state;
    /* identical: 1 for every organ; organ 5 missing from pred: 0 */
    if (tu_sh("cd %s && dice-eval --tsv --nsd 1 ref/subj03_seg.nii.gz ref/subj03_seg.nii.gz > same.tsv && "
              "dice-eval --tsv --nsd 1 ref/subj03_seg.nii.gz no5.nii.gz > no5.tsv && "
              "dice-eval --tsv --nsd 1 --ref ref/subj03_seg.nii.gz --pred no5.nii.gz > no5b.tsv && cmp no5.tsv no5b.tsv",
              tu_tmpdir()))
        fail_msg("dice-eval REF PRED failed or differs from --ref/--pred");
    snprintf(path, sizeof path, "%s/same.tsv", tu_tmpdir());
    txt = tu_read(path, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "\tnsd\n"));
    assert_non_null(strstr(txt, "subj03\t1\t1\tok\t1.0000\t0.0000\t0.0000\t1.0000\n"));
    free(txt);
    snprintf(path, sizeof path, "%s/no5.tsv", tu_tmpdir());
    txt = tu_read(path, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "subj03\t5\t5\tmissed\t0.0000\tinf\tinf\t0.0000\n"));
    free(txt);
    tu_expect("dice-eval ref/subj03_seg.nii.gz no5.nii.gz shift/subj03_seg.nii.gz", 2, "two are read as REF PRED",
              "--ref A --pred B");
    tu_expect("dice-eval --nsd 0 ref/subj03_seg.nii.gz no5.nii.gz", 2, "--nsd", NULL);
    tu_expect("dice-eval --nsd ref/subj03_seg.nii.gz no5.nii.gz", 2, "--nsd", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_edges_and_forms),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

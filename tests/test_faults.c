/* Faults in the middle of a run: a full disk while writing frames (a small
 * tmpfs, and /dev/full), and outputs that must never be left half-written
 * under their final name. The tmpfs part needs root (mount); it is skipped
 * otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char mnt[600];

static int setup(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    /* a 4 MiB stream to write */
    if (tu_sh("cd %s && %s -c 'import numpy as np; np.save(\"big.npy\", np.arange(1 << 20, dtype=np.float32))' && "
              "frame-cat --from-npy big.npy -o big.frames",
              d, tu_python()))
        return -1;
    snprintf(mnt, sizeof mnt, "%s/small", d);
    if (geteuid() == 0 && tu_sh("mkdir -p %s && mount -t tmpfs -o size=1m lrcpipe-test %s 2>/dev/null", mnt, mnt) == 0)
        return 0;
    mnt[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (mnt[0])
        tu_sh("umount %s", mnt);
    return 0;
}

static void test_full_tmpfs(void **state)
{
    (void)state;
    char *err = NULL;
    int rc;
    if (!mnt[0]) {
        print_message("cannot mount a tmpfs here (not root?): skipped\n");
        skip();
    }
    rc = tu_sh_err(&err, "frame-cat %s/big.frames -o %s/out.frames", tu_tmpdir(), mnt);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "No space left on device"));
    assert_int_equal(tu_count_lines(err), 1);
    free(err);
    /* nothing left behind: neither the final name nor a temporary */
    assert_int_equal(tu_sh("test -z \"$(ls -A %s)\"", mnt), 0);
    /* NIfTI and .npy outputs too */
    rc = tu_sh_err(&err, "frame-cat --to-npy '%s/%%n.npy' %s/big.frames", mnt, tu_tmpdir());
    assert_int_equal(rc, 1);
    free(err);
    assert_int_equal(tu_sh("test -z \"$(ls -A %s)\"", mnt), 0);
}

/* A checkpoint that does not fit (the default U-Net's is about 8 MB, the
 * tmpfs 1 MiB): lrc-train and seg-finetune say so in one line, exit 1, and
 * leave neither a checkpoint nor a temporary behind; an older checkpoint
 * under the final name stays whole. */
static void test_full_tmpfs_checkpoint(void **state)
{
    (void)state;
    char *err = NULL;
    int rc;
    if (!mnt[0]) {
        print_message("cannot mount a tmpfs here (not root?): skipped\n");
        skip();
    }
    rc = tu_sh_err(&err, "lrc-train --method lrc --init -c %s/lrc.safetensors", mnt);
    print_message("lrc-train: exit %d: %s", rc, err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "No space left on device"));
    assert_int_equal(tu_count_lines(err), 1);
    free(err);
    assert_int_equal(tu_sh("test -z \"$(ls -A %s)\"", mnt), 0);

    /* a small checkpoint fits; overwriting it with a large one fails and
     * leaves the small one as it was */
    assert_int_equal(tu_sh("lrc-train -q --method lrc --init --widths 4,4,4,4,4 --dim 4 -c %s/lrc.safetensors && "
                           "cp %s/lrc.safetensors %s/small.safetensors",
                           mnt, mnt, tu_tmpdir()),
                     0);
    rc = tu_sh_err(&err,
                   "ct-resample -q -s 2.5,8,8 --label %s/subj03_seg.nii.gz %s/subj03_ct.nii.gz | "
                   "slice-extract -q --size 32,32 --skip-empty | "
                   "seg-finetune -q --classes 8 --steps 1 --batch 2 --threads 1 -c %s/lrc.safetensors",
                   tu_sample(), tu_sample(), mnt);
    print_message("seg-finetune: exit %d: %s", rc, err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "No space left on device"));
    assert_int_equal(tu_count_lines(err), 1);
    free(err);
    rc = tu_sh_err(&err, "lrc-train --method moco --init -c %s/lrc.safetensors", mnt);
    print_message("lrc-train moco: exit %d: %s", rc, err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "No space left on device"));
    free(err);
    assert_int_equal(tu_sh("cmp %s/lrc.safetensors %s/small.safetensors && test \"$(ls -A %s)\" = lrc.safetensors",
                           mnt, tu_tmpdir(), mnt),
                     0);
    tu_sh("rm -f %s/lrc.safetensors", mnt);
}

static void test_dev_full(void **state)
{
    (void)state;
    char *err = NULL;
    int rc = tu_sh_err(&err, "frame-cat %s/big.frames -o - > /dev/full", tu_tmpdir());
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "No space left on device"));
    free(err);
    rc = tu_sh_err(&err, "frame-cat %s/big.frames > /dev/full", tu_tmpdir());
    assert_int_equal(rc, 1);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_tmpfs),
        cmocka_unit_test(test_full_tmpfs_checkpoint),
        cmocka_unit_test(test_dev_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

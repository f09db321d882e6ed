/* TensorBoard event files: CRC-32C against its check value, and the files
 * trainlog writes read back by an independent reader
 * (tests/py/tfevents_read.py: struct, a bitwise CRC-32C, a generic
 * protobuf walker) with exactly the numbers of the JSON Lines beside them;
 * a flipped byte is caught by the reader's CRC check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mval.h"
#include "nn/tfevents.h"
#include "nn/trainlog.h"
#include "testutil.h"

static void test_crc(void **state)
{
    (void)state;
    assert_int_equal(tfevents_crc32c(0, "123456789", 9), 0xE3069283u);
    /* in pieces as at once */
    assert_int_equal(tfevents_crc32c(tfevents_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    assert_int_equal(tfevents_crc32c(0, "", 0), 0);
}

static void test_trainlog_roundtrip(void **state)
{
    char dir[4096], log[4096];
    trainlog tl;
    (void)state;
    snprintf(dir, sizeof dir, "%s/tb/run1", tu_tmpdir());
    snprintf(log, sizeof log, "%s/run1.jsonl", tu_tmpdir());
    assert_int_equal(trainlog_open(&tl, log, 0), 0);
    assert_int_equal(trainlog_tensorboard(&tl, dir), 0);
    for (int s = 0; s <= 300; s += 25) {
        mval rec = {0}, *m, *a;
        mval_set_map(&rec);
        mval_put_i64(&rec, "step", s == 300 ? 1LL << 40 : s);
        mval_put_f64(&rec, "loss", 2.0 * exp(-s / 100.0) + 1e-7 * s);
        mval_put_f64(&rec, "lr", s < 100 ? 1e-3 * s / 100 : 1e-3);
        mval_put_i64(&rec, "pairs", 32LL * s);
        mval_put_str(&rec, "note", "strings are not scalars");
        if (s % 100 == 0) {
            m = mval_map_put(&rec, "val_organs");
            mval_set_map(m);
            mval_put_f64(m, "Brainstem", 0.5 + s / 1000.0);
            mval_put_f64(m, "Left Parotid", 0.25);
            a = mval_map_put(&rec, "dice");
            mval_set_array(a);
            mval_set_float(mval_push(a), 0.125);
            mval_set_int(mval_push(a), 1);
        }
        assert_int_equal(trainlog_write(&tl, &rec), 0);
        mval_free(&rec);
    }
    {
        mval rec = {0}; /* no step: in the JSON Lines only */
        mval_set_map(&rec);
        mval_put_f64(&rec, "total_seconds", 12.5);
        assert_int_equal(trainlog_write(&tl, &rec), 0);
        mval_free(&rec);
    }
    assert_int_equal(trainlog_close(&tl), 0);
    if (tu_sh("%s %s/tests/py/tfevents_read.py compare %s %s > /dev/null", tu_python(), tu_root(), dir, log))
        fail_msg("the event file does not read back with the log's values");
    /* a byte flipped in the middle of the data: the reader refuses it */
    if (!tu_sh("cd %s && f=$(ls *tfevents*) && size=$(stat -c %%s $f) && "
               "printf 'X' | dd of=$f bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null && "
               "%s %s/tests/py/tfevents_read.py compare . %s 2>/dev/null",
               dir, tu_python(), tu_root(), log))
        fail_msg("a corrupted event file was read back");
}

/* The filters: lrc-train (MoCo, cheap) and seg-finetune with validation,
 * each event file read back with exactly its JSON Lines' numbers. */
static void test_filters(void **state)
{
    (void)state;
    if (tu_sh("cd %s && ct-resample -q %s/subj03_ct.nii.gz --label %s/subj03_seg.nii.gz --id a --spacing 2.5,8,8 "
              "-o - | slice-extract -q --size 32,32 --every 6 > a.fr && "
              "ct-resample -q %s/subj05_ct.nii.gz --label %s/subj05_seg.nii.gz --id b --spacing 2.5,8,8 -o - | "
              "slice-extract -q --size 32,32 --every 6 > b.fr && cat a.fr b.fr > ab.fr && echo b > val.txt && "
              "echo a > train.txt && fz-superpixel -q --body < a.fr | elastic-aug -q --seed 1 | "
              "lrc-train -q --method moco --steps 5 --log moco.jsonl --tensorboard tb/moco -c moco.st && "
              "LRCPIPE_NO_END_OK=1 seg-finetune -q -i ab.fr --classes 8 --cases train.txt --val-cases val.txt --steps 4 "
              "--val-every 2 --log-every 1 --widths 4,4,8,8,8 --threads 1 --seed 1 --log ft.jsonl "
              "--tensorboard tb/ft -c ft.st && "
              "%s %s/tests/py/tfevents_read.py compare tb/moco moco.jsonl > moco.txt && "
              "%s %s/tests/py/tfevents_read.py compare tb/ft ft.jsonl > ft.txt && "
              "grep -q 'pairs_per_s' moco.txt && grep -q ' lr ' moco.txt && grep -q 'val_dice' ft.txt && "
              "grep -q 'steps_per_s' ft.txt",
              tu_tmpdir(), tu_sample(), tu_sample(), tu_sample(), tu_sample(), tu_python(), tu_root(), tu_python(),
              tu_root()))
        fail_msg("lrc-train or seg-finetune --tensorboard: the event files do not match the logs");
}

static void test_open_errors(void **state)
{
    tfevents w;
    char p[4096];
    (void)state;
    snprintf(p, sizeof p, "%s/afile", tu_tmpdir());
    assert_int_equal(tu_sh("touch %s", p), 0);
    strcat(p, "/sub");
    assert_int_equal(tfevents_open(&w, p), -1);
    assert_non_null(strstr(err_get(), "afile"));
    assert_int_equal(tfevents_close(&w), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc),
        cmocka_unit_test(test_trainlog_roundtrip),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_filters),
    };
    err_init("test_tfevents");
    return cmocka_run_group_tests(tests, NULL, NULL);
}

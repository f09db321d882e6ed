/* Bad streams through real processes: each gives a one-line error naming the
 * record, exit status 1, and no output passed off as complete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static int setup(void **state)
{
    (void)state;
    return tu_sh("%s %s/tests/py/badstreams.py %s", tu_python(), tu_root(), tu_tmpdir());
}

/* Run frame-cat on a file; expect status, one stderr line holding every needle. */
static void test_good_stream(void **state)
{
    (void)state;
    tu_expect("frame-cat good.frames", 0, NULL, NULL);
}

static void test_truncated(void **state)
{
    (void)state;
    tu_expect("frame-cat truncated.frames", 1, "truncated", "seq 2");
    /* through a pipe as well, and the frames output is not left behind */
    tu_expect("cat truncated.frames | frame-cat -o partial.frames", 1, "truncated", "seq 2");
    tu_expect("test ! -e partial.frames && ls -a | grep -c tmp- | grep -qx 0", 0, NULL, NULL);
}

/* sh has no pipefail: a stage whose producer failed must fail itself. */
static void test_missing_end(void **state)
{
    (void)state;
    tu_expect("false | frame-cat", 1, "empty input", NULL);
    tu_expect("cat noend.frames | frame-cat", 1, "without an end record", "3 data records");
    tu_expect("LRCPIPE_NO_END_OK=1 frame-cat -o fixed.frames noend.frames && frame-cat fixed.frames", 0, NULL, NULL);
    tu_expect("true | LRCPIPE_NO_END_OK=1 frame-cat --count", 0, NULL, NULL);
}

static void test_count_mismatch(void **state)
{
    (void)state;
    tu_expect("frame-cat count.frames", 1, "counts 3 data records but 2 arrived", NULL);
}

static void test_shape_mismatch(void **state)
{
    (void)state;
    tu_expect("frame-cat shape.frames", 1, "seq 1", "data holds");
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    tu_expect("frame-cat dtype.frames", 1, "seq 1", "unknown dtype '<c8'");
}

static void test_negative_and_absurd_dims(void **state)
{
    (void)state;
    tu_expect("frame-cat negdim.frames", 1, "seq 1", "negative dimension");
    tu_expect("frame-cat absurd.frames", 1, "seq 1", NULL);
}

static void test_garbage(void **state)
{
    (void)state;
    tu_expect("frame-cat garbage.frames", 1, "record", NULL);
    tu_expect("head -c 3000 /dev/urandom | frame-cat", 1, "stdin", NULL);
    tu_expect("frame-cat version.frames", 1, "version 7", NULL);
}

static void test_record_over_cap(void **state)
{
    (void)state;
    tu_expect("LRCPIPE_MAX_RECORD=4096 frame-cat big.frames", 1, "cap", "seq 0");
    tu_expect("frame-cat --max-record 4K big.frames", 1, "cap", NULL);
    tu_expect("frame-cat --max-record 1M big.frames", 0, NULL, NULL);
    tu_expect("LRCPIPE_MAX_RECORD=lots frame-cat big.frames", 2, "LRCPIPE_MAX_RECORD", NULL);
    /* A header claiming 3 GiB: refused by a smaller cap before any allocation,
     * and under the default cap the reader allocates only what arrives
     * (a 512 MiB address-space limit would stop a 3 GiB buffer). */
    tu_expect("LRCPIPE_MAX_RECORD=1M frame-cat claim.frames", 1, "cap", NULL);
#ifdef __SANITIZE_ADDRESS__
    /* ASan reserves terabytes of shadow memory, so ulimit -v cannot be used:
     * its own allocation limit (a NULL return beyond 512 MiB) does the same. */
    tu_expect("ASAN_OPTIONS=max_allocation_size_mb=512:allocator_may_return_null=1 frame-cat claim.frames", 1,
           "truncated", NULL);
#else
    tu_expect("ulimit -v 524288 && frame-cat claim.frames", 1, "truncated", NULL);
#endif
}

static void test_terminal_refused(void **state)
{
    (void)state;
    /* script(1) gives the command a pseudo-terminal as stdout. */
    char *err = NULL;
    int rc = tu_sh_err(&err, "cd %s && script -qec 'frame-cat good.frames -o -' /dev/null > tty.txt", tu_tmpdir());
    char path[600], *txt;
    assert_int_equal(rc, 1);
    snprintf(path, sizeof path, "%s/tty.txt", tu_tmpdir());
    txt = tu_read(path, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "refusing to write binary frames to a terminal"));
    free(txt);
    free(err);
}

static void test_usage_errors(void **state)
{
    (void)state;
    tu_expect("frame-cat --z 5:1 good.frames", 2, "empty range", NULL);
    tu_expect("frame-cat --bogus", 2, NULL, NULL);
    tu_expect("frame-cat no-such-file.frames", 1, "no-such-file.frames", "No such file");
}

/* A producer killed in the middle of a record: the consumer reports a
 * truncated stream, over a pipe and over ZeroMQ. */
static void test_killed_producer(void **state)
{
    (void)state;
    {
        /* The shell reports "Killed" for the producer: run the pipeline in
         * its own shell whose stderr is discarded, keep frame-cat's. */
        char script[1024], path[600];
        snprintf(script, sizeof script,
                 "%s -c 'import os; d = open(\"good.frames\", \"rb\").read(); os.write(1, d + d[:100]); "
                 "os.kill(os.getpid(), 9)' | frame-cat 2>fc.err\n",
                 tu_python());
        snprintf(path, sizeof path, "%s/killed.sh", tu_tmpdir());
        assert_int_equal(tu_write(path, script, strlen(script)), 0);
        tu_expect("sh killed.sh 2>/dev/null; s=$?; cat fc.err >&2; exit $s", 1, "truncated", NULL);
    }
    {
        int port = tu_port();
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "rm -f fifo && mkfifo fifo && "
                 "{ frame-cat -i fifo -o @tcp://127.0.0.1:%d & p=$!; } && "
                 "{ frame-cat -i tcp://127.0.0.1:%d -o zmq.frames & c=$!; } && "
                 "exec 3>fifo && head -c 300 good.frames >&3 && sleep 1 && kill -9 $p && wait $c",
                 port, port);
        tu_expect(cmd, 1, "producer disconnected before its end record", NULL);
        tu_expect("test ! -e zmq.frames", 0, NULL, NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_stream),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_missing_end),
        cmocka_unit_test(test_count_mismatch),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_negative_and_absurd_dims),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_record_over_cap),
        cmocka_unit_test(test_terminal_refused),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_killed_producer),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

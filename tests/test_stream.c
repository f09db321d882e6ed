/* Streams between real processes: a pipe, ZeroMQ over tcp and ipc on
 * loopback; the bytes must arrive identical on every transport, and the
 * reader must catch every broken stream the issue lists. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rng.h"
#include "io/frame.h"
#include "io/stream.h"
#include "testutil.h"

#define NREC 12

/* Record i of the test stream: sizes from a few bytes to 4 MiB. */
static void make_record(int i, frame *f)
{
    static const int64_t sizes[NREC] = {0, 1, 7, 100, 4096, 65535, 65536, 1 << 20, 1 << 22, 3, (1 << 22) + 5, 12345};
    tensor t;
    rng r;
    frame_init(f, FRAME_DATA);
    frame_set_id(f, i % 2 ? "odd" : "even");
    f->z = i;
    tensor_init1(&t, DT_U8, sizes[i]);
    rng_seed(&r, 77, (uint64_t)i);
    for (int64_t k = 0; k < sizes[i]; k++)
        ((uint8_t *)t.data)[k] = (uint8_t)rng_u32(&r);
    frame_tensor_add(f, "payload", &t);
    mval_put_i64(frame_meta(f), "index", i);
}

/* Child: write the test stream to spec and exit. */
static void produce(const char *spec)
{
    stream_out *out = stream_out_open(spec);
    if (!out) {
        fprintf(stderr, "producer: %s\n", err_get());
        _exit(3);
    }
    if (stream_out_start(out, NULL))
        _exit(4);
    for (int i = 0; i < NREC; i++) {
        frame f;
        make_record(i, &f);
        if (stream_out_write(out, &f))
            _exit(5);
        frame_free(&f);
    }
    if (stream_out_end(out) || stream_out_close(out)) {
        fprintf(stderr, "producer: %s\n", err_get());
        _exit(6);
    }
    _exit(0);
}

/* The bytes every transport must deliver: start, NREC data, end. */
static void expected_records(frame_buf *bufs)
{
    frame st;
    frame_init(&st, FRAME_START);
    st.producer = (char *)err_progname;
    st.version = (char *)"0.1.0";
    frame_encode(&st, &bufs[0]);
    for (int i = 0; i < NREC; i++) {
        frame f;
        make_record(i, &f);
        f.seq = i;
        frame_encode(&f, &bufs[i + 1]);
        frame_free(&f);
    }
    frame_init(&st, FRAME_END);
    st.count = NREC;
    frame_encode(&st, &bufs[NREC + 1]);
}

static void consume_and_compare(const char *spec, pid_t child)
{
    frame_buf want[NREC + 2];
    stream_in *in = stream_in_open(spec);
    int status;
    memset(want, 0, sizeof want);
    assert_non_null(in);
    expected_records(want);
    for (int i = 0; i < NREC + 2; i++) {
        const char *buf;
        size_t len;
        int rc = stream_in_raw(in, &buf, &len);
        if (rc != 1)
            fail_msg("record %d: rc %d: %s", i, rc, err_get());
        if (i == 0) {
            /* start: same producer and version; compare decoded. */
            frame g;
            assert_int_equal(frame_decode(buf, len, NULL, &g), 0);
            assert_int_equal(g.type, FRAME_START);
            frame_free(&g);
            continue;
        }
        assert_int_equal(len, want[i].len);
        assert_memory_equal(buf, want[i].data, len);
    }
    stream_in_close(in);
    for (int i = 0; i < NREC + 2; i++)
        frame_buf_free(&want[i]);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_pipe_between_processes(void **state)
{
    (void)state;
    int fds[2];
    pid_t pid;
    char spec[64];
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        close(fds[1]);
        produce("-");
    }
    close(fds[1]);
    snprintf(spec, sizeof spec, "/dev/fd/%d", fds[0]);
    consume_and_compare(spec, pid);
    close(fds[0]);
}

static void test_zmq_tcp_producer_binds(void **state)
{
    (void)state;
    char bind[64], conn[64];
    pid_t pid;
    int port = tu_port();
    snprintf(bind, sizeof bind, "@tcp://127.0.0.1:%d", port);
    snprintf(conn, sizeof conn, "tcp://127.0.0.1:%d", port);
    pid = fork();
    if (pid == 0)
        produce(bind);
    consume_and_compare(conn, pid);
}

static void test_zmq_tcp_consumer_binds(void **state)
{
    (void)state;
    char bind[64], conn[64];
    pid_t pid;
    int port = tu_port();
    snprintf(bind, sizeof bind, "@tcp://127.0.0.1:%d", port);
    snprintf(conn, sizeof conn, "tcp://127.0.0.1:%d", port);
    /* The consumer binds; the producer connects a little later. */
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        produce(conn);
    }
    consume_and_compare(bind, pid);
}

static void test_zmq_ipc(void **state)
{
    (void)state;
    char bind[600], conn[600];
    pid_t pid;
    snprintf(bind, sizeof bind, "@ipc://%s/sock", tu_tmpdir());
    snprintf(conn, sizeof conn, "ipc://%s/sock", tu_tmpdir());
    pid = fork();
    if (pid == 0)
        produce(bind);
    consume_and_compare(conn, pid);
}

/* The same stream relayed by frame-cat over each transport is byte-identical. */
static void test_frame_cat_relays_identically(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    int port = tu_port();
    int rc;
    pid_t pid;
    char path[600];
    /* a reference stream file, made by this process */
    snprintf(path, sizeof path, "%s/ref.frames", d);
    pid = fork();
    if (pid == 0)
        produce(path);
    waitpid(pid, &rc, 0);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);

    assert_int_equal(tu_sh("cat %s/ref.frames | frame-cat -o - | cmp - %s/ref.frames", d, d), 0);
    assert_int_equal(tu_sh("frame-cat -i @tcp://127.0.0.1:%d -o %s/tcp.frames & c=$!; "
                           "frame-cat %s/ref.frames -o tcp://127.0.0.1:%d && wait $c && cmp %s/tcp.frames %s/ref.frames",
                           port, d, d, port, d, d),
                     0);
    assert_int_equal(tu_sh("frame-cat %s/ref.frames -o @ipc://%s/relay & p=$!; "
                           "frame-cat -i ipc://%s/relay -o %s/ipc.frames && wait $p && cmp %s/ipc.frames %s/ref.frames",
                           d, d, d, d, d, d),
                     0);
}

static void test_python_reads_and_writes(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    char *err = NULL;
    int rc;
    /* Python reads a stream we wrote and checks every tensor... */
    rc = tu_sh_err(&err,
                   "%s %s/tests/py/interop.py write %s/py.frames && "
                   "frame-cat %s/py.frames > %s/py.txt && "
                   "frame-cat %s/py.frames -o %s/back.frames && "
                   "%s %s/tests/py/interop.py read %s/back.frames",
                   tu_python(), tu_root(), d, d, d, d, d, tu_python(), tu_root(), d);
    if (rc)
        fail_msg("interop failed (%d): %s", rc, err);
    free(err);
    {
        char path[600];
        char *txt;
        snprintf(path, sizeof path, "%s/py.txt", d);
        txt = tu_read(path, NULL);
        assert_non_null(txt);
        assert_non_null(strstr(txt, "image      <f4  [3, 4] min=0 max=11 mean=5.5"));
        assert_non_null(strstr(txt, "label      |u1  [3, 4]"));
        assert_non_null(strstr(txt, "end count=2"));
        free(txt);
    }
}

/* One producer, three workers, one sink over ZeroMQ tcp: every record
 * arrives exactly once; with a worker killed, the sink names what is lost. */
static void make_many(const char *path, int n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import msgpack, numpy as np, sys\n"
             "f = open(sys.argv[1], \"wb\")\n"
             "f.write(msgpack.packb({\"v\": 1, \"type\": \"start\"}))\n"
             "for i in range(%d):\n"
             "    a = np.full((16, 16), i, np.float32)\n"
             "    t = {\"nd\": True, \"type\": \"<f4\", \"kind\": b\"\", \"shape\": [16, 16], \"data\": a.tobytes()}\n"
             "    f.write(msgpack.packb({\"v\": 1, \"type\": \"data\", \"seq\": i, \"z\": i, \"tensors\": {\"image\": t}}))\n"
             "f.write(msgpack.packb({\"v\": 1, \"type\": \"end\", \"count\": %d}))' %s",
             tu_python(), n, n, path);
    assert_int_equal(tu_sh("%s", cmd), 0);
}

static void test_fanout_three_workers(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    int p1 = tu_port(), p2 = tu_port();
    char *err = NULL;
    int rc;
    {
        char path[600];
        snprintf(path, sizeof path, "%s/many.frames", d);
        make_many(path, 3000);
    }
    /* The producer binds first and waits on a FIFO; the data flows once all
     * three workers are connected, so none of them waits for ever for a
     * producer that has already gone. */
    rc = tu_sh_err(&err,
                   "cd %s && rm -f fifo3 && mkfifo fifo3 && "
                   "{ frame-cat -i @tcp://127.0.0.1:%d -o gathered.frames & s=$!; } && "
                   "{ frame-cat -i fifo3 -o @tcp://127.0.0.1:%d & p=$!; } && "
                   "for w in 1 2 3; do LRCPIPE_WORKER=1 frame-cat -i tcp://127.0.0.1:%d -o tcp://127.0.0.1:%d & done; "
                   "n=0; until [ $(ss -tn state established | grep -c '127.0.0.1:%d *$') -ge 3 ]; do sleep 0.1; "
                   "n=$((n+1)); [ $n -lt 300 ] || exit 9; done; "
                   "cat many.frames > fifo3 && wait $p && wait $s && wait",
                   d, p2, p1, p1, p2, p1);
    if (rc)
        fail_msg("fan-out failed (%d): %s", rc, err);
    free(err);
    /* every z from 0 to 2999 exactly once */
    rc = tu_sh("cd %s && frame-cat --json --no-stats gathered.frames | grep -o '\"z\": [0-9]*' | sort -u | wc -l | "
               "grep -qx 3000 && frame-cat --count gathered.frames | grep -qx 3000",
               d);
    assert_int_equal(rc, 0);
}

static void test_fanout_worker_killed(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    int p1 = tu_port(), p2 = tu_port();
    char *err = NULL;
    int rc;
    /* The victim's output goes into a pipe nobody reads: it takes its share
     * of records and never passes them on; it is killed once the others are
     * done. The producer lingers 2 s at most. */
    rc = tu_sh_err(&err,
                   "cd %s && rm -f fifo && mkfifo fifo && "
                   "{ frame-cat -i @tcp://127.0.0.1:%d -o lost.frames 2>sink.err & s=$!; } && "
                   "{ LRCPIPE_LINGER=2000 frame-cat -i fifo -o @tcp://127.0.0.1:%d & p=$!; } && "
                   "for w in 1 2; do LRCPIPE_WORKER=1 frame-cat -i tcp://127.0.0.1:%d -o tcp://127.0.0.1:%d & done; "
                   "{ LRCPIPE_WORKER=1 frame-cat -i tcp://127.0.0.1:%d -o - | sleep 600 & } && "
                   "n=0; until [ $(ss -tn state established | grep -c '127.0.0.1:%d *$') -ge 3 ]; do sleep 0.1; "
                   "n=$((n+1)); [ $n -lt 300 ] || exit 9; done; sleep 0.5; cat many.frames > fifo; "
                   "wait $p; sleep 1; pkill -f 'frame-cat -i tcp://127.0.0.1:%d -o -$'; wait $s; echo $? > sink.status; "
                   "pkill -f 'sleep 600' ; true",
                   d, p2, p1, p1, p2, p1, p1, p1);
    free(err);
    {
        char path[600], *st, *msg;
        snprintf(path, sizeof path, "%s/sink.status", d);
        st = tu_read(path, NULL);
        snprintf(path, sizeof path, "%s/sink.err", d);
        msg = tu_read(path, NULL);
        assert_non_null(st);
        assert_non_null(msg);
        if (atoi(st) != 1)
            fail_msg("sink exited %s: %s", st, msg);
        if (!strstr(msg, "never arrived (seq ") && !strstr(msg, "disconnected before its end record"))
            fail_msg("sink message: %s", msg);
        assert_int_equal(tu_count_lines(msg), 1);
        free(st);
        free(msg);
        assert_int_equal(tu_sh("test ! -e %s/lost.frames", d), 0);
    }
    (void)rc;
}

/* CURVE: an authorised client's stream arrives; a client with another key,
 * or without CURVE, is refused and the server sees nothing. */
static void test_curve_refuses_strangers(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    int p = tu_port();
    char *err = NULL;
    int rc = tu_sh("cd %s && mkdir -p curve && cd curve && frame-cat --curve-keygen server.key && "
                   "frame-cat --curve-keygen client.key && frame-cat --curve-keygen rogue.key && "
                   "echo client.key.pub > clients && ! frame-cat --curve-keygen client.key 2>/dev/null && "
                   "test \"$(stat -c %%a server.key)\" = 600",
                   d);
    assert_int_equal(rc, 0);
    rc = tu_sh_err(&err,
                   "cd %s/curve && export LRCPIPE_CURVE_CLIENTS=clients; "
                   "{ LRCPIPE_CURVE_KEY=server.key frame-cat -i @tcp://127.0.0.1:%d -o ok.frames & s=$!; } && "
                   "LRCPIPE_CURVE_KEY=client.key LRCPIPE_CURVE_SERVER_KEY=server.key.pub "
                   "frame-cat ../ref.frames -o tcp://127.0.0.1:%d && wait $s && cmp ok.frames ../ref.frames",
                   d, p, p);
    if (rc)
        fail_msg("authorised client (%d): %s", rc, err);
    free(err);
    /* the stranger and the plain client time out; the server gets nothing */
    rc = tu_sh("cd %s/curve && export LRCPIPE_CURVE_CLIENTS=clients; "
               "{ LRCPIPE_TIMEOUT=4 LRCPIPE_CURVE_KEY=server.key frame-cat -i @tcp://127.0.0.1:%d -o bad.frames "
               "2>server.err & s=$!; } && "
               "! LRCPIPE_TIMEOUT=2 LRCPIPE_LINGER=0 LRCPIPE_CURVE_KEY=rogue.key LRCPIPE_CURVE_SERVER_KEY=server.key.pub "
               "frame-cat ../ref.frames -o tcp://127.0.0.1:%d 2>/dev/null && "
               "! LRCPIPE_TIMEOUT=1 LRCPIPE_LINGER=0 frame-cat ../ref.frames -o tcp://127.0.0.1:%d 2>/dev/null; "
               "! wait $s && test ! -e bad.frames && grep -q 'refused a ZeroMQ client' server.err && "
               "grep -q 'no record for 4 s' server.err",
               d, p + 1, p + 1, p + 1);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_between_processes),
        cmocka_unit_test(test_zmq_tcp_producer_binds),
        cmocka_unit_test(test_zmq_tcp_consumer_binds),
        cmocka_unit_test(test_zmq_ipc),
        cmocka_unit_test(test_frame_cat_relays_identically),
        cmocka_unit_test(test_python_reads_and_writes),
        cmocka_unit_test(test_fanout_three_workers),
        cmocka_unit_test(test_fanout_worker_killed),
        cmocka_unit_test(test_curve_refuses_strangers),
    };
    err_init("test_stream");
    return cmocka_run_group_tests(tests, NULL, NULL);
}

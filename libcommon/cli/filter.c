#include "cli/filter.h"

#include <ctype.h>
#include <malloc.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/err.h"
#include "io/manifest.h"

void filter_usage_common(const char *verbose)
{
    printf("\n"
           "Common:\n"
           "  -q, --quiet             errors only\n"
           "  -v, --verbose           %s\n"
           "      --max-record SIZE   refuse records larger than SIZE bytes (default 4G)\n"
           "  -h, --help              this help\n"
           "      --version           version\n",
           verbose ? verbose : "more messages (repeatable)");
}

/* getopt's short options from longopts: each value that is a letter or a
 * digit, followed by ':' when it takes a value ("::" when optional). */
static const char *short_options(const struct option *longopts)
{
    static char s[256];
    size_t n = 0;
    for (const struct option *o = longopts; o->name && n + 3 < sizeof s; o++)
        if (o->val > 0 && o->val < 0x80 && isalnum(o->val)) {
            s[n++] = (char)o->val;
            if (o->has_arg != no_argument)
                s[n++] = ':';
            if (o->has_arg == optional_argument)
                s[n++] = ':';
        }
    s[n] = '\0';
    return s;
}

int filter_getopt(int argc, char **argv, const struct option *longopts, void (*usage)(void))
{
    const char *shortopts = short_options(longopts);
    int c;
    /* opt_next names a bad option (unknown, a value missing or given to an
     * option that takes none) in a one-line usage error */
    while ((c = opt_next(argc, argv, shortopts, longopts)) != -1) {
        if (opt_common(c, optarg))
            continue;
        if (c == FILTER_OPT_OMP_THREADS) {
            omp_set_num_threads((int)opt_i64("--threads", optarg, 1, 1024));
            continue;
        }
        if (c == 'h') {
            usage();
            if (fflush(stdout) || ferror(stdout))
                exit(1);
            exit(0);
        }
        return c;
    }
    return -1;
}

void filter_keep_heap(void)
{
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

char *filter_case_id(const char *path, const char *const *exts, int nexts)
{
    char *id = manifest_id_of(path, exts, nexts);
    if (!id)
        die(1, "out of memory");
    return id;
}

void *filter_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die(1, "out of memory");
    return p;
}

void *filter_push(void *arr, int *n, size_t elsize)
{
    char *p = realloc(arr, (size_t)(*n + 1) * elsize);
    if (!p)
        die(1, "out of memory");
    memset(p + (size_t)*n * elsize, 0, elsize);
    (*n)++;
    return p;
}

void strlist_add(strlist *l, const char *s)
{
    l->v = filter_push(l->v, &l->n, sizeof *l->v);
    l->v[l->n - 1] = s;
}

void strlist_add_argv(strlist *l, int first, int argc, char **argv)
{
    for (int i = first; i < argc; i++)
        strlist_add(l, argv[i]);
}

int strlist_wants(const strlist *l, const char *name)
{
    if (!l->n)
        return 1;
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], name))
            return 1;
    return 0;
}

void strlist_free(strlist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void filter_inputs(strlist *inputs, int first, int argc, char **argv)
{
    strlist_add_argv(inputs, first, argc, argv);
    if (!inputs->n)
        strlist_add(inputs, "-");
}

void filter_keep_tensors(frame *f, const strlist *names)
{
    for (int i = f->ntensors - 1; i >= 0; i--)
        if (!strlist_wants(names, f->tensors[i].name))
            frame_tensor_del(f, f->tensors[i].name);
}

mval filter_params(int argc, char **argv)
{
    mval p = {0}, *a;
    mval_set_map(&p);
    a = mval_map_put(&p, "argv");
    mval_set_array(a);
    for (int i = 0; i < argc; i++)
        mval_set_str(mval_push(a), argv[i]);
    return p;
}

stream_out *filter_output(const char *spec, const mval *params)
{
    stream_out *out = stream_out_open(spec ? spec : "-");
    if (!out)
        die_err(1);
    if (stream_out_start(out, params)) {
        stream_out_abort(out);
        die_err(1);
    }
    return out;
}

void filter_output_done(stream_out *out, int rc)
{
    if (rc) {
        stream_out_abort(out);
        die_err(1);
    }
    if (stream_out_end(out) || stream_out_close(out))
        die_err(1);
}

int filter_each_input(const strlist *inputs, filter_record_fn fn, void *ctx)
{
    for (int k = 0; k < inputs->n; k++) {
        stream_in *in = stream_in_open(inputs->v[k]);
        frame f;
        int r;
        if (!in)
            return -1;
        while ((r = stream_in_next(in, &f)) > 0) {
            if (fn(&f, in, ctx)) {
                if (f.z >= 0)
                    err_prefix("%s: record seq %lld (id %s, z %lld)", stream_in_name(in), (long long)f.seq,
                               f.id ? f.id : "-", (long long)f.z);
                else
                    err_prefix("%s: record seq %lld (id %s)", stream_in_name(in), (long long)f.seq,
                               f.id ? f.id : "-");
                r = -1;
            }
            frame_free(&f);
            if (r < 0)
                break;
        }
        stream_in_close(in);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Every example of README.md and of the man pages' EXAMPLES sections runs,
 * as written, in a fresh folder that holds what a clone of the repository
 * holds (its files, not the build or any data beside it), with the built
 * filters on PATH: tests/py/examples.py extracts them (one script per page,
 * the examples in order, since a later example may use a file an earlier
 * one made) and fails when one names a path outside the repository. A
 * failure names the page and line of the example and shows its stderr.
 * Skipped under SANITIZE=1 (sanitized training runs out the time limit). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static void test_examples(void **state)
{
    char dir[4096], *list, *line, *save = NULL;
    int failed = 0, pages = 0;
    time_t t0;
    const char *san = getenv("SANITIZE");
    (void)state;
    /* the examples check the documentation, not memory safety (the other
     * programs run under the sanitizers); sanitized training takes minutes */
    if (san && !strcmp(san, "1")) {
        print_message("SANITIZE=1: the examples run in the plain build only\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s/examples", tu_tmpdir());
    if (tu_sh("mkdir -p %s/py && ln -sf %s %s/py/python3 && %s %s/tests/py/examples.py %s %s > %s/list.txt", dir,
              tu_python(), dir, tu_python(), tu_root(), tu_root(), dir, dir))
        fail_msg("tests/py/examples.py: an example names a path outside the repository (see above)");
    {
        char p[4200];
        snprintf(p, sizeof p, "%s/list.txt", dir);
        list = tu_read(p, NULL);
    }
    assert_non_null(list);
    for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char script[128], *err = NULL;
        int n = 0, rc;
        if (sscanf(line, "%127s %d", script, &n) != 2 || n == 0)
            continue;
        pages++;
        t0 = time(NULL);
        /* a clone: the repository's files, without build products */
        rc = tu_sh_err(&err,
                       "cd %s && mkdir -p run-%s && cd run-%s && "
                       "for f in %s/* %s/.[!.]*; do case ${f##*/} in build|bin|out|.git|'.[!.]*') ;; "
                       "*) ln -s \"$f\" . ;; esac; done && "
                       "PATH=%s:%s/py:$PATH bash -e -c 'step() { printf \"%%s\\n\" \"$1\" > ../%s.step; "
                       "echo \"== example $1\" >&2; }; . ../%s' "
                       "> ../%s.out",
                       dir, script, script, tu_root(), tu_root(), tu_bindir(), dir, script, script, script);
        if (rc) {
            char p[4400], *step;
            snprintf(p, sizeof p, "%s/%s.step", dir, script);
            step = tu_read(p, NULL);
            const char *from = err ? err : "";
            for (const char *q = from; (q = strstr(q, "== example ")); q++)
                from = q; /* this example's stderr only */
            print_error("example %s failed (status %d); its stderr ends:\n%s\n", step ? strtok(step, "\n") : script,
                        rc, from + (strlen(from) > 3000 ? strlen(from) - 3000 : 0));
            free(step);
            failed++;
        }
        print_message("%s: %d examples, %lld s\n", script, n, (long long)(time(NULL) - t0));
        free(err);
    }
    free(list);
    assert_true(pages >= 11);
    if (failed)
        fail_msg("%d of %d pages have an example that fails", failed, pages);
}

int main(void)
{
    tu_mpi_env(); /* the examples that run mpirun */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Every filter: --help and --version work, its man page exists, is
 * mandoc -Tlint clean, has the sections the project requires, and mentions
 * every long option --help lists. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const char *sections[] = {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "STREAM FORMAT",
                                 "EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "FILES", "SEE ALSO"};

/* The FILES section names the filter's source and the library headers it
 * uses: each must exist in the tree (a file moved without its page fails). */
static void check_files(const char *name, const char *man)
{
    const char *p = strstr(man, ".SH FILES"), *end;
    char path[1024], tok[256];
    int n = 0;
    assert_non_null(p);
    end = strstr(p + 1, "\n.SH ");
    if (!end)
        end = p + strlen(p);
    snprintf(path, sizeof path, "%s/filters/%s.c", tu_root(), name);
    if (access(path, R_OK))
        fail_msg("man/%s.1: FILES names filters/%s.c, which does not exist", name, name);
    for (; p < end; p++) {
        size_t k = 0;
        const char *q = p;
        while (q < end && k < sizeof tok - 1 && ((*q >= 'a' && *q <= 'z') || *q == '_' || *q == '/' || *q == '.'))
            tok[k++] = *q++;
        tok[k] = '\0';
        if (k > 3 && strchr(tok, '/') && !strcmp(tok + k - 2, ".h") && strncmp(tok, "libcommon/", 10)) {
            snprintf(path, sizeof path, "%s/libcommon/%s", tu_root(), tok);
            if (access(path, R_OK))
                fail_msg("man/%s.1: FILES names %s, not in libcommon/", name, tok);
            n++;
        }
        if (k)
            p = q;
    }
    if (!n)
        fail_msg("man/%s.1: FILES names no library header", name);
}

static void check_filter(const char *name)
{
    char path[1024], *help, *man, *err = NULL;
    int rc;
    const char *d = tu_tmpdir();
    rc = tu_sh("%s --help > %s/help.txt 2>&1", tu_bin(name), d);
    if (rc)
        fail_msg("%s --help exits %d", name, rc);
    rc = tu_sh("%s --version | grep -q '^%s (lrcpipe) '", tu_bin(name), name);
    if (rc)
        fail_msg("%s --version does not print '%s (lrcpipe) VERSION'", name, name);
    snprintf(path, sizeof path, "%s/help.txt", d);
    help = tu_read(path, NULL);
    snprintf(path, sizeof path, "%s/man/%s.1", tu_root(), name);
    man = tu_read(path, NULL);
    if (!man)
        fail_msg("%s has no man page %s", name, path);
    rc = tu_sh_err(&err, "mandoc -Tlint -W warning %s", path);
    if (rc)
        fail_msg("mandoc -Tlint %s: %s", path, err);
    free(err);
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, ".SH %s", sections[i]);
        if (!strstr(man, pat))
            fail_msg("man/%s.1 lacks section %s", name, sections[i]);
    }
    check_files(name, man);
    /* every "--option" token of --help, as "\-\-option" in the page */
    for (char *p = help; (p = strstr(p, "--")); ) {
        char opt[64], esc[80];
        size_t n = 0;
        p += 2;
        while (n < sizeof opt - 1 && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            opt[n++] = *p++;
        opt[n] = '\0';
        if (n < 2)
            continue;
        snprintf(esc, sizeof esc, "\\-\\-%s", opt);
        if (!strstr(man, esc))
            fail_msg("man/%s.1 does not document --%s (listed by --help)", name, opt);
    }
    free(help);
    free(man);
}

static void test_every_filter(void **state)
{
    (void)state;
    DIR *dir = opendir(tu_bindir());
    struct dirent *e;
    int n = 0;
    assert_non_null(dir);
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        print_message("checking %s\n", e->d_name);
        check_filter(e->d_name);
        n++;
    }
    closedir(dir);
    assert_true(n >= 1);
}

/* make install honours PREFIX and DESTDIR, and installs binaries and pages. */
static void test_install(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    const char *san = getenv("SANITIZE");
    int rc = tu_sh("make -s -C %s install DESTDIR=%s/dest PREFIX=/opt/lrc SANITIZE=%s >/dev/null 2>&1 && "
                   "test -x %s/dest/opt/lrc/bin/frame-cat && test -f %s/dest/opt/lrc/share/man/man1/frame-cat.1 && "
                   "%s/dest/opt/lrc/bin/frame-cat --version >/dev/null && "
                   "test $(ls %s/dest/opt/lrc/bin | wc -l) = $(ls %s | wc -l)",
                   tu_root(), d, san ? san : "", d, d, d, d, tu_bindir());
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_filter),
        cmocka_unit_test(test_install),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

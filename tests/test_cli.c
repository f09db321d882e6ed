/* Every filter names the option it refuses: an unknown one (with the
 * nearest valid one for a likely typo, taken from the filter's own
 * --help), one missing its value or given one it does not take, and an
 * ambiguous abbreviation; each a one-line usage error, status 2. And the
 * suggestion rule itself on a table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "testutil.h"

static const char *filters[] = {"ct-resample", "slice-extract", "fz-superpixel", "elastic-aug", "lrc-train",
                                "seg-finetune", "slice-regroup", "dice-eval", "frame-cat", "frame-view"};

/* The long options --help lists, in order. */
static int help_options(const char *filter, char names[][64], int max)
{
    char *txt, path[4096];
    int n = 0;
    snprintf(path, sizeof path, "%s/help_%s.txt", tu_tmpdir(), filter);
    if (tu_sh("%s --help > %s", tu_bin(filter), path))
        return 0;
    txt = tu_read(path, NULL);
    for (char *p = txt; p && (p = strstr(p, "--")) && n < max; p += 2) {
        int len = (int)strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (len >= 2 && len < 64 && (p == txt || p[-1] == ' ' || p[-1] == ',')) {
            memcpy(names[n], p + 2, (size_t)len);
            names[n][len] = '\0';
            n++;
        }
    }
    free(txt);
    return n;
}

static void test_each_filter(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        const char *f = filters[i];
        char names[200][64], cmd[512], want[256], typo[64];
        int n = help_options(f, names, 200), typos = 0;
        if (n < 3)
            fail_msg("%s --help lists %d long options", f, n);
        snprintf(cmd, sizeof cmd, "%s --frobnicate < /dev/null", f);
        snprintf(want, sizeof want, "%s: option '--frobnicate': unknown", f);
        tu_expect(cmd, 2, want, "--help");
        snprintf(cmd, sizeof cmd, "%s --quiet=1 < /dev/null", f);
        tu_expect(cmd, 2, "option '--quiet': takes no value", NULL);
        snprintf(cmd, sizeof cmd, "%s --max-record < /dev/null", f);
        tu_expect(cmd, 2, "option '--max-record': needs a value", NULL);
        snprintf(cmd, sizeof cmd, "%s -i", f);
        tu_expect(cmd, 2, "option '-i': needs a value", NULL);
        snprintf(cmd, sizeof cmd, "%s -Z < /dev/null", f);
        tu_expect(cmd, 2, "option '-Z': unknown", NULL);
        /* typos of the filter's own options: two letters swapped */
        for (int k = 0; k < n && typos < 3; k++) {
            size_t len = strlen(names[k]);
            int clash = 0;
            if (len < 6 || strchr(names[k], '-'))
                continue;
            snprintf(typo, sizeof typo, "%s", names[k]);
            typo[2] = names[k][3];
            typo[3] = names[k][2];
            for (int j = 0; j < n; j++) /* getopt takes an abbreviation */
                clash |= !strncmp(names[j], typo, strlen(typo));
            if (clash || typo[2] == typo[3])
                continue;
            snprintf(cmd, sizeof cmd, "%s --%s < /dev/null", f, typo);
            snprintf(want, sizeof want, "option '--%s': unknown; did you mean '--%s'?", typo, names[k]);
            tu_expect(cmd, 2, want, NULL);
            typos++;
        }
        if (!typos)
            fail_msg("%s: no option to make a typo of", f);
    }
}

static void test_rule(void **state)
{
    static const struct option lo[] = {{"spacing", required_argument, 0, 's'}, {"seed", required_argument, 0, 1},
                                       {"steps", required_argument, 0, 2},     {"quiet", no_argument, 0, 'q'},
                                       {"nsd", required_argument, 0, 3},       {0, 0, 0, 0}};
    static const struct {
        const char *arg, *want;
    } cases[] = {
        {"--spacng", "option '--spacng': unknown; did you mean '--spacing'?"},
        {"--spaicng=2", "option '--spaicng': unknown; did you mean '--spacing'?"},
        {"--stpes", "option '--stpes': unknown; did you mean '--steps'?"},
        {"--frobnicate", "option '--frobnicate': unknown"},
        {"--nds", "option '--nds': unknown; did you mean '--nsd'?"},
        {"--ab", "option '--ab': unknown"}, /* too short for a guess */
        {"--s", "option '--s': ambiguous (--spacing, --seed, --steps)"},
        {"--quiet=1", "option '--quiet': takes no value"},
        {"--seed", "option '--seed': needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {"prog", (char *)cases[i].arg, NULL}, buf[256];
        optind = 2; /* as getopt_long leaves it after the option */
        optopt = 0;
        opt_bad_message(buf, sizeof buf, argv, "s:q", lo);
        if (strcmp(buf, cases[i].want))
            fail_msg("%s: '%s', want '%s'", cases[i].arg, buf, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_each_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

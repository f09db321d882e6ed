#include "core/namepat.h"

#include <string.h>

int namepat_expand(const char *pattern, const char *keys, const char *const *vals, char *out, size_t n, char *bad)
{
    size_t used = 0;
    for (const char *p = pattern; *p; p++) {
        char tmp[2] = {*p, '\0'};
        const char *s = tmp;
        if (*p == '%') {
            const char *k = *++p ? strchr(keys, *p) : NULL;
            if (*p == '%')
                s = "%";
            else if (k)
                s = vals[k - keys];
            else {
                *bad = *p ? *p : ' ';
                return 1;
            }
        }
        if (used + strlen(s) >= n)
            return 2;
        memcpy(out + used, s, strlen(s));
        used += strlen(s);
    }
    out[used] = '\0';
    return 0;
}

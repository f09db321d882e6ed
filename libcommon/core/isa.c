#include "core/isa.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int isa_cur = -1;

int isa_cpu_has(int isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    switch (isa) {
    case ISA_C:
        return 1;
    case ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    }
    return 0;
#else
    return isa == ISA_C;
#endif
}

const char *isa_name(int isa)
{
    return isa == ISA_AVX512 ? "avx512" : isa == ISA_AVX2 ? "avx2" : "c";
}

int isa_active(void)
{
    if (isa_cur < 0) {
        const char *e = getenv("LRCPIPE_ISA");
        int want = -1;
        if (e && *e)
            for (int i = ISA_C; i <= ISA_AVX512; i++)
                if (!strcmp(e, isa_name(i)))
                    want = i;
        if (want >= 0 && isa_cpu_has(want))
            isa_cur = want;
        else
            isa_cur = isa_cpu_has(ISA_AVX512) ? ISA_AVX512 : isa_cpu_has(ISA_AVX2) ? ISA_AVX2 : ISA_C;
    }
    return isa_cur;
}

int isa_set(int isa)
{
    if (isa < ISA_C || isa > ISA_AVX512)
        return err_set("unknown instruction set %d", isa);
    if (!isa_cpu_has(isa))
        return err_set("this CPU has no %s", isa_name(isa));
    isa_cur = isa;
    return 0;
}

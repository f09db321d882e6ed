/*
 * enginefix — a temporary workaround for an engine bug, used by lrctrainer.c
 * and mocotrainer.c only. DELETE this file (and its calls) once the engine
 * initialises its mvals.
 *
 * The engine's unet_config_json, resnet_config_json, resdec_config_json,
 * mlp_config_json and optim_config_json (the last reached through
 * ckpt_put_optim, mlp_config_json through mlp_ckpt_put) declare `mval m;`
 * without an initialiser and call mval_set_map(&m), which first frees
 * whatever the uninitialised bytes describe: a crash ("double free") when the
 * stack happens to hold an old mval, as it does in lrc-train. The fix is
 * `mval m = {0};` in those five functions (engine's files). Until then,
 * lrc_stack_scrub() zeroes the stack below the caller, where the next call's
 * frames will lie, so that the uninitialised mval reads as MV_NIL.
 */
#ifndef LRC_ENGINEFIX_H
#define LRC_ENGINEFIX_H

#include <string.h>

static __attribute__((noinline, unused)) void lrc_stack_scrub(void)
{
    volatile char pad[32768];
    memset((char *)pad, 0, sizeof pad);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

#endif

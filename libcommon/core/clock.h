/*
 * clock — seconds on the monotonic clock, for rates, timeouts and logs'
 * elapsed times (never for dates: it starts at an arbitrary point).
 */
#ifndef LRC_CLOCK_H
#define LRC_CLOCK_H

#include <time.h>

static inline double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif

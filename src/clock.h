/*
 * Seconds on the monotonic clock: how long something took (a snapshot, a
 * dump, a __repr__), never a date.
 */
#ifndef RS_CLOCK_H
#define RS_CLOCK_H

#include <time.h>

static inline double rs_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif

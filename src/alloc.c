/*
 * Allocation for the graph core and analyses.  One place so that tests can
 * make any allocation fail (rs_alloc_fail_after) and prove that every
 * failure becomes an error return, never a crash.
 */
#include <stdlib.h>

#include "refscope/graph.h"

/* Countdown to the injected failure; 0 = none.  Tests only: the engine runs
 * with the GIL held, so a plain static is enough. */
static long fail_countdown;

void rs_alloc_fail_after(long n)
{
    fail_countdown = n > 0 ? n : 0;
}

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

void *rs_malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size ? size : 1);
}

void *rs_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *rs_realloc(void *ptr, size_t size)
{
    return should_fail() ? NULL : realloc(ptr, size ? size : 1);
}

void rs_free(void *ptr)
{
    free(ptr);
}

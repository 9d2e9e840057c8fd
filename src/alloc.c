/*
 * Allocation for the graph core and analyses.  One place so that tests can
 * make any allocation fail (rs_alloc_fail_after) and prove that every
 * failure becomes an error return, never a crash.
 *
 * Big arrays (node and edge arrays of a million-object heap are tens of
 * megabytes) are mapped directly and marked for transparent huge pages:
 * first touches then fault 2 MiB at a time instead of 4 KiB, which was a
 * large share of snapshot time, and growing them with mremap moves page
 * tables instead of copying bytes.  Every block carries a small header
 * saying which kind it is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "refscope/graph.h"

#define BIG_BLOCK ((size_t)2 << 20)
#define HEADER 16 /* keeps the 16-byte alignment malloc gives */

typedef struct header {
    size_t mapped; /* length of the mapping, 0 for a malloc block */
    size_t size;   /* bytes asked for */
} header;

/* Bytes and blocks handed out and not yet freed: lets tests prove that
 * every path, failures included, frees what it took. */
static size_t live_bytes, live_blocks;

size_t rs_alloc_live_bytes(void)
{
    return live_bytes;
}

size_t rs_alloc_live_blocks(void)
{
    return live_blocks;
}

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

static size_t map_length(size_t size)
{
    return (size + HEADER + BIG_BLOCK - 1) & ~(BIG_BLOCK - 1);
}

static void *map_block(size_t size)
{
    size_t len = map_length(size);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, len, MADV_HUGEPAGE); /* advice only: failure is harmless */
    ((header *)p)->mapped = len;
    ((header *)p)->size = size;
    live_bytes += size;
    live_blocks++;
    return (char *)p + HEADER;
}

static void *wrap_malloc(void *p, size_t size)
{
    if (p == NULL)
        return NULL;
    ((header *)p)->mapped = 0;
    ((header *)p)->size = size;
    live_bytes += size;
    live_blocks++;
    return (char *)p + HEADER;
}

void *rs_malloc(size_t size)
{
    if (should_fail() || size > SIZE_MAX - BIG_BLOCK)
        return NULL;
    if (size >= BIG_BLOCK)
        return map_block(size);
    return wrap_malloc(malloc(size + HEADER), size);
}

void *rs_calloc(size_t count, size_t size)
{
    if (should_fail() || (size && count > (SIZE_MAX - BIG_BLOCK) / size))
        return NULL;
    size_t total = count * size;
    if (total >= BIG_BLOCK)
        return map_block(total); /* fresh mappings are zero-filled */
    return wrap_malloc(calloc(1, total + HEADER), total);
}

void *rs_realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return rs_malloc(size);
    if (should_fail() || size > SIZE_MAX - BIG_BLOCK)
        return NULL;
    header *h = (header *)((char *)ptr - HEADER);
    if (h->mapped != 0) {
        size_t len = map_length(size);
        if (len == h->mapped) {
            live_bytes = live_bytes - h->size + size;
            h->size = size;
            return ptr;
        }
        void *p = mremap(h, h->mapped, len, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
            return size + HEADER <= h->mapped ? ptr : NULL; /* a failed shrink keeps the block */
        madvise(p, len, MADV_HUGEPAGE);
        live_bytes = live_bytes - ((header *)p)->size + size;
        ((header *)p)->mapped = len;
        ((header *)p)->size = size;
        return (char *)p + HEADER;
    }
    if (size >= BIG_BLOCK) { /* small block outgrowing malloc: move it to a mapping */
        void *big = map_block(size);
        if (big == NULL)
            return NULL;
        memcpy(big, ptr, h->size < size ? h->size : size);
        live_bytes -= h->size;
        live_blocks--;
        free(h);
        return big;
    }
    size_t old = h->size;
    void *p = realloc(h, size + HEADER);
    if (p == NULL)
        return NULL;
    live_bytes -= old;
    live_blocks--;
    return wrap_malloc(p, size);
}

void rs_free(void *ptr)
{
    if (ptr == NULL)
        return;
    header *h = (header *)((char *)ptr - HEADER);
    live_bytes -= h->size;
    live_blocks--;
    if (h->mapped != 0)
        munmap(h, h->mapped);
    else
        free(h);
}

char *rs_strdup(const char *text)
{
    size_t len = strlen(text);
    char *copy = rs_malloc(len + 1);
    if (copy != NULL)
        memcpy(copy, text, len + 1);
    return copy;
}

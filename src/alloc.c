/*
 * Allocation for the graph core and analyses.  One place so that tests can
 * make any allocation fail (rs_alloc_fail_after) and prove that every
 * failure becomes an error return, never a crash.
 *
 * Big arrays (node and edge arrays of a million-object heap are tens of
 * megabytes) are mapped directly: growing them with mremap moves page
 * tables instead of copying bytes.  Every block carries a small header
 * saying which kind it is.  They are not marked for transparent huge
 * pages (MADV_HUGEPAGE): with the kernel's usual defrag=madvise setting a
 * first touch of such memory compacts memory to find 2 MiB pages, and a
 * process's first snapshot of 10M objects took 3.1 s instead of 1.2 s
 * (cycles() after it 1.5 s instead of 0.47 s); huge pages made later
 * snapshots, which reuse kept blocks, only 0-10% faster.
 *
 * Freed big blocks are not unmapped at once: the most recent ones, up to
 * KEEP_BYTES, are kept for the next snapshot with their pages given back
 * lazily (MADV_FREE).  Until the kernel needs the memory the pages stay
 * mapped, so the next snapshot writes into them without a page fault or
 * the kernel zeroing them first (a snapshot usually follows one of the
 * same heap: :refresh, mark/growth, a benchmark's rows).  They count in
 * the process's RSS until the kernel reclaims them; rs_alloc_release_kept()
 * unmaps them.  rs_calloc() zeroes a kept block itself.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "refscope/graph.h"

#define BIG_BLOCK ((size_t)2 << 20)
#define HEADER 16 /* keeps the 16-byte alignment malloc gives */
#define KEEP_BLOCKS 16
#define KEEP_BYTES ((size_t)256 << 20)

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

/* Freed mappings kept for reuse, oldest first; their pages are MADV_FREE. */
typedef struct kept_block {
    void *base;
    size_t len;
} kept_block;

static kept_block kept[KEEP_BLOCKS];
static size_t kept_count, kept_bytes;

size_t rs_alloc_kept_bytes(void)
{
    return kept_bytes;
}

static void drop_kept(size_t i)
{
    kept_bytes -= kept[i].len;
    memmove(&kept[i], &kept[i + 1], (kept_count - i - 1) * sizeof *kept);
    kept_count--;
}

void rs_alloc_release_kept(void)
{
    while (kept_count > 0) {
        munmap(kept[0].base, kept[0].len);
        drop_kept(0);
    }
}

/* Unmaps the mapping at base, or keeps it (evicting the oldest kept ones
 * to stay within KEEP_BLOCKS and KEEP_BYTES). */
static void unmap_or_keep(void *base, size_t len)
{
    if (len > KEEP_BYTES || madvise(base, len, MADV_FREE) != 0) {
        munmap(base, len);
        return;
    }
    while (kept_count == KEEP_BLOCKS || kept_bytes + len > KEEP_BYTES) {
        munmap(kept[0].base, kept[0].len);
        drop_kept(0);
    }
    kept[kept_count++] = (kept_block){base, len};
    kept_bytes += len;
}

/* Whether a kept mapping of length a serves a request for len better than
 * one of length b: one that fits beats one that does not; among those that
 * fit the shortest (least to unmap), among the others the longest (least
 * to map anew). */
static bool better_fit(size_t a, size_t b, size_t len)
{
    if ((a >= len) != (b >= len))
        return a >= len;
    return a >= len ? a < b : a > b;
}

/* A kept mapping resized to len (the smallest kept one that is long
 * enough, else the longest), or NULL when none is kept.  *old_len receives
 * its length before: bytes past it are fresh and zero. */
static void *reuse_kept(size_t len, size_t *old_len)
{
    if (kept_count == 0)
        return NULL;
    size_t best = 0;
    for (size_t i = 1; i < kept_count; i++)
        if (better_fit(kept[i].len, kept[best].len, len))
            best = i;
    void *p = kept[best].base;
    *old_len = kept[best].len;
    drop_kept(best);
    if (*old_len == len)
        return p;
    void *q = mremap(p, *old_len, len, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) {
        munmap(p, *old_len);
        return NULL;
    }
    return q;
}

/* A mapping for size bytes after the header; zeroed when zero is set
 * (fresh mappings are, kept ones are cleared here). */
static void *map_block(size_t size, bool zero)
{
    size_t len = map_length(size), old_len = 0;
    void *p = reuse_kept(len, &old_len);
    if (p != NULL) {
        if (zero)
            memset((char *)p + HEADER, 0, (old_len < len ? old_len : len) - HEADER);
    } else {
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
    }
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
        return map_block(size, false);
    return wrap_malloc(malloc(size + HEADER), size);
}

void *rs_calloc(size_t count, size_t size)
{
    if (should_fail() || (size && count > (SIZE_MAX - BIG_BLOCK) / size))
        return NULL;
    size_t total = count * size;
    if (total >= BIG_BLOCK)
        return map_block(total, true);
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
        live_bytes = live_bytes - ((header *)p)->size + size;
        ((header *)p)->mapped = len;
        ((header *)p)->size = size;
        return (char *)p + HEADER;
    }
    if (size >= BIG_BLOCK) { /* small block outgrowing malloc: move it to a mapping */
        void *big = map_block(size, false);
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
        unmap_or_keep(h, h->mapped);
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

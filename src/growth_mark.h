/*
 * The mark, shared by growth.c (which makes it and compares snapshots with
 * it) and growth_walk.c (which compares the live heap with it directly).
 * Private to those two files.
 *
 * The mark numbers its objects in address order, grouped by 4 KiB page of
 * address space: a hash table of the pages that hold marked objects, each
 * entry a bitmap of the page's 16-byte grains where a marked object starts
 * (no two objects start in one grain: an object is at least 16 bytes) and
 * the number of its first object; an object's number is that plus the
 * bits before its own, and types[number] is its type.  Objects that are
 * near in memory (allocated together, and so near in gc's lists) share a
 * page entry and neighbouring types, so growth's lookups mostly hit cache;
 * and it is small: a 48-byte entry per page (at a load of at most 1/2) and
 * 4 bytes per object, about 6 bytes per object on a heap of small objects
 * (an address hash of (address, type) slots took 18).
 */
#ifndef REFSCOPE_GROWTH_MARK_H
#define REFSCOPE_GROWTH_MARK_H

#include <stdint.h>
#include <string.h>

#include "analysis.h"

#define MARK_NONE UINT32_MAX
#define MARK_PAGE_SHIFT 12
#define MARK_GRAIN_SHIFT 4
/* types[] holds the type index in the low bits and the address's bits
 * below the grain above them: an object of another type or at another
 * address in the same grain (an allocator aligning to less than 16) is
 * not the marked one. */
#define MARK_TYPE_BITS 28
#define MARK_TYPE_MASK ((1u << MARK_TYPE_BITS) - 1)

typedef struct mark_type {
    PyTypeObject *type;     /* compared by address only: never dereferenced */
    char *name;
    uint64_t count;
    uint64_t size;
} mark_type;

typedef struct mark_page {
    uintptr_t key;          /* address >> MARK_PAGE_SHIFT, plus 1; 0: an empty entry */
    uint32_t first;         /* the number of the page's first marked object */
    uint8_t before[4];      /* marked objects in the bitmap words before each word */
    uint64_t bits[4];       /* a bit per grain where a marked object starts */
} mark_page;

typedef struct growth_mark {
    mark_page *pages;       /* page_cap entries, at most half of them used */
    size_t page_cap, page_count;
    uint32_t *types;        /* per object number: type index and low address bits */
    size_t count;           /* objects marked */
    mark_type *type_table;
    uint32_t type_count;
    double taken_at;
} growth_mark;

/* The process's one mark, or NULL. */
const growth_mark *growth_current_mark(void);

/* The first entry to probe for page key key in a table of cap entries
 * (multiply-shift: cap need not be a power of two). */
static inline size_t mark_page_home(size_t cap, uintptr_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(((unsigned __int128)h * cap) >> 64);
}

/* The entry of addr's page, or NULL when no marked object is in it. */
static inline const mark_page *mark_page_of(const growth_mark *m, uintptr_t addr)
{
    uintptr_t key = (addr >> MARK_PAGE_SHIFT) + 1;
    for (size_t s = mark_page_home(m->page_cap, key);; s = s + 1 == m->page_cap ? 0 : s + 1) {
        const mark_page *p = &m->pages[s];
        if (p->key == key)
            return p;
        if (p->key == 0)
            return NULL;
    }
}

/* The bits set in x, without the libgcc call __builtin_popcountll makes
 * when the target may lack the instruction (x86-64's baseline). */
static inline unsigned mark_popcount(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* The number of the object that starts in addr's grain of page p (whose
 * bit is set). */
static inline size_t mark_number_in(const mark_page *p, uintptr_t addr)
{
    unsigned grain = (unsigned)(addr >> MARK_GRAIN_SHIFT) & 255;
    uint64_t below = p->bits[grain >> 6] & (((uint64_t)1 << (grain & 63)) - 1);
    return p->first + p->before[grain >> 6] + mark_popcount(below);
}

static inline bool mark_page_has(const mark_page *p, uintptr_t addr)
{
    unsigned grain = (unsigned)(addr >> MARK_GRAIN_SHIFT) & 255;
    return (p->bits[grain >> 6] >> (grain & 63)) & 1;
}

/* Starts loading what looking addr up will read first. */
static inline void mark_prefetch(const growth_mark *m, uintptr_t addr)
{
    __builtin_prefetch(&m->pages[mark_page_home(m->page_cap, (addr >> MARK_PAGE_SHIFT) + 1)]);
}

/* The number of the grain of addr if the mark has an object starting in
 * it, else SIZE_MAX: reads only the page table, so that types[] can be
 * prefetched before mark_confirm() reads it. */
static inline size_t mark_locate(const growth_mark *m, uintptr_t addr)
{
    const mark_page *p = mark_page_of(m, addr);
    return p != NULL && mark_page_has(p, addr) ? mark_number_in(p, addr) : SIZE_MAX;
}

/* n (from mark_locate(m, addr)) when the marked object is at addr itself,
 * else SIZE_MAX. */
static inline size_t mark_confirm(const growth_mark *m, size_t n, uintptr_t addr)
{
    return n != SIZE_MAX && m->types[n] >> MARK_TYPE_BITS == (addr & ((1u << MARK_GRAIN_SHIFT) - 1)) ? n : SIZE_MAX;
}

/* The number of the marked object at addr, or SIZE_MAX when the mark has
 * none there. */
static inline size_t mark_find(const growth_mark *m, uintptr_t addr)
{
    return mark_confirm(m, mark_locate(m, addr), addr);
}

/* The mark's type index of marked object number n. */
static inline uint32_t mark_object_type(const growth_mark *m, size_t n)
{
    return m->types[n] & MARK_TYPE_MASK;
}

/* The mark's type index of type tp named name, or MARK_NONE; hint is the
 * likely index (types are numbered in walk order). */
uint32_t growth_mark_type_of(const growth_mark *m, PyTypeObject *tp, const char *name, uint32_t hint);

/* Per type of the heap now, what a comparison with the mark found. */
typedef struct growth_tally {
    uint32_t to_mark;       /* the mark's type index, or MARK_NONE */
    int64_t count, size;    /* objects of the type now, and their bytes */
    size_t new_count;       /* of which new since the mark */
} growth_tally;

/* Fills out->rows from the tallies of the heap's types (names[t] borrowed
 * for the rows) and the mark's types no object has now; turns each
 * tally's new_count into the index of its row's first new object in
 * new_nodes/new_objects order.  0, or -1 on memory failure (nothing set). */
int growth_rows(const growth_mark *m, growth_tally *tally, const rs_type_info *types, uint32_t type_count,
                rs_growth_result *out);

#endif

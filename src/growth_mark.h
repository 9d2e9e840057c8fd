/*
 * The mark, shared by growth.c (which makes it and compares snapshots with
 * it) and growth_walk.c (which compares the live heap with it directly).
 * Private to those two files.
 *
 * The mark is an open-addressing hash table of (address, type) slots,
 * 12 bytes each at a load of about 2/3 (18 bytes per object): growth looks
 * up each object of the heap in it while walking, so a lookup must cost one
 * cache line, and the slot index doubles as the object's number for a
 * "seen" bitmap.
 */
#ifndef REFSCOPE_GROWTH_MARK_H
#define REFSCOPE_GROWTH_MARK_H

#include <stdint.h>
#include <string.h>

#include "analysis.h"

#define MARK_SLOT_BYTES 12
#define MARK_NONE UINT32_MAX

typedef struct mark_type {
    PyTypeObject *type;     /* compared by address only: never dereferenced */
    char *name;
    uint64_t count;
    uint64_t size;
} mark_type;

typedef struct growth_mark {
    unsigned char *slots;   /* slot_count slots: address (0: empty), type index */
    size_t slot_count;
    size_t count;           /* objects marked */
    mark_type *type_table;
    uint32_t type_count;
    double taken_at;
} growth_mark;

/* The process's one mark, or NULL. */
const growth_mark *growth_current_mark(void);

static inline uintptr_t mark_slot_addr(const growth_mark *m, size_t slot)
{
    uintptr_t addr;
    memcpy(&addr, m->slots + slot * MARK_SLOT_BYTES, sizeof addr);
    return addr;
}

static inline uint32_t mark_slot_type(const growth_mark *m, size_t slot)
{
    uint32_t type;
    memcpy(&type, m->slots + slot * MARK_SLOT_BYTES + sizeof(uintptr_t), sizeof type);
    return type;
}

/* The first slot to probe for addr (multiply-shift: slot_count need not be a
 * power of two). */
static inline size_t mark_home_slot(const growth_mark *m, uintptr_t addr)
{
    uint64_t h = (uint64_t)(addr >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(((unsigned __int128)h * m->slot_count) >> 64);
}

/* The slot holding addr, or SIZE_MAX when the mark lacks it. */
static inline size_t mark_find(const growth_mark *m, uintptr_t addr)
{
    size_t s = mark_home_slot(m, addr);
    for (;;) {
        uintptr_t a = mark_slot_addr(m, s);
        if (a == addr)
            return s;
        if (a == 0)
            return SIZE_MAX;
        s = s + 1 == m->slot_count ? 0 : s + 1;
    }
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

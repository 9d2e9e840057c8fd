/*
 * growth() without a snapshot: the heap compared with the mark as it is
 * walked.  Besides walk.c the one engine file that traverses the heap: it
 * builds no graph.  A snapshot would intern every object in a fresh
 * address hash and the comparison would then look every marked address up
 * in it; here each object the walk meets is looked up once in the mark's
 * own table instead, and only what the mark lacks (the new objects, few
 * when little grew) goes into a table of its own.  The objects are those
 * a nodes-only snapshot has:
 *
 *   roots_visit      root targets met (frame locals no traversal shows)
 *   walk_tracked     gc's lists walked from both ends; each tracked
 *                    object, AHEAD behind the list walk (its mark page,
 *                    type and attribute values prefetched on the way),
 *                    counted under its type, found old or new, sized and
 *                    traversed: edges to tracked objects are dropped (the
 *                    lists meet each of those once), the others gathered
 *                    in batches and met if not met yet (untracked str,
 *                    int, tuples...), queued if they can hold references
 *   traverse_queued  the queue traversed likewise until it is empty
 *
 * Met means, for an untracked object (a tracked one is met once, from the
 * lists): old ones have their bit set in a bitmap (the mark numbers its
 * objects), new ones are in the table of new addresses.
 * refscope's own objects are never counted nor traversed, as a snapshot
 * hides them.  No reference is taken but to new objects (the result
 * returns them): between the first and the last stage no Python code runs
 * and automatic gc is off, so nothing can be freed.  A type is matched to
 * the mark's by its address during the walk; its name is compared after,
 * and a type whose name differs (its address reused by another type) is
 * matched to nothing and the walk done again.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "clock.h"
#include "growth_mark.h"
#include "module.h"
#include "pyinternal.h"
#include "roots.h"
#include "typetable.h"

/* Edges gathered before their referents are looked at. */
#define EDGE_BATCH 256
/* Recent referents remembered, direct-mapped (a power of two): edges to
 * None, a class, a small int, an interned name repeat often. */
#define KNOWN_CACHE 512
/* In fresh_type: the new object is gc-tracked. */
#define FRESH_TRACKED 0x80000000u
/* How far behind the list walk the tracked objects are handled. */
#define AHEAD 16

typedef struct gwalk {
    const growth_mark *m;
    const uint8_t *refused;  /* per mark type: never matched (its name differs) */
    uint64_t *seen;          /* a bit per marked object: met, untracked */
    rs_type_table types;
    growth_tally *tally;     /* per type id */
    uint8_t *internal;       /* per type id: refscope's own, hidden */
    uint64_t *fixed_size;    /* per type id: every instance's size, or 0 */
    uint32_t known_types, type_cap;
    uintptr_t *met;          /* addresses met that the mark lacks; 0: empty */
    size_t met_cap, met_count;
    PyObject **fresh;        /* new objects in the order met (owned references) */
    uint32_t *fresh_type;
    uint64_t *fresh_order;   /* of a tracked one: its order in the tracked lists */
    uint64_t order;          /* the tracked object being walked's */
    size_t fresh_count, fresh_cap;
    PyObject **queue;        /* met, untracked, may hold references: to traverse */
    size_t queue_head, queue_len, queue_cap;
    uintptr_t batch[EDGE_BATCH];  /* referents of edges met, to look up together */
    size_t located[EDGE_BATCH];   /* their mark_locate() */
    uintptr_t known[KNOWN_CACHE]; /* referents batched before, by address */
    size_t batch_len;
    int failed;              /* memory */
} gwalk;

/* The mark's type index for tp by address, skipping refused ones. */
static uint32_t mark_type_by_address(const gwalk *w, PyTypeObject *tp, uint32_t hint)
{
    const growth_mark *m = w->m;
    if (hint < m->type_count && m->type_table[hint].type == tp && !w->refused[hint])
        return hint;
    for (uint32_t k = 0; k < m->type_count; k++)
        if (m->type_table[k].type == tp && !w->refused[k])
            return k;
    return MARK_NONE;
}

/* Sets *id to op's type id, with its tally and facts ready.  -1 on
 * memory failure. */
static int type_of(gwalk *w, PyObject *op, uint32_t *id)
{
    if (rs_type_table_intern(&w->types, Py_TYPE(op), id) < 0)
        return -1;
    if (*id < w->known_types)
        return 0;
    if (*id >= w->type_cap) {
        uint32_t cap = w->type_cap ? w->type_cap * 2 : 1024;
        growth_tally *t = rs_realloc(w->tally, cap * sizeof *t);
        if (t != NULL)
            w->tally = t;
        uint8_t *in = rs_realloc(w->internal, cap);
        if (in != NULL)
            w->internal = in;
        uint64_t *z = rs_realloc(w->fixed_size, cap * sizeof *z);
        if (z != NULL)
            w->fixed_size = z;
        if (t == NULL || in == NULL || z == NULL)
            return -1;
        w->type_cap = cap;
    }
    for (; w->known_types <= *id; w->known_types++) {
        PyTypeObject *k = w->types.entries[w->known_types].type;
        w->tally[w->known_types] = (growth_tally){.to_mark = mark_type_by_address(w, k, w->known_types)};
        w->internal[w->known_types] = (uint8_t)rs_is_internal_type(k);
        w->fixed_size[w->known_types] =
            k == Py_TYPE(op) ? rs_type_table_fixed_size(&w->types, w->known_types, op) : 0;
    }
    return 0;
}

/* 1 when addr was added to the new addresses, 0 when it was there, -1 on
 * memory failure. */
static int met_insert(gwalk *w, uintptr_t addr)
{
    if ((w->met_count + 1) * 2 > w->met_cap) {
        size_t cap = w->met_cap ? w->met_cap * 2 : 1024;
        uintptr_t *t = rs_calloc(cap, sizeof *t);
        if (t == NULL)
            return -1;
        for (size_t i = 0; i < w->met_cap; i++) {
            uintptr_t a = w->met[i];
            if (a == 0)
                continue;
            size_t s = (size_t)(((uint64_t)(a >> 4) * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
            while (t[s] != 0)
                s = (s + 1) & (cap - 1);
            t[s] = a;
        }
        rs_free(w->met);
        w->met = t;
        w->met_cap = cap;
    }
    size_t s = (size_t)(((uint64_t)(addr >> 4) * 0x9E3779B97F4A7C15ull) >> 32) & (w->met_cap - 1);
    for (; w->met[s] != 0; s = (s + 1) & (w->met_cap - 1))
        if (w->met[s] == addr)
            return 0;
    w->met[s] = addr;
    w->met_count++;
    return 1;
}

static int fresh_append(gwalk *w, PyObject *op, uint32_t type)
{
    if (w->fresh_count == w->fresh_cap) {
        size_t cap = w->fresh_cap ? w->fresh_cap * 2 : 1024;
        PyObject **f = rs_realloc(w->fresh, cap * sizeof *f);
        if (f != NULL)
            w->fresh = f;
        uint32_t *t = rs_realloc(w->fresh_type, cap * sizeof *t);
        if (t != NULL)
            w->fresh_type = t;
        uint64_t *o = rs_realloc(w->fresh_order, cap * sizeof *o);
        if (o != NULL)
            w->fresh_order = o;
        if (f == NULL || t == NULL || o == NULL)
            return -1;
        w->fresh_cap = cap;
    }
    w->fresh[w->fresh_count] = Py_NewRef(op);
    w->fresh_order[w->fresh_count] = w->order;
    w->fresh_type[w->fresh_count++] = type;
    return 0;
}

static int enqueue(gwalk *w, PyObject *op)
{
    if (w->queue_len == w->queue_cap) {
        size_t cap = w->queue_cap ? w->queue_cap * 2 : 4096;
        PyObject **q = rs_realloc(w->queue, cap * sizeof *q);
        if (q == NULL)
            return -1;
        w->queue = q;
        w->queue_cap = cap;
    }
    w->queue[w->queue_len++] = op;
    return 0;
}

static bool is_gc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    return PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(op));
}

/* Meets op, whose number in the mark is n (SIZE_MAX: the mark has no
 * object at its address): the first time, counts it and its size under
 * its type, records it when new.  A tracked object is met once (from the
 * tracked lists); an untracked one may be reached again, so it is
 * remembered: by its seen bit when old, in the table of new addresses
 * when new.  1 when met now, 0 when met before or refscope's own, -1 on
 * memory failure. */
static int meet(gwalk *w, PyObject *op, size_t n, bool tracked)
{
    if (!tracked && n != SIZE_MAX && (w->seen[n >> 6] >> (n & 63)) & 1)
        return 0;
    uint32_t t;
    if (type_of(w, op, &t) < 0)
        return -1;
    if (w->internal[t])
        return 0;
    growth_tally *y = &w->tally[t];
    if (n != SIZE_MAX && mark_object_type(w->m, n) == y->to_mark) {
        if (!tracked)
            w->seen[n >> 6] |= (uint64_t)1 << (n & 63);
    } else {
        int r = tracked ? 1 : met_insert(w, (uintptr_t)op);
        if (r <= 0)
            return r;
        if (fresh_append(w, op, t | (tracked ? FRESH_TRACKED : 0)) < 0)
            return -1;
        y->new_count++;
    }
    y->count++;
    int python_sizeof;
    uint64_t size = w->fixed_size[t];
    y->size += (int64_t)(size != 0 ? size : rs_type_table_sizeof(&w->types, t, op, &python_sizeof));
    return 1;
}

/* Meets referent op, untracked: queues it when met now and it can hold
 * references.  -1 on memory failure. */
static int meet_referent(gwalk *w, PyObject *op, size_t located)
{
    int r = meet(w, op, mark_confirm(w->m, located, (uintptr_t)op), false);
    if (r < 0 || (r == 1 && is_gc(op) && Py_TYPE(op)->tp_traverse != NULL && enqueue(w, op) < 0)) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Meets the untracked referents of the edges gathered in the batch (the
 * tracked lists have the others), what the mark lookups read prefetched
 * first. */
static int flush_edges(gwalk *w)
{
    const growth_mark *m = w->m;
    size_t len = 0;
    for (size_t i = 0; i < w->batch_len; i++) {
        w->batch[len] = w->batch[i];
        len += !rs_py_gc_tracked((PyObject *)w->batch[i]);
    }
    w->batch_len = 0;
    for (size_t i = 0; i < len; i++) {
        mark_prefetch(m, w->batch[i]);
        /* Sizing a str reads its state, 32 bytes in: on the next line
         * when the object starts in the second half of one. */
        if ((w->batch[i] & 63) >= 32)
            __builtin_prefetch((const char *)w->batch[i] + 32);
    }
    for (size_t i = 0; i < len; i++) {
        w->located[i] = mark_locate(m, w->batch[i]);
        if (w->located[i] != SIZE_MAX)
            __builtin_prefetch(&m->types[w->located[i]]);
    }
    for (size_t i = 0; i < len; i++)
        if (meet_referent(w, (PyObject *)w->batch[i], w->located[i]) < 0)
            return -1;
    return 0;
}

static int visit_edge(PyObject *op, void *arg)
{
    gwalk *w = arg;
    uintptr_t *known = &w->known[((uintptr_t)op >> 4) & (KNOWN_CACHE - 1)];
    if (*known == (uintptr_t)op)
        return 0;
    *known = (uintptr_t)op;
    __builtin_prefetch(op); /* read when the batch is flushed */
    w->batch[w->batch_len++] = (uintptr_t)op;
    return w->batch_len == EDGE_BATCH ? flush_edges(w) : 0;
}

static int visit_root(PyObject *op, void *arg)
{
    return visit_edge(op, arg);
}

/* A tracked object on its way from the list walk to walk_one(). */
typedef struct ring_entry {
    PyObject *op;
    uint64_t order;
    size_t located; /* mark_locate(), or UNLOCATED */
} ring_entry;

#define UNLOCATED (SIZE_MAX - 1)

/* Sets e->located and prefetches the object's type in the mark. */
static void locate(const growth_mark *m, ring_entry *e)
{
    rs_py_prefetch_traversed(e->op);
    e->located = mark_locate(m, (uintptr_t)e->op);
    if (e->located != SIZE_MAX)
        __builtin_prefetch(&m->types[e->located]);
}

/* Meets, sizes and traverses e's object (unless refscope's own). */
static int walk_one(gwalk *w, ring_entry *e)
{
    if (e->located == UNLOCATED)
        locate(w->m, e);
    w->order = e->order;
    PyObject *op = e->op;
    int r = meet(w, op, mark_confirm(w->m, e->located, (uintptr_t)op), true);
    if (r < 0)
        return -1;
    if (r == 1 && Py_TYPE(op)->tp_traverse != NULL && rs_py_traverse(op, visit_edge, w) != 0 && w->failed)
        return -1;
    return 0;
}

/* After: every tracked object but refscope's own is met, sized and
 * traversed, and what it reaches met.  The list walk runs AHEAD objects
 * in front of that work, so its chain of loads overlaps it: an object's
 * mark page is prefetched when the list walk reaches it, its type in the
 * mark AHEAD / 2 objects later. */
static int walk_tracked(gwalk *w)
{
    const growth_mark *m = w->m;
    rs_tracked_walk it = {0};
    ring_entry ring[AHEAD];
    size_t got = 0, done = 0;
    PyObject *op;
    uint64_t order;
    while (rs_py_tracked_next(&it, &op, &order)) {
        if (got - done == AHEAD && walk_one(w, &ring[done++ % AHEAD]) < 0)
            return -1;
        mark_prefetch(m, (uintptr_t)op);
        /* Its gc header is being read (it leads to the next); locate()
         * reads its type and, on 3.11/3.12, the pre-header before that:
         * lines of their own for a quarter to a half of small objects. */
        __builtin_prefetch((const char *)op - 4 * sizeof(void *));
        __builtin_prefetch(&op->ob_type);
        ring[got++ % AHEAD] = (ring_entry){op, order, UNLOCATED};
        if (got - done > AHEAD / 2)
            locate(m, &ring[(got - 1 - AHEAD / 2) % AHEAD]);
    }
    while (done < got)
        if (walk_one(w, &ring[done++ % AHEAD]) < 0)
            return -1;
    return 0;
}

/* After: the queue is empty and every object it held traversed. */
static int traverse_queued(gwalk *w)
{
    for (;;) {
        if (w->queue_head == w->queue_len) {
            if (flush_edges(w) < 0)
                return -1;
            if (w->queue_head == w->queue_len)
                return 0;
        }
        PyObject *op = w->queue[w->queue_head++];
        if (rs_py_traverse(op, visit_edge, w) != 0 && w->failed)
            return -1;
    }
}

static void walk_free(gwalk *w)
{
    for (size_t i = 0; i < w->fresh_count; i++)
        Py_DECREF(w->fresh[i]);
    rs_free(w->fresh);
    rs_free(w->fresh_type);
    rs_free(w->fresh_order);
    rs_free(w->seen);
    rs_free(w->tally);
    rs_free(w->internal);
    rs_free(w->fixed_size);
    rs_free(w->met);
    rs_free(w->queue);
    rs_type_table_clear(&w->types);
    memset(w, 0, sizeof *w);
}

/* The walk, with automatic gc off.  0, or -1 on memory failure. */
static int walk_heap(gwalk *w)
{
    w->seen = rs_calloc(w->m->count / 64 + 1, sizeof *w->seen);
    return w->seen == NULL || roots_visit(visit_root, w) != 0 || flush_edges(w) < 0 || walk_tracked(w) < 0 ||
                   traverse_queued(w) < 0
               ? -1
               : 0;
}

/* Matches the names of the types matched by address: 0 when all agree,
 * else 1 with the mark's types of the others refused. */
static int refuse_renamed(const gwalk *w, const rs_type_info *types, uint32_t count, uint8_t *refused)
{
    int again = 0;
    for (uint32_t t = 0; t < count; t++) {
        uint32_t k = w->tally[t].to_mark;
        if (k != MARK_NONE && strcmp(w->m->type_table[k].name, types[t].name) != 0) {
            refused[k] = 1;
            again = 1;
        }
    }
    return again;
}

typedef struct fresh_rank {
    uint64_t order;
    size_t index;
} fresh_rank;

static int by_order(const void *a, const void *b)
{
    const fresh_rank *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Moves the walk's findings into out: per type the tracked new objects
 * first, in list order, then the untracked ones in the order met, as a
 * snapshot numbers them. */
static int make_result(gwalk *w, rs_type_info *types, uint32_t type_count, rs_growth_result *out)
{
    out->types = types;
    out->type_count = type_count;
    out->new_objects = rs_malloc((w->fresh_count + 1) * sizeof *out->new_objects);
    fresh_rank *ranks = rs_malloc((w->fresh_count + 1) * sizeof *ranks);
    if (out->new_objects == NULL || ranks == NULL || growth_rows(w->m, w->tally, types, type_count, out) < 0) {
        rs_free(ranks);
        return -1;
    }
    size_t tracked = 0;
    for (size_t i = 0; i < w->fresh_count; i++)
        if (w->fresh_type[i] & FRESH_TRACKED)
            ranks[tracked++] = (fresh_rank){w->fresh_order[i], i};
    qsort(ranks, tracked, sizeof *ranks, by_order);
    for (size_t i = 0, k = tracked; i < w->fresh_count; i++)
        if (!(w->fresh_type[i] & FRESH_TRACKED))
            ranks[k++].index = i;
    for (size_t k = 0; k < w->fresh_count; k++) {
        size_t i = ranks[k].index;
        out->new_objects[w->tally[w->fresh_type[i] & ~FRESH_TRACKED].new_count++] = w->fresh[i];
    }
    rs_free(ranks);
    out->new_total = w->fresh_count;
    w->fresh_count = 0; /* the references are out's now */
    return 0;
}

int rs_growth_now(bool collect, rs_growth_result *out)
{
    memset(out, 0, sizeof *out);
    const growth_mark *m = growth_current_mark();
    if (m == NULL) {
        PyErr_SetString(rs_error, "no mark to compare with; call refscope.mark() first");
        return -1;
    }
    if (collect) {
        /* As gc.collect() does, whatever gc.isenabled() says. */
        int was_enabled = PyGC_Enable();
        PyGC_Collect();
        if (!was_enabled)
            PyGC_Disable();
    }
    double start = rs_monotonic_seconds();
    uint8_t *refused = rs_calloc(m->type_count + 1, 1);
    gwalk w = {0};
    rs_type_info *types = NULL;
    uint32_t type_count = 0;
    if (refused == NULL)
        goto nomem;
    for (;;) {
        w = (gwalk){.m = m, .refused = refused};
        int gc_was_enabled = PyGC_Disable();
        int r = walk_heap(&w);
        if (gc_was_enabled)
            PyGC_Enable();
        if (r < 0 || rs_type_table_export(&w.types, &types, &type_count) < 0)
            goto nomem;
        if (!refuse_renamed(&w, types, type_count, refused))
            break;
        for (uint32_t t = 0; t < type_count; t++)
            rs_free(types[t].name);
        rs_free(types);
        types = NULL;
        walk_free(&w);
    }
    if (make_result(&w, types, type_count, out) < 0)
        goto nomem;
    walk_free(&w);
    rs_free(refused);
    out->seconds = rs_monotonic_seconds() - start;
    return 0;
nomem:
    if (out->types == NULL && types != NULL) {
        for (uint32_t t = 0; t < type_count; t++)
            rs_free(types[t].name);
        rs_free(types);
    }
    rs_growth_result_free(out);
    walk_free(&w);
    rs_free(refused);
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory to compare with the mark");
    return -1;
}

/*
 * Growth: what appeared since a mark.  A mark is compact C data, never
 * Python objects (holding the objects would keep them alive and change the
 * answer): every visible object's address and type, sorted by address,
 * 12 bytes per object, plus per-type totals.  An object of a later snapshot
 * is old when the mark has its address with the same type (same type
 * object and name), so an address freed and reused by another type is
 * new.  The comparison looks the mark's addresses up in the later
 * snapshot's own address hash, in prefetched batches: linear, and the
 * snapshot's addresses need no sorting (sorting them by radix sort and
 * merging took half as long again at 1M objects).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "module.h"

/* Mark addresses looked up in one batch by rs_growth. */
#define MATCH_BATCH 256

typedef struct mark_type {
    PyTypeObject *type;     /* compared by address only: never dereferenced */
    char *name;
    uint64_t count;
    uint64_t size;
} mark_type;

typedef struct growth_mark {
    uintptr_t *addrs;       /* sorted */
    uint32_t *types;        /* index into type table, per address */
    size_t count;
    mark_type *type_table;
    uint32_t type_count;
    double taken_at;
} growth_mark;

/* The process's one mark (refscope.mark() and the browser's :mark). */
static growth_mark *current_mark;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void mark_free(growth_mark *m)
{
    if (m == NULL)
        return;
    for (uint32_t t = 0; t < m->type_count; t++)
        rs_free(m->type_table[t].name);
    rs_free(m->type_table);
    rs_free(m->addrs);
    rs_free(m->types);
    rs_free(m);
}

/* Sorts keys[0..n) ascending, moving vals along: LSD radix sort over the
 * bits in which the keys differ only (addresses relative to the lowest,
 * without the alignment bits all share), in passes of at most 13 bits so
 * that the counts stay in cache; a heap of a few GB needs two or three
 * passes.  tmp_keys/tmp_vals have room for n.  Returns -1 when the counts
 * table cannot be had. */
static int radix_sort(uintptr_t *keys, uint32_t *vals, uintptr_t *tmp_keys, uint32_t *tmp_vals, size_t n)
{
    if (n < 2)
        return 0;
    uintptr_t low = UINTPTR_MAX, spread = 0;
    for (size_t i = 0; i < n; i++)
        low = keys[i] < low ? keys[i] : low;
    for (size_t i = 0; i < n; i++)
        spread |= keys[i] - low;
    if (spread == 0)
        return 0;
    unsigned first = (unsigned)__builtin_ctzl(spread);
    unsigned bits = 8 * sizeof(uintptr_t) - (unsigned)__builtin_clzl(spread) - first;
    unsigned passes = (bits + 12) / 13, digit = (bits + passes - 1) / passes;
    size_t buckets = (size_t)1 << digit;
    size_t *counts = rs_malloc(buckets * sizeof *counts);
    if (counts == NULL)
        return -1;
    uintptr_t *from_keys = keys, *to_keys = tmp_keys;
    uint32_t *from_vals = vals, *to_vals = tmp_vals;
    for (unsigned p = 0; p < passes; p++) {
        unsigned shift = first + p * digit;
        memset(counts, 0, buckets * sizeof *counts);
        for (size_t i = 0; i < n; i++)
            counts[((from_keys[i] - low) >> shift) & (buckets - 1)]++;
        size_t sum = 0;
        for (size_t d = 0; d < buckets; d++) {
            size_t c = counts[d];
            counts[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t pos = counts[((from_keys[i] - low) >> shift) & (buckets - 1)]++;
            to_keys[pos] = from_keys[i];
            to_vals[pos] = from_vals[i];
        }
        uintptr_t *k = from_keys;
        from_keys = to_keys;
        to_keys = k;
        uint32_t *v = from_vals;
        from_vals = to_vals;
        to_vals = v;
    }
    if (from_keys != keys) {
        memcpy(keys, from_keys, n * sizeof *keys);
        memcpy(vals, from_vals, n * sizeof *vals);
    }
    rs_free(counts);
    return 0;
}

/* The visible nodes of s as (address, value) pairs sorted by address;
 * value is the node index.  0, or -1 on memory failure. */
static int sorted_nodes(const rs_snapshot *s, uintptr_t **addrs, uint32_t **nodes, size_t *count)
{
    rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g), k = 0;
    uintptr_t *a = rs_malloc((s->visible_count + 1) * sizeof *a);
    uint32_t *v = rs_malloc((s->visible_count + 1) * sizeof *v);
    uintptr_t *ta = rs_malloc((s->visible_count + 1) * sizeof *ta);
    uint32_t *tv = rs_malloc((s->visible_count + 1) * sizeof *tv);
    if (a == NULL || v == NULL || ta == NULL || tv == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (rs_graph_flags(g, (rs_idx)i) & RS_NODE_INTERNAL)
            continue;
        a[k] = rs_graph_addr(g, (rs_idx)i);
        v[k++] = (uint32_t)i;
    }
    if (radix_sort(a, v, ta, tv, k) < 0)
        goto nomem;
    rs_free(ta);
    rs_free(tv);
    *addrs = a;
    *nodes = v;
    *count = k;
    return 0;
nomem:
    rs_free(a);
    rs_free(v);
    rs_free(ta);
    rs_free(tv);
    return -1;
}

int rs_growth_mark(const rs_snapshot *s)
{
    growth_mark *m = rs_calloc(1, sizeof *m);
    if (m == NULL)
        goto nomem;
    m->type_table = rs_calloc(s->type_count ? s->type_count : 1, sizeof *m->type_table);
    if (m->type_table == NULL)
        goto nomem;
    for (uint32_t t = 0; t < s->type_count; t++) {
        m->type_table[t].type = s->types[t].type;
        m->type_table[t].name = rs_strdup(s->types[t].name);
        if (m->type_table[t].name == NULL)
            goto nomem;
        m->type_count = t + 1;
    }
    if (sorted_nodes(s, &m->addrs, &m->types, &m->count) < 0)
        goto nomem;
    /* The values are node indexes: turn them into type ids, and total up. */
    for (size_t i = 0; i < m->count; i++) {
        rs_idx n = m->types[i];
        uint32_t t = rs_graph_type_id(s->graph, n);
        m->types[i] = t;
        m->type_table[t].count++;
        m->type_table[t].size += rs_graph_size(s->graph, n);
    }
    m->taken_at = now_seconds();
    mark_free(current_mark);
    current_mark = m;
    return 0;
nomem:
    mark_free(m);
    PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory for a mark");
    return -1;
}

int rs_growth_mark_now(size_t *marked)
{
    rs_snapshot *s = rs_snapshot_take_nodes(false);
    if (s == NULL)
        return -1;
    int r = rs_growth_mark(s);
    *marked = s->visible_count;
    rs_snapshot_free(s);
    return r;
}

bool rs_growth_has_mark(void)
{
    return current_mark != NULL;
}

void rs_growth_clear_mark(void)
{
    mark_free(current_mark);
    current_mark = NULL;
}

double rs_growth_mark_age(void)
{
    return current_mark ? now_seconds() - current_mark->taken_at : 0.0;
}

/* The mark's type index for snapshot type t, or UINT32_MAX. */
static uint32_t mark_type_of(const growth_mark *m, const rs_snapshot *s, uint32_t t)
{
    const rs_type_info *ti = &s->types[t];
    /* Type ids are assigned in walk order, so the same id is the likely match. */
    if (t < m->type_count && m->type_table[t].type == ti->type && strcmp(m->type_table[t].name, ti->name) == 0)
        return t;
    for (uint32_t k = 0; k < m->type_count; k++)
        if (m->type_table[k].type == ti->type && strcmp(m->type_table[k].name, ti->name) == 0)
            return k;
    return UINT32_MAX;
}

bool rs_growth_is_new(const rs_snapshot *s, rs_idx n)
{
    const growth_mark *m = current_mark;
    if (m == NULL || s->stored != NULL) /* the mark is of this process */
        return false;
    uintptr_t addr = rs_graph_addr(s->graph, n);
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->addrs[mid] < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == m->count || m->addrs[lo] != addr)
        return true;
    return mark_type_of(m, s, rs_graph_type_id(s->graph, n)) != m->types[lo];
}

static int by_delta_desc(const void *a, const void *b)
{
    const rs_growth_row *x = a, *y = b;
    if (x->delta_size != y->delta_size)
        return x->delta_size < y->delta_size ? 1 : -1;
    if (x->delta_count != y->delta_count)
        return x->delta_count < y->delta_count ? 1 : -1;
    return strcmp(x->type_name, y->type_name);
}

void rs_growth_result_free(rs_growth_result *r)
{
    rs_free(r->rows);
    rs_free(r->new_nodes);
    memset(r, 0, sizeof *r);
}

/* After: old[n] is 1 for every visible node n whose (address, type) the
 * mark has.  The mark's addresses are looked up in the snapshot's own
 * address hash, a batch at a time with the slots prefetched: no sort. */
static void find_old_nodes(const growth_mark *m, const rs_snapshot *s, const uint32_t *to_mark, uint8_t *old)
{
    const rs_graph *g = s->graph;
    rs_idx found[MATCH_BATCH];
    for (size_t base = 0; base < m->count; base += MATCH_BATCH) {
        size_t len = m->count - base < MATCH_BATCH ? m->count - base : MATCH_BATCH;
        rs_graph_find_many(g, m->addrs + base, len, found);
        for (size_t j = 0; j < len; j++) {
            rs_idx n = found[j];
            if (n != RS_NONE && !(rs_graph_flags(g, n) & RS_NODE_INTERNAL) &&
                to_mark[rs_graph_type_id(g, n)] == m->types[base + j])
                old[n] = 1;
        }
    }
}

int rs_growth(const rs_snapshot *s, rs_growth_result *out)
{
    if (s->stored != NULL) {
        PyErr_SetString(rs_error, "growth compares the live heap with its mark; this is a heap dump: compare two "
                                  "dumps with refscope diff OLD NEW");
        return -1;
    }
    const growth_mark *m = current_mark;
    memset(out, 0, sizeof *out);
    if (m == NULL) {
        PyErr_SetString(rs_error, "no mark to compare with; call refscope.mark() first");
        return -1;
    }
    double start = now_seconds();
    rs_graph *g = s->graph;
    size_t count = rs_graph_node_count(g);
    uint32_t types = s->type_count;
    uint8_t *old = rs_calloc(count + 1, 1);
    uint32_t *to_mark = rs_malloc((types + 1) * sizeof *to_mark);
    uint8_t *mark_seen = rs_calloc(m->type_count + 1, 1);
    int64_t *now_count = rs_calloc(types + 1, sizeof *now_count);
    int64_t *now_size = rs_calloc(types + 1, sizeof *now_size);
    size_t *new_count = rs_calloc(types + 1, sizeof *new_count);
    if (old == NULL || to_mark == NULL || mark_seen == NULL || now_count == NULL || now_size == NULL ||
        new_count == NULL)
        goto nomem;
    for (uint32_t t = 0; t < types; t++) {
        to_mark[t] = mark_type_of(m, s, t);
        if (to_mark[t] != UINT32_MAX)
            mark_seen[to_mark[t]] = 1;
    }
    find_old_nodes(m, s, to_mark, old);
    /* A visible node whose (address, type) the mark lacks is new. */
    size_t new_total = 0;
    for (size_t i = 0; i < count; i++) {
        rs_idx n = (rs_idx)i;
        if (rs_graph_flags(g, n) & RS_NODE_INTERNAL)
            continue;
        uint32_t t = rs_graph_type_id(g, n);
        now_count[t]++;
        now_size[t] += (int64_t)rs_graph_size(g, n);
        if (!old[i]) {
            new_count[t]++;
            new_total++;
        }
    }
    size_t rows_cap = (size_t)types + m->type_count + 1, rows = 0;
    out->rows = rs_calloc(rows_cap, sizeof *out->rows);
    out->new_nodes = rs_malloc((new_total + 1) * sizeof *out->new_nodes);
    if (out->rows == NULL || out->new_nodes == NULL)
        goto nomem;
    size_t *fill = new_count; /* from here on: each type's cursor into new_nodes */
    size_t first = 0;
    for (uint32_t t = 0; t < types; t++) {
        const mark_type *mt = to_mark[t] != UINT32_MAX ? &m->type_table[to_mark[t]] : NULL;
        int64_t dc = now_count[t] - (mt ? (int64_t)mt->count : 0);
        int64_t ds = now_size[t] - (mt ? (int64_t)mt->size : 0);
        size_t nc = new_count[t];
        fill[t] = first; /* cursor for this type's new nodes */
        if (dc == 0 && ds == 0 && nc == 0)
            continue;
        out->rows[rows++] = (rs_growth_row){.type_id = t, .type_name = s->types[t].name, .delta_count = dc,
                                            .delta_size = ds, .new_first = first, .new_count = nc};
        first += nc;
    }
    for (uint32_t k = 0; k < m->type_count; k++) {
        if (mark_seen[k] || m->type_table[k].count == 0)
            continue;
        out->rows[rows++] = (rs_growth_row){.type_id = UINT32_MAX, .type_name = m->type_table[k].name,
                                            .delta_count = -(int64_t)m->type_table[k].count,
                                            .delta_size = -(int64_t)m->type_table[k].size};
    }
    for (size_t i = 0; i < count; i++) {
        rs_idx n = (rs_idx)i;
        if (old[i] || (rs_graph_flags(g, n) & RS_NODE_INTERNAL))
            continue;
        out->new_nodes[fill[rs_graph_type_id(g, n)]++] = n;
    }
    qsort(out->rows, rows, sizeof *out->rows, by_delta_desc);
    out->row_count = rows;
    out->new_total = new_total;
    rs_free(old);
    rs_free(to_mark);
    rs_free(mark_seen);
    rs_free(now_count);
    rs_free(now_size);
    rs_free(new_count);
    out->seconds = now_seconds() - start;
    return 0;
nomem:
    rs_growth_result_free(out);
    rs_free(old);
    rs_free(to_mark);
    rs_free(mark_seen);
    rs_free(now_count);
    rs_free(now_size);
    rs_free(new_count);
    PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory to compare with the mark");
    return -1;
}

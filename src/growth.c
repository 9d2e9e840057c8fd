/*
 * Growth: what appeared since a mark.  A mark is compact C data, never
 * Python objects (holding the objects would keep them alive and change the
 * answer): every visible object's address and type, grouped by page of
 * address space (growth_mark.h), plus per-type totals.  An object of a later snapshot is
 * old when the mark has its address with the same type (same type object
 * and name), so an address freed and reused by another type is new.  A
 * snapshot passed in is compared by looking each of its nodes up in the
 * mark; growth() without one walks the heap and looks each object up in
 * the mark as it meets it (growth_walk.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "clock.h"
#include "growth_mark.h"
#include "module.h"

/* How many nodes ahead rs_growth prefetches their mark pages. */
#define MATCH_AHEAD 16

/* The process's one mark (refscope.mark() and the browser's :mark). */
static growth_mark *current_mark;

static void mark_free(growth_mark *m)
{
    if (m == NULL)
        return;
    for (uint32_t t = 0; t < m->type_count; t++)
        rs_free(m->type_table[t].name);
    rs_free(m->type_table);
    rs_free(m->pages);
    rs_free(m->types);
    rs_free(m);
}

const growth_mark *growth_current_mark(void)
{
    return current_mark;
}

/* Moves m's pages into a table of cap entries.  -1 on memory failure. */
static int pages_resize(growth_mark *m, size_t cap)
{
    mark_page *pages = rs_calloc(cap, sizeof *pages);
    if (pages == NULL)
        return -1;
    for (size_t i = 0; i < m->page_cap; i++) {
        if (m->pages[i].key == 0)
            continue;
        size_t s = mark_page_home(cap, m->pages[i].key);
        while (pages[s].key != 0)
            s = s + 1 == cap ? 0 : s + 1;
        pages[s] = m->pages[i];
    }
    rs_free(m->pages);
    m->pages = pages;
    m->page_cap = cap;
    return 0;
}

/* Sets addr's grain in m's pages: 1 when set now, 0 when it was set, -1
 * on memory failure. */
static int mark_add(growth_mark *m, uintptr_t addr)
{
    if ((m->page_count + 1) * 2 > m->page_cap && pages_resize(m, m->page_cap * 2) < 0)
        return -1;
    uintptr_t key = (addr >> MARK_PAGE_SHIFT) + 1;
    size_t s = mark_page_home(m->page_cap, key);
    while (m->pages[s].key != key && m->pages[s].key != 0)
        s = s + 1 == m->page_cap ? 0 : s + 1;
    mark_page *p = &m->pages[s];
    if (p->key == 0) {
        p->key = key;
        m->page_count++;
    }
    unsigned grain = (unsigned)(addr >> MARK_GRAIN_SHIFT) & 255;
    uint64_t bit = (uint64_t)1 << (grain & 63);
    if (p->bits[grain >> 6] & bit)
        return 0;
    p->bits[grain >> 6] |= bit;
    return 1;
}

/* Numbers the objects of m's pages: each page's first, and the counts
 * before each bitmap word. */
static void mark_number(growth_mark *m)
{
    uint32_t next = 0;
    for (size_t i = 0; i < m->page_cap; i++) {
        mark_page *p = &m->pages[i];
        if (p->key == 0)
            continue;
        p->first = next;
        unsigned before = 0;
        for (int k = 0; k < 4; k++) {
            p->before[k] = (uint8_t)before;
            before += mark_popcount(p->bits[k]);
        }
        next += before;
    }
}

int rs_growth_mark(const rs_snapshot *s)
{
    const rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g);
    growth_mark *m = rs_calloc(1, sizeof *m);
    if (m == NULL || s->type_count > MARK_TYPE_MASK || n > UINT32_MAX)
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
    /* A heap of small objects has dozens a page: the table starts small,
     * doubles as pages come, and ends at a load of 1/2. */
    m->page_cap = s->visible_count / 64 + 64;
    m->pages = rs_calloc(m->page_cap, sizeof *m->pages);
    if (m->pages == NULL)
        goto nomem;
    /* The nodes' grains set, then numbered, then each node's type stored
     * under its number.  A node whose grain another has (impossible for
     * real objects, at least 16 bytes each) is left out. */
    uint8_t *in = rs_calloc(n + 1, 1);
    if (in == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        rs_idx k = (rs_idx)i;
        if (rs_graph_flags(g, k) & RS_NODE_INTERNAL)
            continue;
        int r = mark_add(m, rs_graph_addr(g, k));
        if (r < 0) {
            rs_free(in);
            goto nomem;
        }
        in[i] = (uint8_t)r;
        m->count += (size_t)r;
    }
    if (m->page_cap > m->page_count * 2 + 64 && pages_resize(m, m->page_count * 2 + 64) < 0) {
        rs_free(in);
        goto nomem;
    }
    mark_number(m);
    m->types = rs_malloc((m->count + 1) * sizeof *m->types);
    if (m->types == NULL) {
        rs_free(in);
        goto nomem;
    }
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            continue;
        rs_idx k = (rs_idx)i;
        uintptr_t addr = rs_graph_addr(g, k);
        uint32_t t = rs_graph_type_id(g, k);
        m->types[mark_number_in(mark_page_of(m, addr), addr)] =
            t | (uint32_t)(addr & ((1u << MARK_GRAIN_SHIFT) - 1)) << MARK_TYPE_BITS;
        m->type_table[t].count++;
        m->type_table[t].size += rs_graph_size(g, k);
    }
    rs_free(in);
    m->taken_at = rs_monotonic_seconds();
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
    return current_mark ? rs_monotonic_seconds() - current_mark->taken_at : 0.0;
}

uint32_t growth_mark_type_of(const growth_mark *m, PyTypeObject *tp, const char *name, uint32_t hint)
{
    if (hint < m->type_count && m->type_table[hint].type == tp &&
        (name == NULL || strcmp(m->type_table[hint].name, name) == 0))
        return hint;
    for (uint32_t k = 0; k < m->type_count; k++)
        if (m->type_table[k].type == tp && (name == NULL || strcmp(m->type_table[k].name, name) == 0))
            return k;
    return MARK_NONE;
}

/* The mark's type index for snapshot type t, or MARK_NONE. */
static uint32_t mark_type_of(const growth_mark *m, const rs_snapshot *s, uint32_t t)
{
    return growth_mark_type_of(m, s->types[t].type, s->types[t].name, t);
}

bool rs_growth_is_new(const rs_snapshot *s, rs_idx n)
{
    const growth_mark *m = current_mark;
    if (m == NULL || s->stored != NULL) /* the mark is of this process */
        return false;
    size_t k = mark_find(m, rs_graph_addr(s->graph, n));
    if (k == SIZE_MAX)
        return true;
    return mark_type_of(m, s, rs_graph_type_id(s->graph, n)) != mark_object_type(m, k);
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
    if (r->new_objects != NULL)
        for (size_t i = 0; i < r->new_total; i++)
            Py_DECREF(r->new_objects[i]);
    rs_free(r->new_objects);
    if (r->types != NULL)
        for (uint32_t t = 0; t < r->type_count; t++)
            rs_free(r->types[t].name);
    rs_free(r->types);
    memset(r, 0, sizeof *r);
}

int growth_rows(const growth_mark *m, growth_tally *tally, const rs_type_info *types, uint32_t type_count,
                rs_growth_result *out)
{
    uint8_t *mark_seen = rs_calloc(m->type_count + 1, 1);
    rs_growth_row *rows = rs_calloc((size_t)type_count + m->type_count + 1, sizeof *rows);
    if (mark_seen == NULL || rows == NULL) {
        rs_free(mark_seen);
        rs_free(rows);
        return -1;
    }
    size_t count = 0, first = 0;
    for (uint32_t t = 0; t < type_count; t++) {
        growth_tally *y = &tally[t];
        const mark_type *mt = y->to_mark != MARK_NONE ? &m->type_table[y->to_mark] : NULL;
        if (mt != NULL)
            mark_seen[y->to_mark] = 1;
        int64_t dc = y->count - (mt ? (int64_t)mt->count : 0);
        int64_t ds = y->size - (mt ? (int64_t)mt->size : 0);
        size_t nc = y->new_count;
        y->new_count = first; /* from here on: the cursor for this type's new objects */
        if (dc == 0 && ds == 0 && nc == 0)
            continue;
        rows[count++] = (rs_growth_row){.type_id = t, .type_name = types[t].name, .delta_count = dc,
                                        .delta_size = ds, .new_first = first, .new_count = nc};
        first += nc;
    }
    for (uint32_t k = 0; k < m->type_count; k++) {
        if (mark_seen[k] || m->type_table[k].count == 0)
            continue;
        rows[count++] = (rs_growth_row){.type_id = UINT32_MAX, .type_name = m->type_table[k].name,
                                        .delta_count = -(int64_t)m->type_table[k].count,
                                        .delta_size = -(int64_t)m->type_table[k].size};
    }
    rs_free(mark_seen);
    qsort(rows, count, sizeof *rows, by_delta_desc);
    out->rows = rows;
    out->row_count = count;
    return 0;
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
    double start = rs_monotonic_seconds();
    rs_graph *g = s->graph;
    size_t count = rs_graph_node_count(g);
    uint32_t types = s->type_count;
    uint8_t *old = rs_calloc(count + 1, 1);
    growth_tally *tally = rs_calloc(types + 1, sizeof *tally);
    if (old == NULL || tally == NULL)
        goto nomem;
    for (uint32_t t = 0; t < types; t++)
        tally[t].to_mark = mark_type_of(m, s, t);
    /* A visible node whose (address, type) the mark lacks is new.  The
     * nodes are taken in order and their addresses looked up in the mark,
     * its pages prefetched a few nodes ahead: the per-node arrays are then
     * read in order (looking the mark's addresses up in the snapshot's
     * hash instead reads them at random, and took 1.8x as long at 1M). */
    size_t new_total = 0;
    for (size_t i = 0; i < count; i++) {
        rs_idx n = (rs_idx)i;
        if (i + MATCH_AHEAD < count)
            mark_prefetch(m, rs_graph_addr(g, (rs_idx)(i + MATCH_AHEAD)));
        if (rs_graph_flags(g, n) & RS_NODE_INTERNAL)
            continue;
        growth_tally *y = &tally[rs_graph_type_id(g, n)];
        y->count++;
        y->size += (int64_t)rs_graph_size(g, n);
        size_t k = mark_find(m, rs_graph_addr(g, n));
        old[i] = k != SIZE_MAX && mark_object_type(m, k) == y->to_mark;
        if (!old[i]) {
            y->new_count++;
            new_total++;
        }
    }
    out->new_nodes = rs_malloc((new_total + 1) * sizeof *out->new_nodes);
    if (out->new_nodes == NULL || growth_rows(m, tally, s->types, types, out) < 0)
        goto nomem;
    for (size_t i = 0; i < count; i++) {
        rs_idx n = (rs_idx)i;
        if (old[i] || (rs_graph_flags(g, n) & RS_NODE_INTERNAL))
            continue;
        out->new_nodes[tally[rs_graph_type_id(g, n)].new_count++] = n;
    }
    out->new_total = new_total;
    rs_free(old);
    rs_free(tally);
    out->seconds = rs_monotonic_seconds() - start;
    return 0;
nomem:
    rs_growth_result_free(out);
    rs_free(old);
    rs_free(tally);
    PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory to compare with the mark");
    return -1;
}

/*
 * Retained sets: what freeing an object would free, read off the dominator
 * tree (dom.c).  One iterative walk of the tree, with a callback per node,
 * serves the retained set of a node and entry/exit numbers for "x
 * dominates y"; per-type retained sizes (an instance nested in another
 * instance of its type counted once), which the census and report need on
 * every node, have a walk of their own with no callback and no lookups a
 * tree path already answers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>

#include "analysis.h"
#include "refscope/dom.h"

typedef struct walk_frame {
    rs_idx node;
    const rs_idx *children;
    size_t count, next;
} walk_frame;

int rs_dominator_walk(rs_snapshot *s, rs_idx from, int (*visit)(void *ctx, rs_idx n, bool leaving), void *ctx)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return -1;
    size_t cap = 256, depth = 0;
    walk_frame *stack = rs_malloc(cap * sizeof *stack);
    if (stack == NULL)
        goto nomem;
    int r = 0;
    if (from != RS_DOM_SUPER_ROOT && (r = visit(ctx, from, false)) != 0)
        goto done;
    stack[0].node = from;
    stack[0].children = rs_dom_children(s->dom, from, &stack[0].count);
    stack[0].next = 0;
    depth = 1;
    while (depth > 0) {
        walk_frame *top = &stack[depth - 1];
        if (top->next == top->count) {
            depth--;
            if (top->node != RS_DOM_SUPER_ROOT && (r = visit(ctx, top->node, true)) != 0)
                goto done;
            continue;
        }
        rs_idx child = top->children[top->next++];
        if ((r = visit(ctx, child, false)) != 0)
            goto done;
        if (depth == cap) {
            walk_frame *grown = rs_realloc(stack, 2 * cap * sizeof *stack);
            if (grown == NULL)
                goto nomem;
            stack = grown;
            cap *= 2;
        }
        walk_frame *f = &stack[depth++];
        f->node = child;
        f->children = rs_dom_children(s->dom, child, &f->count);
        f->next = 0;
    }
done:
    rs_free(stack);
    return r;
nomem:
    rs_free(stack);
    PyErr_NoMemory();
    return -1;
}

/* --- entry/exit order ------------------------------------------------------ */

typedef struct order_walk {
    rs_dom_order *order;
    uint32_t clock;
} order_walk;

static int number_node(void *ctx, rs_idx n, bool leaving)
{
    order_walk *w = ctx;
    if (leaving)
        w->order->leave[n] = ++w->clock;
    else
        w->order->enter[n] = ++w->clock;
    return 0;
}

rs_dom_order *rs_dom_order_new(rs_snapshot *s)
{
    size_t n = rs_graph_node_count(s->graph);
    rs_dom_order *o = rs_calloc(1, sizeof *o);
    if (o == NULL)
        goto nomem;
    o->enter = rs_calloc(n + 1, sizeof *o->enter);
    o->leave = rs_calloc(n + 1, sizeof *o->leave);
    if (o->enter == NULL || o->leave == NULL)
        goto nomem;
    order_walk w = {.order = o, .clock = 0};
    if (rs_dominator_walk(s, RS_DOM_SUPER_ROOT, number_node, &w) < 0) {
        rs_dom_order_free(o);
        return NULL;
    }
    return o;
nomem:
    rs_dom_order_free(o);
    PyErr_NoMemory();
    return NULL;
}

void rs_dom_order_free(rs_dom_order *o)
{
    if (o == NULL)
        return;
    rs_free(o->enter);
    rs_free(o->leave);
    rs_free(o);
}

/* --- retained set ---------------------------------------------------------- */

typedef struct set_walk {
    rs_snapshot *snap;
    rs_idx *nodes;
    size_t count, cap;
} set_walk;

static int collect_node(void *ctx, rs_idx n, bool leaving)
{
    set_walk *w = ctx;
    if (leaving || (rs_graph_flags(w->snap->graph, n) & RS_NODE_INTERNAL))
        return 0;
    if (w->count == w->cap) {
        size_t cap = w->cap * 2;
        rs_idx *grown = rs_realloc(w->nodes, cap * sizeof *grown);
        if (grown == NULL)
            return 1;
        w->nodes = grown;
        w->cap = cap;
    }
    w->nodes[w->count++] = n;
    return 0;
}

/* What rs_retained_size() found for unreachable nodes, computed once each
 * (sorting a screen by retained asks for every row's figure many times),
 * and one `seen` array the set walks share: a fresh one per question was
 * a node-count allocation per garbage row drawn. */
struct rs_retained_memo {
    uint8_t *seen;   /* node_count + 1 bytes, all 0 between questions */
    rs_idx *keys;    /* open addressing; RS_NONE = empty */
    uint64_t *sizes;
    size_t cap, used; /* cap a power of two, used <= cap / 2 */
};

void rs_retained_memo_free(rs_retained_memo *m)
{
    if (m == NULL)
        return;
    rs_free(m->seen);
    rs_free(m->keys);
    rs_free(m->sizes);
    rs_free(m);
}

static rs_retained_memo *memo_of(rs_snapshot *s)
{
    if (s->retained_memo != NULL)
        return s->retained_memo;
    rs_retained_memo *m = rs_calloc(1, sizeof *m);
    if (m == NULL || (m->seen = rs_calloc(rs_graph_node_count(s->graph) + 1, 1)) == NULL) {
        rs_retained_memo_free(m);
        return NULL;
    }
    s->retained_memo = m;
    return m;
}

static size_t memo_slot(const rs_retained_memo *m, rs_idx n)
{
    size_t i = ((size_t)n * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
    while (m->keys[i] != RS_NONE && m->keys[i] != n)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static bool memo_find(const rs_retained_memo *m, rs_idx n, uint64_t *size)
{
    if (m->cap == 0)
        return false;
    size_t i = memo_slot(m, n);
    if (m->keys[i] != n)
        return false;
    *size = m->sizes[i];
    return true;
}

/* 0, or -1 for memory (the figure is then just not remembered). */
static int memo_put(rs_retained_memo *m, rs_idx n, uint64_t size)
{
    if (2 * (m->used + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        rs_idx *keys = rs_malloc(cap * sizeof *keys);
        uint64_t *sizes = rs_malloc(cap * sizeof *sizes);
        if (keys == NULL || sizes == NULL) {
            rs_free(keys);
            rs_free(sizes);
            return -1;
        }
        for (size_t i = 0; i < cap; i++)
            keys[i] = RS_NONE;
        rs_retained_memo old = *m;
        m->keys = keys;
        m->sizes = sizes;
        m->cap = cap;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i] != RS_NONE) {
                size_t j = memo_slot(m, old.keys[i]);
                m->keys[j] = old.keys[i];
                m->sizes[j] = old.sizes[i];
            }
        rs_free(old.keys);
        rs_free(old.sizes);
    }
    size_t i = memo_slot(m, n);
    if (m->keys[i] != n)
        m->used++;
    m->keys[i] = n;
    m->sizes[i] = size;
    return 0;
}

/* Garbage: the unreachable objects n reaches, n first, breadth first (what
 * the collection that frees n's cycle frees with it; cycles.c sizes an
 * unreachable cycle the same way).  The array is its own queue; a node is
 * marked in the shared seen array before it is added and unmarked after,
 * so the work is linear in what is found times its width: 0, or 1 for
 * memory.  Refscope's own objects are neither listed nor followed. */
static int collect_unreachable(set_walk *w, rs_idx n)
{
    rs_retained_memo *m = memo_of(w->snap);
    if (m == NULL)
        return 1;
    uint8_t *seen = m->seen;
    rs_graph *g = w->snap->graph;
    seen[n] = 1;
    int r = collect_node(w, n, false);
    for (size_t i = 0; r == 0 && i < w->count; i++) {
        size_t refs;
        const rs_idx *targets = rs_graph_referents(g, w->nodes[i], &refs);
        for (size_t k = 0; r == 0 && k < refs; k++) {
            rs_idx y = targets[k];
            if (seen[y] || rs_dom_reachable(w->snap->dom, y) || (rs_graph_flags(g, y) & RS_NODE_INTERNAL))
                continue;
            seen[y] = 1;
            r = collect_node(w, y, false);
        }
    }
    seen[n] = 0;
    for (size_t i = 0; i < w->count; i++)
        seen[w->nodes[i]] = 0;
    return r;
}

rs_idx *rs_retained_set(rs_snapshot *s, rs_idx n, size_t *count)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    set_walk w = {.snap = s, .cap = 64};
    w.nodes = rs_malloc(w.cap * sizeof *w.nodes);
    if (w.nodes == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    int r = rs_dom_reachable(s->dom, n) ? rs_dominator_walk(s, n, collect_node, &w) : collect_unreachable(&w, n);
    if (r != 0) {
        rs_free(w.nodes);
        if (r > 0)
            PyErr_NoMemory();
        return NULL;
    }
    *count = w.count;
    return w.nodes;
}

uint64_t rs_retained_set_size(rs_snapshot *s, const rs_idx *nodes, size_t count)
{
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += rs_graph_size(s->graph, nodes[i]);
    return total;
}

/* --- per type ----------------------------------------------------------- */

/* One node on the path of sum_type_retained's walk. */
typedef struct type_frame {
    const rs_idx *children; /* the ones not yet visited */
    uint32_t left;          /* how many */
    uint32_t type;          /* the node's type id, or NO_TYPE: infrastructure */
    uint32_t flags;         /* the node's flags */
} type_frame;

#define NO_TYPE UINT32_MAX

/* The type a node counts under in the walk below, or NO_TYPE for
 * infrastructure: modules, types, module dicts and code hold (or are) the
 * program itself, and what a type holds directly (its namespace, __mro__)
 * is the class, not data.  parent_flags are its immediate dominator's
 * (0 for the super root). */
static inline uint32_t counted_type(const rs_graph *g, rs_idx n, uint32_t flags, uint32_t parent_flags)
{
    if ((flags & (RS_NODE_NOT_DATA | RS_NODE_INTERNAL)) || (parent_flags & RS_NODE_TYPE))
        return NO_TYPE;
    return rs_graph_type_id(g, n);
}

/* After: rows[t].retained is the retained size of the instances of type t
 * that no other instance of t dominates, and rows[t].biggest the instance
 * with the largest retained size (RS_NONE if none), infrastructure left
 * out.  One depth-first walk of the dominator tree, as rs_dominator_walk()
 * does it but with what each node needs kept in its frame: a node's
 * dominator is the frame below it, so no idom is looked up.  active[t]
 * counts the instances of t on the path; the arrays are zeroed by the
 * caller.  0, or -1 with MemoryError set. */
static int sum_type_retained(rs_snapshot *s, rs_type_retained *rows, uint32_t *active, uint64_t *biggest)
{
    const rs_graph *g = s->graph;
    const rs_dom *dom = s->dom;
    size_t cap = 256, depth = 1;
    type_frame *stack = rs_malloc(cap * sizeof *stack);
    if (stack == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t count;
    stack[0].children = rs_dom_children(dom, RS_DOM_SUPER_ROOT, &count);
    stack[0].left = (uint32_t)count;
    stack[0].type = NO_TYPE;
    stack[0].flags = 0;
    while (depth > 0) {
        type_frame *top = &stack[depth - 1];
        if (top->left == 0) {
            if (top->type != NO_TYPE)
                active[top->type]--;
            depth--;
            continue;
        }
        rs_idx n = *top->children++;
        top->left--;
        uint32_t flags = rs_graph_flags(g, n);
        uint32_t t = counted_type(g, n, flags, top->flags);
        if (t != NO_TYPE) {
            uint64_t retained = rs_dom_retained(dom, n);
            if (active[t] == 0)
                rows[t].retained += retained;
            if (rows[t].biggest == RS_NONE || retained > biggest[t]) {
                rows[t].biggest = n;
                biggest[t] = retained;
            }
        }
        /* A leaf (most nodes: strings, numbers) is entered and left at
         * once, with no frame. */
        const rs_idx *children = rs_dom_children(dom, n, &count);
        if (count == 0)
            continue;
        if (t != NO_TYPE)
            active[t]++;
        if (depth == cap) {
            type_frame *grown = rs_realloc(stack, 2 * cap * sizeof *stack);
            if (grown == NULL) {
                rs_free(stack);
                PyErr_NoMemory();
                return -1;
            }
            stack = grown;
            cap *= 2;
        }
        type_frame *f = &stack[depth++];
        f->children = children;
        f->left = (uint32_t)count;
        f->type = t;
        f->flags = flags;
    }
    rs_free(stack);
    return 0;
}

static int by_retained_desc(const void *a, const void *b)
{
    const rs_type_retained *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained < y->retained ? 1 : -1;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->type_id < y->type_id ? -1 : x->type_id > y->type_id;
}

typedef struct type_walk {
    rs_type_retained *rows; /* indexed by type id */
    uint32_t *active;       /* per type: instances on the current tree path */
    uint64_t *biggest;      /* per type: the retained size of rows[].biggest */
} type_walk;

rs_type_retained *rs_retained_by_type(rs_snapshot *s, rs_type_retained *rows, size_t *count)
{
    type_walk w = {.rows = rows};
    if (rs_analysis_ensure_dominators(s) < 0)
        goto error;
    uint32_t types = s->type_count ? s->type_count : 1;
    w.active = rs_calloc(types, sizeof *w.active);
    w.biggest = rs_calloc(types, sizeof *w.biggest);
    if (w.active == NULL || w.biggest == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (uint32_t t = 0; t < s->type_count; t++) {
        w.rows[t].type_id = t;
        w.rows[t].retained = 0;
        w.rows[t].biggest = RS_NONE;
    }
    if (sum_type_retained(s, w.rows, w.active, w.biggest) < 0)
        goto error;
    size_t used = 0;
    for (uint32_t t = 0; t < s->type_count; t++)
        if (w.rows[t].count > 0)
            w.rows[used++] = w.rows[t];
    qsort(w.rows, used, sizeof *w.rows, by_retained_desc);
    rs_free(w.active);
    rs_free(w.biggest);
    *count = used;
    return w.rows;
error:
    rs_free(w.rows);
    rs_free(w.active);
    rs_free(w.biggest);
    return NULL;
}

int rs_retained_size(rs_snapshot *s, rs_idx n, uint64_t *size)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return -1;
    if (rs_dom_reachable(s->dom, n)) {
        *size = rs_dom_retained(s->dom, n);
        return 0;
    }
    if (s->retained_memo != NULL && memo_find(s->retained_memo, n, size))
        return 0;
    size_t count;
    rs_idx *set = rs_retained_set(s, n, &count);
    if (set == NULL)
        return -1;
    *size = rs_retained_set_size(s, set, count);
    rs_free(set);
    (void)memo_put(s->retained_memo, n, *size);
    return 0;
}

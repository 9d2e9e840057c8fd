/*
 * Cycles: the strongly connected components of the data-edge graph
 * (scc.c) as answers a programmer can act on.  Stages for rs_cycles():
 *
 *   ensure_scc / dominators   both computed once per snapshot
 *   sum_reachable_retained    one walk of the dominator tree: a member that
 *                             no other member of its cycle dominates adds
 *                             its retained size to the cycle's
 *   sum_garbage_retained      an unreachable cycle adds the unreachable
 *                             objects it reaches (bounded work)
 *   sort                      biggest retained first
 *
 * Edges to break (rs_cycle_break_edges) are ranked from two facts: what the
 * edge's label says (a back-reference such as .parent, .__self__ of a bound
 * method stored on its instance, a closure cell pointing back), and what
 * removing the edge alone frees.  Removing a -> b frees exactly b's
 * retained size when a -> b is b's only edge from a and every other holder
 * of b is itself dominated by b (so reaches b only through b); otherwise b
 * stays reachable and nothing is freed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "clock.h"
#include "node.h"
#include "refscope/dom.h"
#include "refscope/scc.h"

/* A source with more referents than this is a big container: labelling
 * each of its edges costs a scan of the container, so its edges are only
 * labelled when they make the final list. */
#define LABEL_SCAN_LIMIT 1024

/* Edges labelled to find back-references in one cycle; a big cycle's other
 * edges are ranked by what they free alone (labels cost microseconds each,
 * and a tree of a million nodes is one cycle). */
#define LABEL_BUDGET 4096

/* Up to this many edges to break are kept in an array of that size; past
 * it (or for all of them) the cycle's edges are counted first. */
#define BREAK_KEEP_UNCOUNTED 4096

/* Work allowed for sizing unreachable cycles, in visited nodes per node. */
#define GARBAGE_VISIT_FACTOR 4

int rs_analysis_ensure_scc(rs_snapshot *s)
{
    if (s->scc != NULL)
        return 0;
    s->scc = rs_scc_compute(s->graph);
    if (s->scc == NULL) {
        PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory for the cycle analysis");
        return -1;
    }
    return 0;
}

int rs_analysis_recompute(rs_snapshot *s, const char *what, double *seconds)
{
    double start;
    int r;
    if (strcmp(what, "scc") == 0) {
        rs_scc_free(s->scc);
        s->scc = NULL;
        start = rs_monotonic_seconds();
        r = rs_analysis_ensure_scc(s);
    } else if (strcmp(what, "dominators") == 0) {
        rs_dom_free(s->dom);
        s->dom = NULL;
        rs_dom_order_free(s->dom_order);
        s->dom_order = NULL;
        rs_retained_memo_free(s->retained_memo);
        s->retained_memo = NULL;
        start = rs_monotonic_seconds();
        r = rs_analysis_ensure_dominators(s);
    } else {
        PyErr_Format(PyExc_ValueError, "unknown analysis '%s'; use 'scc' or 'dominators'", what);
        return -1;
    }
    *seconds = rs_monotonic_seconds() - start;
    return r;
}

static int ensure_both(rs_snapshot *s)
{
    return rs_analysis_ensure_scc(s) < 0 || rs_analysis_ensure_dominators(s) < 0 ? -1 : 0;
}

static inline bool same_cycle(const rs_snapshot *s, rs_idx n, uint32_t number)
{
    return rs_scc_cycle_of(s->scc, n) == number;
}

/* --- retained size of cycles ----------------------------------------------- */

typedef struct cycle_walk {
    rs_snapshot *snap;
    rs_cycle *by_number;  /* indexed by cycle number */
    uint32_t *active;     /* per cycle: members on the current tree path */
    uint32_t only;        /* one cycle number, or RS_SCC_NO_CYCLE for all */
} cycle_walk;

static int add_top_member(void *ctx, rs_idx n, bool leaving)
{
    cycle_walk *w = ctx;
    uint32_t c = rs_scc_cycle_of(w->snap->scc, n);
    if (c == RS_SCC_NO_CYCLE || (w->only != RS_SCC_NO_CYCLE && c != w->only))
        return 0;
    uint32_t slot = w->only == RS_SCC_NO_CYCLE ? c : 0;
    if (leaving)
        w->active[slot]--;
    else if (w->active[slot]++ == 0)
        w->by_number[slot].retained += rs_dom_retained(w->snap->dom, n);
    return 0;
}

/* The same sums read off each member's dominator chain: a member counts
 * when no dominator above it is in its cycle.  What a cycle member holds
 * is mostly a step or two below another member, so this costs a few array
 * reads per member instead of a walk of every node of the heap; false
 * (sums left at 0) once the chains are longer than `budget` steps in all. */
static bool sum_retained_by_chains(rs_snapshot *s, rs_cycle *cycles, size_t count, size_t budget)
{
    for (size_t i = 0; i < count; i++) {
        rs_cycle *c = &cycles[i];
        if (c->garbage)
            continue; /* no member is reachable: not in the dominator tree */
        for (size_t k = 0; k < c->member_count; k++) {
            rs_idx x = rs_dom_idom(s->dom, c->members[k]);
            while (x != RS_DOM_SUPER_ROOT && x != RS_NONE && !same_cycle(s, x, c->number)) {
                if (budget-- == 0) {
                    for (size_t j = 0; j <= i; j++)
                        cycles[j].retained = 0;
                    return false;
                }
                x = rs_dom_idom(s->dom, x);
            }
            if (x == RS_DOM_SUPER_ROOT || x == RS_NONE)
                c->retained += rs_dom_retained(s->dom, c->members[k]);
        }
    }
    return true;
}

/* After: every reachable cycle's retained is the sum of the retained sizes
 * of its members that no other member dominates.  cycles is indexed by
 * cycle number, or holds the one cycle `only`.  From the members'
 * dominator chains when they are short (steps up to half the nodes in
 * all), else from one walk of the whole dominator tree. */
static int sum_reachable_retained(rs_snapshot *s, rs_cycle *cycles, size_t count, uint32_t only)
{
    if (sum_retained_by_chains(s, cycles, only == RS_SCC_NO_CYCLE ? count : 1,
                               rs_graph_node_count(s->graph) / 2 + 64))
        return 0;
    cycle_walk w = {.snap = s, .by_number = cycles, .only = only};
    w.active = rs_calloc(count ? count : 1, sizeof *w.active);
    if (w.active == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int r = rs_dominator_walk(s, RS_DOM_SUPER_ROOT, add_top_member, &w);
    rs_free(w.active);
    return r < 0 ? -1 : 0;
}

/* After: every unreachable cycle's retained is the size of the unreachable
 * objects reachable from it, or just its own size once the work budget is
 * spent (heaps of garbage sharing one huge structure). */
static int sum_garbage_retained(rs_snapshot *s, rs_cycle *cycles, size_t count)
{
    size_t n = rs_graph_node_count(s->graph);
    uint32_t *mark = NULL;
    rs_idx *queue = NULL;
    size_t budget = GARBAGE_VISIT_FACTOR * (n + 1);
    uint32_t epoch = 0;
    for (size_t i = 0; i < count; i++) {
        rs_cycle *c = &cycles[i];
        if (!c->garbage)
            continue;
        c->retained = c->size;
        if (budget == 0)
            continue;
        if (mark == NULL) {
            mark = rs_calloc(n + 1, sizeof *mark);
            queue = rs_malloc((n + 1) * sizeof *queue);
            if (mark == NULL || queue == NULL) {
                rs_free(mark);
                rs_free(queue);
                PyErr_NoMemory();
                return -1;
            }
        }
        epoch++;
        size_t head = 0, tail = 0;
        uint64_t total = 0;
        for (size_t k = 0; k < c->member_count; k++) {
            mark[c->members[k]] = epoch;
            queue[tail++] = c->members[k];
        }
        while (head < tail && budget > 0) {
            rs_idx x = queue[head++];
            budget--;
            total += rs_graph_size(s->graph, x);
            size_t refs;
            const rs_idx *targets = rs_graph_referents(s->graph, x, &refs);
            for (size_t k = 0; k < refs; k++) {
                rs_idx y = targets[k];
                if (mark[y] == epoch || rs_dom_reachable(s->dom, y))
                    continue;
                mark[y] = epoch;
                queue[tail++] = y;
            }
        }
        if (head == tail)
            c->retained = total;
    }
    rs_free(mark);
    rs_free(queue);
    return 0;
}

static void fill_cycle(rs_snapshot *s, uint32_t number, rs_cycle *c)
{
    c->number = number;
    c->members = rs_scc_cycle_members(s->scc, number, &c->member_count);
    c->size = 0;
    c->retained = 0;
    for (size_t k = 0; k < c->member_count; k++)
        c->size += rs_graph_size(s->graph, c->members[k]);
    c->garbage = c->member_count > 0 && !rs_dom_reachable(s->dom, c->members[0]);
}

static int by_retained_desc(const void *a, const void *b)
{
    const rs_cycle *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained < y->retained ? 1 : -1;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->number < y->number ? -1 : x->number > y->number;
}

rs_cycle *rs_cycles(rs_snapshot *s, size_t *count)
{
    if (ensure_both(s) < 0)
        return NULL;
    size_t n = rs_scc_cycle_count(s->scc);
    rs_cycle *cycles = rs_calloc(n ? n : 1, sizeof *cycles);
    if (cycles == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        fill_cycle(s, (uint32_t)i, &cycles[i]);
    if (sum_reachable_retained(s, cycles, n, RS_SCC_NO_CYCLE) < 0 || sum_garbage_retained(s, cycles, n) < 0) {
        rs_free(cycles);
        return NULL;
    }
    qsort(cycles, n, sizeof *cycles, by_retained_desc);
    *count = n;
    return cycles;
}

int rs_cycle_get(rs_snapshot *s, uint32_t number, rs_cycle *out)
{
    if (ensure_both(s) < 0)
        return -1;
    if (number >= rs_scc_cycle_count(s->scc)) {
        PyErr_Format(PyExc_IndexError, "no cycle number %u in this snapshot", number);
        return -1;
    }
    fill_cycle(s, number, out);
    if (out->garbage)
        return sum_garbage_retained(s, out, 1);
    return sum_reachable_retained(s, out, 1, number);
}

/* --- edges ----------------------------------------------------------------- */

typedef struct edge_buf {
    rs_edge_ref *edges;
    size_t count, cap;
} edge_buf;

static int push_edge(edge_buf *b, rs_idx from, rs_idx to, uint32_t referent)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        rs_edge_ref *grown = rs_realloc(b->edges, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        b->edges = grown;
        b->cap = cap;
    }
    b->edges[b->count++] = (rs_edge_ref){.from = from, .to = to, .referent = referent};
    return 0;
}

/* A walk over the data edges between members of a cycle, member by member
 * and each member's in referent order: what rs_cycle_edges() lists, and
 * the order the edges to break are ranked in. */
typedef struct cycle_edge_walk {
    size_t member, next, refs;
    const rs_idx *targets;
} cycle_edge_walk;

/* The next edge of cycle c into *e; false after the last (the walk starts
 * zeroed). */
static inline bool next_cycle_edge(rs_snapshot *s, const rs_cycle *c, cycle_edge_walk *w, rs_edge_ref *e)
{
    for (;;) {
        while (w->next < w->refs) {
            size_t j = w->next++;
            if (same_cycle(s, w->targets[j], c->number)) {
                *e = (rs_edge_ref){.from = c->members[w->member - 1], .to = w->targets[j], .referent = (uint32_t)j};
                return true;
            }
        }
        if (w->member == c->member_count)
            return false;
        w->targets = rs_graph_referents(s->graph, c->members[w->member++], &w->refs);
        w->next = 0;
    }
}

rs_edge_ref *rs_cycle_edges(rs_snapshot *s, const rs_cycle *c, size_t *count)
{
    if (rs_analysis_ensure_scc(s) < 0)
        return NULL;
    edge_buf b = {0};
    if (push_edge(&b, 0, 0, 0) < 0) /* never empty: NULL means failure */
        goto nomem;
    b.count = 0;
    rs_edge_ref e;
    for (cycle_edge_walk w = {0}; next_cycle_edge(s, c, &w, &e);)
        if (push_edge(&b, e.from, e.to, e.referent) < 0)
            goto nomem;
    *count = b.count;
    return b.edges;
nomem:
    rs_free(b.edges);
    PyErr_NoMemory();
    return NULL;
}

/* Position of node v among the cycle's members (sorted), or SIZE_MAX. */
static size_t member_pos(const rs_cycle *c, rs_idx v)
{
    size_t lo = 0, hi = c->member_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->members[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->member_count && c->members[lo] == v ? lo : SIZE_MAX;
}

/* The member the ring starts from: the one that retains most (for a
 * reachable cycle, its entry: the parent rather than the child). */
static rs_idx ring_start(rs_snapshot *s, const rs_cycle *c)
{
    rs_idx best = c->members[0];
    uint64_t best_retained = rs_dom_retained(s->dom, best);
    for (size_t k = 1; k < c->member_count; k++) {
        uint64_t r = rs_dom_retained(s->dom, c->members[k]);
        if (r > best_retained) {
            best = c->members[k];
            best_retained = r;
        }
    }
    return best;
}

rs_edge_ref *rs_cycle_ring(rs_snapshot *s, const rs_cycle *c, size_t *count)
{
    if (ensure_both(s) < 0)
        return NULL;
    if (c->member_count == 0) {
        PyErr_SetString(PyExc_ValueError, "empty cycle");
        return NULL;
    }
    size_t k = c->member_count;
    rs_edge_ref *via = rs_malloc(k * sizeof *via); /* BFS tree edge into each member */
    uint8_t *seen = rs_calloc(k, 1);
    size_t *queue = rs_malloc(k * sizeof *queue);
    rs_edge_ref *ring = NULL;
    if (via == NULL || seen == NULL || queue == NULL)
        goto nomem;
    rs_idx start = ring_start(s, c);
    size_t head = 0, tail = 0;
    queue[tail++] = member_pos(c, start);
    rs_edge_ref closing = {.from = RS_NONE};
    /* Breadth-first from start over edges inside the cycle, until an edge
     * leads back to start: the shortest closed walk through it. */
    while (head < tail && closing.from == RS_NONE) {
        rs_idx u = c->members[queue[head++]];
        size_t refs;
        const rs_idx *targets = rs_graph_referents(s->graph, u, &refs);
        for (size_t j = 0; j < refs; j++) {
            rs_idx v = targets[j];
            if (v == start) {
                closing = (rs_edge_ref){.from = u, .to = v, .referent = (uint32_t)j};
                break;
            }
            size_t p = same_cycle(s, v, c->number) ? member_pos(c, v) : SIZE_MAX;
            if (p == SIZE_MAX || seen[p])
                continue;
            seen[p] = 1;
            via[p] = (rs_edge_ref){.from = u, .to = v, .referent = (uint32_t)j};
            queue[tail++] = p;
        }
    }
    if (closing.from == RS_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "refscope: cycle without a closed walk (inconsistent graph)");
        goto error;
    }
    size_t len = 1;
    for (rs_idx x = closing.from; x != start; x = via[member_pos(c, x)].from)
        len++;
    ring = rs_malloc(len * sizeof *ring);
    if (ring == NULL)
        goto nomem;
    size_t i = len;
    ring[--i] = closing;
    for (rs_idx x = closing.from; x != start; x = via[member_pos(c, x)].from)
        ring[--i] = via[member_pos(c, x)];
    rs_free(via);
    rs_free(seen);
    rs_free(queue);
    *count = len;
    return ring;
nomem:
    PyErr_NoMemory();
error:
    rs_free(via);
    rs_free(seen);
    rs_free(queue);
    return NULL;
}

/* --- edges to break ---------------------------------------------------------- */

/* Attribute names that say "the object holding me": matched against the
 * name without leading/trailing underscores, whole or (substring) inside. */
static const struct {
    const char *word;
    bool substring;
} owner_words[] = {
    {"parent", true}, {"owner", true},   {"container", true}, {"manager", false}, {"master", false},
    {"outer", false}, {"root", false},   {"prev", false},     {"previous", false}, {"back", false},
    {"up", false},    {"holder", false}, {"creator", false},  {"self", false},     {"this", false},
};

/* Labels that are how Python stores an object, not an attribute a program
 * sets: a cycle is broken elsewhere. */
static const char *const structural_labels[] = {
    ".__dict__", ".__closure__", ".__func__", ".__code__", ".__class__", ".__globals__",
    ".__builtins__", ".f_code", ".f_back", "<frame object>", "<function>", ".f_locals",
    ".tb_frame", ".tb_next", ".__mro__", ".__bases__", ".__base__", ".__defaults__",
    ".__kwdefaults__", ".__annotations__", ".__qualname__", ".__name__", ".__module__",
};

static bool label_is(PyObject *label, const char *text)
{
    return PyUnicode_CompareWithASCIIString(label, text) == 0;
}

static bool label_starts(PyObject *label, const char *prefix)
{
    Py_ssize_t n = (Py_ssize_t)strlen(prefix);
    if (PyUnicode_GET_LENGTH(label) < n)
        return false;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ_CHAR(label, i) != (Py_UCS4)(unsigned char)prefix[i])
            return false;
    return true;
}

/* The attribute-like name in ".name" or "['name']" (new str), or NULL. */
static PyObject *label_name(PyObject *label)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(label);
    PyObject *name = NULL;
    if (len > 1 && PyUnicode_READ_CHAR(label, 0) == '.')
        name = PyUnicode_Substring(label, 1, len);
    else if (len > 4 && label_starts(label, "['") && PyUnicode_READ_CHAR(label, len - 1) == ']' &&
             PyUnicode_READ_CHAR(label, len - 2) == '\'')
        name = PyUnicode_Substring(label, 2, len - 2);
    if (name == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!PyUnicode_IsIdentifier(name)) {
        Py_DECREF(name);
        return NULL;
    }
    return name;
}

static bool names_owner(PyObject *name)
{
    const char *u = PyUnicode_AsUTF8(name);
    if (u == NULL) {
        PyErr_Clear();
        return false;
    }
    char buf[128];
    size_t len = 0;
    for (const char *p = u; *p && len + 1 < sizeof buf; p++)
        buf[len++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    buf[len] = '\0';
    char *start = buf;
    while (*start == '_')
        start++;
    while (len > 0 && buf[len - 1] == '_')
        buf[--len] = '\0';
    for (size_t i = 0; i < sizeof owner_words / sizeof owner_words[0]; i++) {
        if (strcmp(start, owner_words[i].word) == 0)
            return true;
        if (owner_words[i].substring && strstr(start, owner_words[i].word) != NULL)
            return true;
    }
    return false;
}

/* " (frees 1.2 MB)" or "" */
static void freed_text(uint64_t freed, char *buf, size_t len)
{
    char size[32];
    if (freed == 0)
        buf[0] = '\0';
    else
        snprintf(buf, len, "; frees %s", rs_format_bytes(freed, size, sizeof size));
}

/* How to stop e's holder from holding its target strongly, in the words
 * its kind of container calls for; NULL (no error) when it has none. */
static PyObject *weak_holder_advice(rs_snapshot *s, const rs_break_edge *e, const char *why, const char *frees)
{
    enum rs_node_kind from = rs_node_kind(s, e->edge.from);
    PyObject *label = e->label;
    PyObject *name = label_starts(label, ".") ? label_name(label) : NULL;
    if (name != NULL) {
        PyObject *r = PyUnicode_FromFormat("make .%U a weakref.ref (or weakref.proxy): %s%s", name, why, frees);
        Py_DECREF(name);
        return r;
    }
    if (from == RS_KIND_DICT && label_starts(label, "["))
        return PyUnicode_FromFormat("make this dict a weakref.WeakValueDictionary, or del d%U when done: %s%s",
                                    label, why, frees);
    if (from == RS_KIND_LIST && label_starts(label, "["))
        return PyUnicode_FromFormat("remove the item when done (del lst%U, .remove(x) or .clear()), or keep "
                                    "weakref.ref(x) in the list: %s%s",
                                    label, why, frees);
    if (from == RS_KIND_SET && label_is(label, "<item>"))
        return PyUnicode_FromFormat("make the set a weakref.WeakSet, or .discard(x) when done: %s%s", why, frees);
    return NULL;
}

/* Steps up a dominator chain before "does b dominate c" asks the
 * entry/exit order of the whole tree instead. */
#define CHAIN_STEPS 64

/* Answers "does b dominate c" for one ranking: from the dominator chain
 * above c when it is short (an object a cycle member owns is mostly a few
 * steps below it), else from the entry/exit order of the whole tree, which
 * takes a walk of every node and is computed once, only when needed. */
typedef struct dominance {
    rs_snapshot *snap;
    const rs_dom_order *order;
} dominance;

/* 1 when b dominates c, 0 when not, -1 with MemoryError set. */
static int dominates(dominance *d, rs_idx b, rs_idx c)
{
    const rs_dom *dom = d->snap->dom;
    rs_idx stop = rs_dom_idom(dom, b); /* c under b meets b before b's parent */
    rs_idx x = c;
    for (int k = 0; k < CHAIN_STEPS; k++) {
        if (x == b)
            return 1;
        if (x == stop || x == RS_NONE || x == RS_DOM_SUPER_ROOT)
            return 0;
        x = rs_dom_idom(dom, x);
    }
    if (d->order == NULL && (d->order = rs_analysis_dom_order(d->snap)) == NULL)
        return -1;
    return rs_dom_order_dominates(d->order, b, c);
}

/* true when removing e is what a Python programmer would change: its
 * target dominates its holder, so the edge runs from an object the target
 * owns (a child, a state object, an observer) back to that owner. */
static int points_to_owner(dominance *d, const rs_break_edge *e)
{
    return d != NULL && e->edge.to != e->edge.from ? dominates(d, e->edge.to, e->edge.from) : 0;
}

/* The back-reference suggestion for e, or NULL (no error) when the edge is
 * not a back-reference. */
static PyObject *back_reference(rs_snapshot *s, dominance *dom, const rs_break_edge *e, const char *frees)
{
    enum rs_node_kind from = rs_node_kind(s, e->edge.from);
    PyObject *label = e->label;
    if (label_is(label, ".__self__") && (from == RS_KIND_METHOD || from == RS_KIND_CFUNCTION))
        return PyUnicode_FromFormat("store weakref.WeakMethod(...) instead of the bound method: its .__self__ "
                                    "points back to the instance that holds it%s",
                                    frees);
    if (label_is(label, ".cell_contents")) {
        PyObject *function = NULL, *name = NULL;
        if (rs_node_cell_owner(s, e->edge.from, &function, &name)) {
            PyObject *r = PyUnicode_FromFormat("%U() captures '%U' in its closure and '%U' holds it back: capture "
                                               "weakref.ref(%U) instead%s",
                                               function, name, name, name, frees);
            Py_DECREF(function);
            Py_DECREF(name);
            return r;
        }
        return PyUnicode_FromFormat("a closure cell points back into the cycle: capture a weakref.ref "
                                    "instead%s",
                                    frees);
    }
    if (label_starts(label, "<local '"))
        return PyUnicode_FromFormat("a frame keeps %U alive (often through an exception's traceback): del the "
                                    "variable when done, or traceback.clear_frames(tb)%s",
                                    label, frees);
    if (label_is(label, ".__traceback__"))
        return PyUnicode_FromFormat("the exception keeps its traceback and frames alive: del the exception "
                                    "variable, or traceback.clear_frames(exc.__traceback__)%s",
                                    frees);
    PyObject *name = label_name(label);
    bool owner_named = name != NULL && names_owner(name);
    Py_XDECREF(name);
    int owner_dominates = owner_named ? 0 : points_to_owner(dom, e);
    if (owner_dominates < 0)
        return NULL;
    if (owner_named || owner_dominates) {
        char why[200];
        const char *type = rs_snapshot_type_name(s, e->edge.to);
        const char *dot = strrchr(type, '.');
        snprintf(why, sizeof why, "it points back to the %s that owns this one", dot ? dot + 1 : type);
        PyObject *r = weak_holder_advice(s, e, why, frees);
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    return NULL;
}

static PyObject *plain_suggestion(rs_snapshot *s, const rs_break_edge *e, const char *frees)
{
    PyObject *label = e->label;
    enum rs_node_kind from = rs_node_kind(s, e->edge.from);
    PyObject *name = label_name(label);
    if (name != NULL && label_starts(label, ".")) {
        PyObject *r = PyUnicode_FromFormat("set .%U to None (or make it a weakref.ref) when done%s", name, frees);
        Py_DECREF(name);
        return r;
    }
    Py_XDECREF(name);
    if (label_starts(label, "[") && from == RS_KIND_DICT)
        return PyUnicode_FromFormat("del d%U when done (or .pop()), or make the dict a weakref.WeakValueDictionary%s",
                                    label, frees);
    if (label_starts(label, "[") && from == RS_KIND_LIST)
        return PyUnicode_FromFormat("remove the item when done (del lst%U, .remove(x) or .clear())%s", label, frees);
    if (label_starts(label, "[") && from == RS_KIND_TUPLE)
        return PyUnicode_FromFormat("a tuple cannot drop %U: let go of the tuple, or build it without the item%s",
                                    label, frees);
    if (label_starts(label, "["))
        return PyUnicode_FromFormat("remove %U when done (del)%s", label, frees);
    if (label_starts(label, "<key "))
        return PyUnicode_FromFormat("use a weakref.WeakKeyDictionary, or delete the key when done%s", frees);
    if (label_is(label, "<item>"))
        return PyUnicode_FromFormat("discard it from the set when done, or use a weakref.WeakSet%s", frees);
    return PyUnicode_FromFormat("drop this reference (%U) when done%s", label, frees);
}

static bool is_structural(PyObject *label)
{
    for (size_t i = 0; i < sizeof structural_labels / sizeof structural_labels[0]; i++)
        if (label_is(label, structural_labels[i]))
            return true;
    return label_starts(label, "<closure var ") || label_starts(label, "<stack ");
}

/* Sets e->kind and e->suggestion from e->label and e->freed.  0 or -1. */
static int classify(rs_snapshot *s, dominance *dom, rs_break_edge *e, bool garbage)
{
    char frees[64];
    freed_text(e->freed, frees, sizeof frees);
    PyObject *suggestion = back_reference(s, dom, e, frees);
    if (suggestion != NULL) {
        e->kind = RS_BREAK_BACK_REFERENCE;
    } else if (PyErr_Occurred()) {
        return -1;
    } else if (is_structural(e->label)) {
        e->kind = RS_BREAK_STRUCTURAL;
        suggestion = PyUnicode_FromString("part of how Python stores the object: break the cycle at another edge");
    } else {
        e->kind = e->freed > 0 ? RS_BREAK_FREES : RS_BREAK_PLAIN;
        suggestion = plain_suggestion(s, e, frees);
    }
    if (suggestion == NULL)
        return -1;
    if (garbage) {
        PyObject *longer = PyUnicode_FromFormat("%U (this cycle is already unreachable: gc.collect() frees it)",
                                                suggestion);
        Py_DECREF(suggestion);
        if (longer == NULL)
            return -1;
        suggestion = longer;
    }
    e->suggestion = suggestion;
    return 0;
}

/* Bytes freed by removing just the edge a -> b (see the file comment);
 * -1 with MemoryError set.  When it frees anything, a is b's immediate
 * dominator (every way into b from outside b's subtree is that one edge),
 * so every other edge is ruled out at once. */
static int64_t freed_by_removing(rs_snapshot *s, dominance *dom, rs_idx a, rs_idx b)
{
    if (!rs_dom_reachable(s->dom, b) || (rs_graph_flags(s->graph, b) & RS_NODE_ROOT) || rs_dom_idom(s->dom, b) != a)
        return 0;
    size_t count;
    const rs_idx *holders = rs_graph_referrers(s->graph, b, &count);
    int from_a = 0;
    for (size_t i = 0; i < count; i++) {
        rs_idx c = holders[i];
        if (c == a) {
            if (++from_a > 1)
                return 0;
        } else if (rs_dom_reachable(s->dom, c)) {
            int r = dominates(dom, b, c);
            if (r <= 0)
                return r;
        }
    }
    return (int64_t)rs_dom_retained(s->dom, b);
}

static int by_rank(const void *x, const void *y)
{
    const rs_break_edge *a = x, *b = y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->freed != b->freed)
        return a->freed < b->freed ? 1 : -1;
    if (a->edge.from != b->edge.from)
        return a->edge.from < b->edge.from ? -1 : 1;
    return a->edge.referent < b->edge.referent ? -1 : a->edge.referent > b->edge.referent;
}

void rs_break_edges_free(rs_break_edge *edges, size_t count)
{
    if (edges == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        Py_XDECREF(edges[i].label);
        Py_XDECREF(edges[i].suggestion);
    }
    rs_free(edges);
}

static bool big_source(rs_snapshot *s, rs_idx from)
{
    size_t refs;
    rs_graph_referents(s->graph, from, &refs);
    return refs > LABEL_SCAN_LIMIT;
}

static void swap_edges(rs_break_edge *a, rs_break_edge *b)
{
    rs_break_edge t = *a;
    *a = *b;
    *b = t;
}

/* Offers e to the best `keep` edges so far, heap[0 .. *kept): a heap with
 * the worst of them (by_rank) on top, so ranking a cycle of a million edges
 * for its first few costs n log keep, not a sort of all n.  The edge that
 * drops out (the old top, or e itself) has its label and suggestion
 * released. */
static void keep_ranked(rs_break_edge *heap, size_t keep, size_t *kept, rs_break_edge *e)
{
    if (*kept < keep) {
        size_t i = (*kept)++;
        heap[i] = *e;
        while (i > 0 && by_rank(&heap[(i - 1) / 2], &heap[i]) < 0) {
            swap_edges(&heap[(i - 1) / 2], &heap[i]);
            i = (i - 1) / 2;
        }
        return;
    }
    if (by_rank(e, &heap[0]) > 0) {
        Py_CLEAR(e->label);
        Py_CLEAR(e->suggestion);
        return;
    }
    Py_CLEAR(heap[0].label);
    Py_CLEAR(heap[0].suggestion);
    heap[0] = *e;
    for (size_t i = 0;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < keep && by_rank(&heap[l], &heap[worst]) > 0)
            worst = l;
        if (r < keep && by_rank(&heap[r], &heap[worst]) > 0)
            worst = r;
        if (worst == i)
            break;
        swap_edges(&heap[i], &heap[worst]);
        i = worst;
    }
}

/* The number of data edges between members of cycle c (what
 * rs_cycle_edges() would list), without listing them. */
static size_t cycle_edge_count(rs_snapshot *s, const rs_cycle *c)
{
    size_t n = 0;
    rs_edge_ref e;
    for (cycle_edge_walk w = {0}; next_cycle_edge(s, c, &w, &e);)
        n++;
    return n;
}

/* Ranks edge (from, referent j, to) into the best `keep` of out[0 ..
 * *kept), given its freed bytes; *labelled counts the edges labelled so
 * far.  0, or -1 with an exception. */
static int rank_edge(rs_snapshot *s, const rs_cycle *c, dominance *dom, rs_edge_ref ref, rs_break_edge *out,
                     size_t keep, size_t *kept, size_t *labelled)
{
    rs_break_edge e = {.edge = ref};
    int64_t freed = dom == NULL ? 0 : freed_by_removing(s, dom, ref.from, ref.to);
    if (freed < 0)
        return -1;
    e.freed = (uint64_t)freed;
    if (*labelled == LABEL_BUDGET || big_source(s, e.edge.from)) {
        e.kind = e.freed > 0 ? RS_BREAK_FREES : RS_BREAK_PLAIN;
    } else {
        (*labelled)++;
        e.label = rs_label_referent(s, e.edge.from, e.edge.referent);
        if (e.label == NULL || classify(s, dom, &e, c->garbage) < 0) {
            Py_XDECREF(e.label);
            return -1;
        }
    }
    keep_ranked(out, keep, kept, &e);
    return 0;
}

rs_break_edge *rs_cycle_break_edges(rs_snapshot *s, const rs_cycle *c, size_t max, size_t *count)
{
    if (rs_analysis_ensure_scc(s) < 0)
        return NULL;
    /* The edges are ranked as rs_cycle_edges() would list them, member by
     * member, without the list: a tree of a million nodes is one cycle of
     * a million edges, and the report keeps one of them (listing them
     * cost 3 of the 8 ms the report spends on them at a million objects). */
    dominance reachable = {.snap = s}, *dom = c->garbage ? NULL : &reachable;
    size_t keep = max;
    if (max == 0 || max > BREAK_KEEP_UNCOUNTED) {
        size_t n = cycle_edge_count(s, c);
        keep = (max == 0 || max > n) ? n : max;
    }
    rs_break_edge *out = rs_calloc(keep ? keep : 1, sizeof *out);
    size_t kept = 0;
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    /* Every edge gets its freed bytes; edges from small sources also their
     * label and rank now, big containers' edges only if they are kept. */
    size_t labelled = 0;
    rs_edge_ref ref;
    for (cycle_edge_walk w = {0}; next_cycle_edge(s, c, &w, &ref);)
        if (rank_edge(s, c, dom, ref, out, keep, &kept, &labelled) < 0)
            goto error;
    qsort(out, kept, sizeof *out, by_rank);
    for (size_t i = 0; i < kept; i++) {
        rs_break_edge *e = &out[i];
        if (e->label != NULL)
            continue;
        e->label = rs_label_referent(s, e->edge.from, e->edge.referent);
        if (e->label == NULL || classify(s, dom, e, c->garbage) < 0)
            goto error;
    }
    *count = kept;
    return out;
error:
    rs_break_edges_free(out, kept);
    return NULL;
}

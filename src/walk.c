/*
 * The walk: builds a snapshot of the live heap.  The only engine file that
 * traverses objects.  Stages, each leaving the graph in a stated condition:
 *
 *   prepare            (Python may run) optional gc.collect(), thread names
 *   add_tracked        every gc-tracked object is a node
 *   roots_add_all      module roots and every thread's executing frames
 *   traverse_all       every node described, held, and its tp_traverse edges
 *                      recorded; untracked objects they reach become nodes
 *   finish             reverse index
 *   mark_special_nodes module dicts / globals / gc.garbage flagged
 *   add_held_roots     objects with unexplained references become roots
 *                      (never immortal ones: their refcount means nothing)
 *   type names         (after the window) "module.QualName" per type
 *
 * Between add_tracked and the end of traverse_all no Python code runs and
 * automatic gc is off, so the graph is one consistent picture.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "clock.h"
#include "node.h"
#include "pyinternal.h"
#include "roots.h"
#include "snapshot.h"
#include "refscope/dom.h"
#include "refscope/scc.h"
#include "typetable.h"

PyTypeObject *rs_internal_types[4];

/* Nodes per gc-tracked object (as gc's counts estimate them) in the last
 * snapshot: untracked str, int and tuples add about as many again.  Sizing
 * the graph from it spares the hash a rehash and keeps it near a load of
 * 3/5, the figure graph.h's bytes per node assume. */
static double nodes_per_estimate = 2.0;

#define TRACKED_BATCH 256

typedef struct walk {
    rs_snapshot *snap;
    rs_graph *graph;
    rs_type_table types;
    size_t held;   /* nodes 0..held-1 carry a strong reference */
    int failed;    /* an edge could not be recorded (memory) */
    rs_progress_fn progress;
    void *progress_ctx;
    const rs_snapshot_caller *caller; /* or NULL */
    uintptr_t *not_data;   /* objects to flag NOT_DATA after the walk */
    size_t not_data_count, not_data_cap;
    bool nodes_only;       /* record the objects reached, not the edges */
    uintptr_t reached[TRACKED_BATCH]; /* nodes_only: reached, not yet interned */
    size_t reached_len;
} walk;


/* The addresses of the gc-tracked objects, in list order. */
typedef struct tracked_list {
    uintptr_t *addrs;
    size_t len, cap;
} tracked_list;

static int collect_tracked(PyObject *obj, void *ctx)
{
    tracked_list *t = ctx;
    if (t->len == t->cap) {
        size_t cap = t->cap * 2;
        uintptr_t *p = rs_realloc(t->addrs, cap * sizeof *p);
        if (p == NULL)
            return -1;
        t->addrs = p;
        t->cap = cap;
    }
    t->addrs[t->len++] = (uintptr_t)obj;
    return 0;
}

/* After: every object of every gc generation (and the permanent one) is a
 * node, in list order.  -1 on memory failure.  The lists are walked first
 * and the addresses interned after: interleaved, the hash's cache misses
 * stall the pointer chase through the lists (8% of a snapshot at 1M). */
static int add_tracked(walk *w, size_t estimate)
{
    tracked_list t = {.cap = estimate + TRACKED_BATCH};
    t.addrs = rs_malloc(t.cap * sizeof *t.addrs);
    if (t.addrs == NULL)
        return -1;
    int r = rs_py_for_each_tracked(collect_tracked, &t) != 0 ? -1
                                                              : rs_graph_intern_many(w->graph, t.addrs, t.len, NULL);
    rs_free(t.addrs);
    return r;
}

bool rs_is_internal_type(PyTypeObject *tp)
{
    for (size_t i = 0; i < sizeof rs_internal_types / sizeof rs_internal_types[0]; i++)
        if (rs_internal_types[i] != NULL && tp == rs_internal_types[i])
            return true;
    return false;
}

/* nodes_only: interns the objects reached since the last call. */
static int flush_reached(walk *w)
{
    int r = rs_graph_intern_many(w->graph, w->reached, w->reached_len, NULL);
    w->reached_len = 0;
    return r;
}

static int visit_edge(PyObject *op, void *arg)
{
    walk *w = arg;
    if (w->nodes_only) {
        w->reached[w->reached_len++] = (uintptr_t)op;
        if (w->reached_len == TRACKED_BATCH && flush_reached(w) < 0) {
            w->failed = 1;
            return -1;
        }
        return 0;
    }
    if (rs_graph_add_edge(w->graph, (uintptr_t)op) < 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* References to obj that refscope's caller holds where no traversal sees
 * them: the browse(obj) argument on the calling frame's stack, the items of
 * the hotkey's argument tuple (hidden itself). */
static Py_ssize_t callers_references(const rs_snapshot_caller *caller, PyObject *obj)
{
    if (caller == NULL)
        return 0;
    Py_ssize_t count = obj == caller->argument;
    if (caller->own_call != NULL && PyTuple_Check(caller->own_call))
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(caller->own_call); i++)
            count += PyTuple_GET_ITEM(caller->own_call, i) == obj;
    return count;
}

/* Every snapshot of this process that holds its references (one per node),
 * newest first; the GIL guards it. */
static rs_snapshot *open_snapshots;

/* References to obj held by the other open snapshots: one each that has obj
 * as a visible node.  Such a snapshot keeps obj alive, so its address
 * cannot have been reused by another object. */
static Py_ssize_t snapshots_references(PyObject *obj)
{
    Py_ssize_t count = 0;
    for (const rs_snapshot *o = open_snapshots; o != NULL; o = o->next_open) {
        rs_idx n = rs_graph_find(o->graph, (uintptr_t)obj);
        count += n != RS_NONE && !(rs_graph_flags(o->graph, n) & RS_NODE_INTERNAL);
    }
    return count;
}

/* Remembers an object whose node must be flagged NOT_DATA once the walk is
 * done (a module's dict, a function's globals and builtins); the same dict
 * met twice in a row is kept once.  -1 on memory failure. */
static int defer_not_data(walk *w, PyObject *target)
{
    if (target == NULL || (w->not_data_count > 0 && w->not_data[w->not_data_count - 1] == (uintptr_t)target))
        return 0;
    if (w->not_data_count == w->not_data_cap) {
        size_t cap = w->not_data_cap ? w->not_data_cap * 2 : 256;
        uintptr_t *p = rs_realloc(w->not_data, cap * sizeof *p);
        if (p == NULL)
            return -1;
        w->not_data = p;
        w->not_data_cap = cap;
    }
    w->not_data[w->not_data_count++] = (uintptr_t)target;
    return 0;
}

/* Records node n's type, size, refcount and flags, and takes the snapshot's
 * reference.  Every flag the analyses need is decided here, from the type
 * table's per-type flags, so no later stage has to look at the object again.
 * -1 on memory failure. */
static int describe_node(walk *w, rs_idx n, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    uint32_t type_id;
    if (rs_type_table_intern(&w->types, tp, &type_id) < 0)
        return -1;
    rs_graph *g = w->graph;
    rs_graph_set_type_id(g, n, type_id);
    Py_ssize_t rc = Py_REFCNT(obj) - callers_references(w->caller, obj) - snapshots_references(obj);
    rs_graph_set_refcount(g, n, rc > (Py_ssize_t)UINT32_MAX ? UINT32_MAX : (uint32_t)rc);
    uint32_t flags = rs_type_table_node_flags(&w->types, type_id);
    if (PyObject_IS_GC(obj))
        flags |= RS_NODE_IS_GC;
    if (PyObject_GC_IsTracked(obj))
        flags |= RS_NODE_GC_TRACKED;
    if (rs_py_is_immortal(obj))
        flags |= RS_NODE_IMMORTAL;
    if (rs_is_internal_type(tp) || (w->caller != NULL && obj == w->caller->own_call)) {
        rs_graph_add_flags(g, n, flags | RS_NODE_INTERNAL);
        return 0;
    }
    if ((flags & RS_NODE_MODULE) && defer_not_data(w, PyModule_GetDict(obj)) < 0)
        return -1;
    if (tp == &PyFunction_Type && (defer_not_data(w, PyFunction_GET_GLOBALS(obj)) < 0 ||
                                   defer_not_data(w, ((PyFunctionObject *)obj)->func_builtins) < 0))
        return -1;
    int python_sizeof = 0;
    uint64_t size = rs_type_table_sizeof(&w->types, type_id, obj, &python_sizeof);
    if (rs_graph_set_size(g, n, size) < 0)
        return -1;
    if (python_sizeof)
        flags |= RS_NODE_PY_SIZEOF;
    flags |= rs_node_sized_text_flag(obj, size);
    rs_graph_add_flags(g, n, flags);
    return 0;
}

/* After: nodes 0..count-1 are described and held, each with its edges in
 * tp_traverse visit order; nodes those edges reached are appended and get
 * their turn, so the loop ends with every reachable object a node. */
static int traverse_all(walk *w)
{
    rs_graph *g = w->graph;
    for (size_t i = 0;; i++) {
        if (i >= rs_graph_node_count(g)) {
            if (rs_graph_flush(g) < 0 || flush_reached(w) < 0)
                return -1;
            if (i >= rs_graph_node_count(g))
                return 0;
        }
        rs_idx n = (rs_idx)i;
        PyObject *obj = rs_snapshot_object(w->snap, n);
        if (describe_node(w, n, obj) < 0 || rs_graph_begin_edges(g, n) < 0)
            return -1;
        if (rs_graph_flags(g, n) & RS_NODE_INTERNAL) {
            w->held = i + 1; /* nothing held for it, but later nodes are */
            continue;
        }
        Py_INCREF(obj);
        w->held = i + 1;
        if (rs_graph_flags(g, n) & RS_NODE_IS_GC) {
            if (Py_TYPE(obj)->tp_traverse != NULL && rs_py_traverse(obj, visit_edge, w) != 0 && w->failed)
                return -1;
        }
        if (w->progress != NULL && (i & 0xFFFF) == 0)
            w->progress(w->progress_ctx, i, rs_graph_node_count(g));
    }
}

static void flag_target(rs_graph *g, PyObject *target, uint32_t flags)
{
    if (target == NULL)
        return;
    rs_idx n = rs_graph_find(g, (uintptr_t)target);
    if (n != RS_NONE)
        rs_graph_add_flags(g, n, flags);
}

/* After: the module dicts and function globals/builtins met by
 * describe_node are flagged NOT_DATA (edges into them are not data edges),
 * and gc.garbage members are flagged GARBAGE.  Touches only those objects. */
static void mark_special_nodes(walk *w)
{
    rs_graph *g = w->graph;
    for (size_t i = 0; i < w->not_data_count; i++) {
        rs_idx n = rs_graph_find(g, w->not_data[i]);
        if (n != RS_NONE)
            rs_graph_add_flags(g, n, RS_NODE_NOT_DATA);
    }
    PyObject *garbage = rs_py_gc_garbage();
    if (garbage != NULL && PyList_Check(garbage)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(garbage); i++)
            flag_target(g, PyList_GET_ITEM(garbage, i), RS_NODE_GARBAGE);
    }
}

static long frame_roots_into(const rs_graph *g, rs_idx n)
{
    if (!(rs_graph_flags(g, n) & RS_NODE_ROOT_FRAME))
        return 0;
    size_t count;
    const rs_root *roots = rs_graph_roots(g, &count);
    long found = 0;
    /* Module and frame roots come first; C-held ones are appended last. */
    for (size_t r = 0; r < count && roots[r].kind != RS_ROOT_UNEXPLAINED; r++)
        found += roots[r].kind == RS_ROOT_FRAME && roots[r].target == n;
    return found;
}

long rs_snapshot_unexplained(const rs_snapshot *s, rs_idx n)
{
    if (rs_graph_flags(s->graph, n) & RS_NODE_IMMORTAL)
        return 0; /* its reference count means nothing (3.12+) */
    size_t referrers;
    rs_graph_referrers(s->graph, n, &referrers);
    return (long)rs_graph_refcount(s->graph, n) - (long)referrers - frame_roots_into(s->graph, n);
}

static int by_index(const void *a, const void *b)
{
    rs_idx x = *(const rs_idx *)a, y = *(const rs_idx *)b;
    return (x > y) - (x < y);
}

/* After: every visible node with unexplained references is a root of kind
 * UNEXPLAINED; visible_count counts the nodes not hidden, visible_bytes
 * adds up their sizes. */
static int add_held_roots(walk *w)
{
    rs_snapshot *s = w->snap;
    rs_graph *g = w->graph;
    size_t count = rs_graph_node_count(g);
    /* The targets of frame roots, sorted: the nodes are visited in index
     * order, so one cursor counts each node's frame roots (the per-node
     * lookup above scans the roots and is meant for single questions).
     * Frame roots are few; an array per node would be zeroed for nothing. */
    size_t root_count, frame_count = 0;
    const rs_root *roots = rs_graph_roots(g, &root_count);
    for (size_t r = 0; r < root_count; r++)
        frame_count += roots[r].kind == RS_ROOT_FRAME;
    rs_idx *frame_targets = rs_malloc((frame_count ? frame_count : 1) * sizeof *frame_targets);
    if (frame_targets == NULL)
        return -1;
    for (size_t r = 0, k = 0; r < root_count; r++)
        if (roots[r].kind == RS_ROOT_FRAME)
            frame_targets[k++] = roots[r].target;
    qsort(frame_targets, frame_count, sizeof *frame_targets, by_index);
    s->visible_count = 0;
    uint64_t bytes = 0; /* summed in a local: s's field would be stored every node */
    int result = 0;
    size_t cursor = 0;
    for (size_t i = 0; i < count && result == 0; i++) {
        rs_idx n = (rs_idx)i;
        int64_t frame_edges = 0;
        for (; cursor < frame_count && frame_targets[cursor] <= n; cursor++)
            frame_edges += frame_targets[cursor] == n;
        if (rs_graph_flags(g, n) & RS_NODE_INTERNAL)
            continue;
        s->visible_count++;
        bytes += rs_graph_size(g, n);
        if (rs_graph_flags(g, n) & RS_NODE_IMMORTAL)
            continue;
        size_t referrers;
        rs_graph_referrers(g, n, &referrers);
        if ((int64_t)rs_graph_refcount(g, n) - (int64_t)referrers - frame_edges > 0)
            result = rs_graph_add_root(g, n, RS_ROOT_UNEXPLAINED, 0);
    }
    rs_free(frame_targets);
    s->visible_bytes = bytes;
    return result;
}

/* nodes_only: visible_count counts the nodes not hidden, visible_bytes
 * adds up their sizes. */
static void count_visible(rs_snapshot *s)
{
    size_t count = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < rs_graph_node_count(s->graph); i++)
        if (!(rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL)) {
            count++;
            bytes += rs_graph_size(s->graph, (rs_idx)i);
        }
    s->visible_count = count;
    s->visible_bytes = bytes;
}

static void release_nodes(rs_graph *g, size_t held)
{
    for (size_t i = 0; i < held; i++) {
        if (rs_graph_flags(g, (rs_idx)i) & RS_NODE_INTERNAL)
            continue;
        Py_DECREF((PyObject *)rs_graph_addr(g, (rs_idx)i));
    }
}

static void free_tables(rs_snapshot *s)
{
    for (uint32_t i = 0; i < s->type_count; i++)
        rs_free(s->types[i].name);
    rs_free(s->types);
    for (uint32_t i = 0; i < s->thread_count; i++)
        rs_free(s->threads[i].name);
    rs_free(s->threads);
    for (uint32_t i = 0; i < s->root_info_count; i++)
        rs_free(s->root_info[i].module);
    rs_free(s->root_info);
    rs_free(s->frames);
    rs_scc_free(s->scc);
    rs_dom_free(s->dom);
    rs_dom_order_free(s->dom_order);
    rs_retained_memo_free(s->retained_memo);
    rs_label_cache_free(s);
    rs_free(s->node_kinds);
    rs_suspect_cache_free(s);
}

rs_snapshot *rs_snapshot_take(bool collect, rs_progress_fn progress, void *progress_ctx)
{
    return rs_snapshot_take_for(collect, NULL, progress, progress_ctx);
}

static rs_snapshot *take(bool collect, bool nodes_only, const rs_snapshot_caller *caller, rs_progress_fn progress,
                         void *progress_ctx)
{
    rs_snapshot *s = NULL;
    walk w = {.progress = progress, .progress_ctx = progress_ctx, .caller = caller, .nodes_only = nodes_only};
    int gc_was_enabled = -1;
    double start;

    if (collect) {
        /* PyGC_Collect() does nothing while automatic gc is disabled;
         * collect=True promises what gc.collect() does whatever
         * gc.isenabled() says, so enable it for the collection. */
        int was_enabled = PyGC_Enable();
        PyGC_Collect();
        if (!was_enabled)
            PyGC_Disable();
    }
    s = rs_calloc(1, sizeof *s);
    if (s == NULL)
        goto nomem;
    w.snap = s;
    if (roots_prepare_threads(s) < 0) /* runs Python: before the window */
        goto error;
    rs_type_table_init(&w.types);

    gc_was_enabled = PyGC_Disable();
    start = rs_monotonic_seconds();
    size_t estimate = rs_py_tracked_estimate();
    size_t node_hint = (size_t)((double)estimate * nodes_per_estimate) + 4096;
    w.graph = s->graph = rs_graph_new(node_hint, nodes_only ? 0 : node_hint * 2);
    if (s->graph == NULL || add_tracked(&w, estimate) < 0 || roots_add_all(s) < 0 || traverse_all(&w) < 0 ||
        rs_graph_finish(s->graph) < 0)
        goto nomem;
    if (nodes_only) {
        count_visible(s);
    } else {
        mark_special_nodes(&w);
        if (add_held_roots(&w) < 0)
            goto nomem;
    }
    rs_free(w.not_data);
    w.not_data = NULL;
    s->seconds = rs_monotonic_seconds() - start;
    if (estimate > 1000)
        nodes_per_estimate = (double)rs_graph_node_count(s->graph) / (double)estimate;
    if (gc_was_enabled)
        PyGC_Enable();
    gc_was_enabled = -1;
    if (rs_type_table_export(&w.types, &s->types, &s->type_count) < 0)
        goto error;
    if (progress != NULL)
        progress(progress_ctx, rs_graph_node_count(s->graph), rs_graph_node_count(s->graph));
    s->next_open = open_snapshots;
    open_snapshots = s;
    return s;

nomem:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory for a snapshot of this heap");
error:
    if (gc_was_enabled == 1)
        PyGC_Enable();
    rs_free(w.not_data);
    rs_type_table_clear(&w.types);
    if (s != NULL) {
        if (s->graph != NULL)
            release_nodes(s->graph, w.held);
        rs_graph_free(s->graph);
        free_tables(s);
        rs_free(s);
    }
    return NULL;
}

rs_snapshot *rs_snapshot_take_for(bool collect, const rs_snapshot_caller *caller, rs_progress_fn progress,
                                  void *progress_ctx)
{
    rs_repr_forget_slow();
    return take(collect, false, caller, progress, progress_ctx);
}

rs_snapshot *rs_snapshot_take_nodes(bool collect)
{
    return take(collect, true, NULL, NULL, NULL);
}

void rs_snapshot_free(rs_snapshot *s)
{
    if (s == NULL)
        return;
    for (rs_snapshot **p = &open_snapshots; *p != NULL; p = &(*p)->next_open)
        if (*p == s) {
            *p = s->next_open;
            break;
        }
    rs_graph *g = s->graph;
    s->graph = NULL;
    /* Drop the references last: finalizers may run and re-enter refscope. */
    free_tables(s);
    release_nodes(g, rs_graph_node_count(g));
    rs_graph_free(g);
    rs_free(s);
}

rs_idx rs_snapshot_find(const rs_snapshot *s, PyObject *obj)
{
    rs_idx n = rs_graph_find(s->graph, (uintptr_t)obj);
    if (n != RS_NONE && (rs_graph_flags(s->graph, n) & RS_NODE_INTERNAL))
        return RS_NONE;
    return n;
}

const char *rs_snapshot_type_name(const rs_snapshot *s, rs_idx n)
{
    return s->types[rs_graph_type_id(s->graph, n)].name;
}

int64_t rs_snapshot_type_lookup(const rs_snapshot *s, const char *name)
{
    int64_t found = -1;
    for (uint32_t i = 0; i < s->type_count; i++) {
        if (strcmp(s->types[i].name, name) == 0)
            return i;
    }
    /* A bare QualName matches "module.QualName" when only one type has it. */
    size_t len = strlen(name);
    for (uint32_t i = 0; i < s->type_count; i++) {
        const char *full = s->types[i].name;
        size_t flen = strlen(full);
        if (flen > len && full[flen - len - 1] == '.' && strcmp(full + flen - len, name) == 0) {
            if (found >= 0)
                return -2;
            found = i;
        }
    }
    return found;
}

int64_t rs_snapshot_type_index(const rs_snapshot *s, PyTypeObject *tp)
{
    for (uint32_t i = 0; i < s->type_count; i++)
        if (s->types[i].type == tp)
            return i;
    return -1;
}

/* --- refscope's own objects among a holder's referents ---------------------- */

/* The snapshot holds no reference to refscope's own objects (a Snapshot a
 * user keeps in a list), so one of them may have died since the walk.  A
 * holder that still references it now keeps it alive: a fresh traversal of
 * the holder says which. */
typedef struct own_ref {
    PyObject *ptr;
    size_t edge;
} own_ref;

typedef struct own_refs {
    own_ref *refs;
    size_t count;
    uint8_t *alive;
} own_refs;

static int by_ptr(const void *a, const void *b)
{
    const own_ref *x = a, *y = b;
    if (x->ptr != y->ptr)
        return (uintptr_t)x->ptr < (uintptr_t)y->ptr ? -1 : 1;
    return (x->edge > y->edge) - (x->edge < y->edge);
}

/* Marks the first edge to op not yet seen alive (binary search). */
static int visit_own(PyObject *op, void *arg)
{
    own_refs *o = arg;
    size_t lo = 0, hi = o->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)o->refs[mid].ptr < (uintptr_t)op)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < o->count && o->refs[lo].ptr == op; lo++) {
        if (!o->alive[o->refs[lo].edge]) {
            o->alive[o->refs[lo].edge] = 1;
            break;
        }
    }
    return 0;
}

int rs_snapshot_own_alive(rs_snapshot *s, rs_idx holder, uint8_t *alive)
{
    size_t count;
    const rs_idx *targets = rs_graph_referents(s->graph, holder, &count);
    own_refs o = {.alive = alive};
    for (size_t k = 0; k < count; k++) {
        alive[k] = 0;
        o.count += (rs_graph_flags(s->graph, targets[k]) & RS_NODE_INTERNAL) != 0;
    }
    if (o.count == 0)
        return 0;
    o.refs = rs_malloc(o.count * sizeof *o.refs);
    if (o.refs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t k = 0, i = 0; k < count; k++)
        if (rs_graph_flags(s->graph, targets[k]) & RS_NODE_INTERNAL)
            o.refs[i++] = (own_ref){rs_snapshot_object(s, targets[k]), k};
    qsort(o.refs, o.count, sizeof *o.refs, by_ptr);
    PyObject *obj = rs_snapshot_object(s, holder);
    traverseproc traverse = Py_TYPE(obj)->tp_traverse;
    if (PyObject_IS_GC(obj) && traverse != NULL)
        traverse(obj, visit_own, &o);
    rs_free(o.refs);
    return 0;
}

/*
 * The snapshot engine's internal API: a consistent copy of the whole object
 * graph (graph core arrays + the Python objects it holds strong references
 * to), with lazily computed labels, paths and census.  module.c wraps it in
 * Python types; the browser's views read it.  All calls need the GIL.
 */
#ifndef REFSCOPE_SNAPSHOT_H
#define REFSCOPE_SNAPSHOT_H

#include <Python.h>
#include <stdbool.h>

#include "refscope/graph.h"

/* A node flag the engine adds: refscope's own objects (snapshots, paths)
 * that were reached anyway; hidden from every answer. */
#define RS_NODE_INTERNAL (1u << 16)

/* One executing frame seen by the walk (top of its thread's stack first). */
typedef struct rs_frame_info {
    PyObject *code;     /* borrowed: the code object is a node the snapshot holds */
    int line;
    uint32_t thread;    /* index into rs_snapshot.threads */
    uint32_t depth;     /* 0 = innermost */
    rs_idx function;    /* node of the running function, or RS_NONE */
    bool refscope;      /* `refscope run`'s own frames (its bootstrap and
                           runpy under the program): kept as roots, not shown */
} rs_frame_info;

typedef struct rs_thread_info {
    unsigned long ident;
    char *name;          /* copied before the walk ("Thread-3"); never NULL */
    uint32_t first_frame; /* index into rs_snapshot.frames */
    uint32_t frame_count;
    bool is_current;     /* the thread that took the snapshot */
} rs_thread_info;

/* What a root edge is, for its label: rs_root.info indexes this table. */
typedef struct rs_root_info {
    uint32_t frame;  /* frame roots: index into frames */
    int32_t slot;    /* frame roots: local slot, or one of RS_SLOT_* below */
    char *module;    /* module roots: the sys.modules key (owned) */
} rs_root_info;

enum {
    RS_SLOT_FUNCTION = -1, /* the running function */
    RS_SLOT_CODE = -2,
    RS_SLOT_LOCALS = -3,   /* f_locals dict (module/class bodies) */
    RS_SLOT_FRAME = -4,    /* the frame object */
};

typedef struct rs_type_info {
    PyTypeObject *type;   /* borrowed: kept alive by its instances */
    char *name;           /* "module.QualName" (owned) */
} rs_type_info;

typedef void (*rs_progress_fn)(void *ctx, size_t done, size_t total);

/* All the labels of one node's edges in one direction (label.c). */
typedef struct rs_label_cache {
    rs_idx node;       /* whose labels[] these are (valid when labels) */
    rs_idx asked;      /* 1 + the node of the last uncached question, 0 none */
    size_t count;
    PyObject **labels; /* count new references to str */
} rs_label_cache;

typedef struct rs_snapshot {
    rs_graph *graph;
    rs_type_info *types;
    uint32_t type_count;
    rs_frame_info *frames;
    uint32_t frame_count;
    rs_thread_info *threads;
    uint32_t thread_count;
    rs_root_info *root_info;
    uint32_t root_info_count;
    size_t visible_count;  /* nodes not flagged RS_NODE_INTERNAL */
    uint64_t visible_bytes; /* their sizes added up, in the same pass */
    double seconds;        /* time to build */
    /* Lazily computed analyses (NULL until first use). */
    struct rs_scc *scc;
    struct rs_dom *dom;
    struct rs_dom_order *dom_order; /* enter/leave numbers of the dominator tree */
    struct rs_retained_memo *retained_memo; /* retained.c: unreachable nodes' figures */
    rs_label_cache label_cache[2]; /* [0] referents, [1] referrers */
    struct rs_snapshot *next_open; /* the process's open snapshots (walk.c) */
    /* A snapshot read back from a heap dump: the dump its answers come
     * from (node.h), its types have no PyTypeObject and its node addresses
     * are the dumped process's; NULL for a live snapshot. */
    struct rs_dump *stored;
    uint8_t *node_kinds; /* node.c: enum rs_node_kind per type, on first use */
    /* suspects.c: the leak-suspect figures the summary screen, the report
     * and the API all read, computed once (NULL until first use). */
    struct rs_suspect_cache *suspect_cache;
} rs_snapshot;

/* Frees what suspects.c keeps with s (s->suspect_cache); for the code
 * that frees a snapshot. */
void rs_suspect_cache_free(rs_snapshot *s);

/* Types whose instances are refscope's own; set by module.c at import. */
extern PyTypeObject *rs_internal_types[4];

/* True when tp is one of rs_internal_types (walk.c). */
bool rs_is_internal_type(PyTypeObject *tp);

/* Takes a snapshot of the whole heap (walk.c).  collect runs gc.collect()
 * first.  progress (may be NULL) is called now and then with nodes done so
 * far.  Returns a new snapshot, or NULL with a Python exception set. */
rs_snapshot *rs_snapshot_take(bool collect, rs_progress_fn progress, void *progress_ctx);

/* What refscope's caller holds while a snapshot is taken, which no
 * traversal sees: the browse(obj) argument on the calling frame's value
 * stack (one of its references counts as explained), and the hotkey's
 * argument tuple (hidden like refscope's own objects; its items' references
 * from it count as explained).  Either may be NULL. */
typedef struct rs_snapshot_caller {
    PyObject *argument;
    PyObject *own_call;
} rs_snapshot_caller;

/* rs_snapshot_take() for a snapshot taken on behalf of caller (may be NULL). */
rs_snapshot *rs_snapshot_take_for(bool collect, const rs_snapshot_caller *caller, rs_progress_fn progress,
                                  void *progress_ctx);

/* A snapshot of the nodes only, for marks (growth() compares the heap
 * with the mark in a walk of its own, growth_walk.c), which need each
 * object's address, type and size and nothing else: the same walk (so the
 * same nodes), but no edges, no reverse index, no held roots and no
 * NOT_DATA/GARBAGE flags; visible_count and visible_bytes are set.  Every other question to
 * it gets empty answers.  NULL with a Python exception set on failure. */
rs_snapshot *rs_snapshot_take_nodes(bool collect);

/* Releases every reference the snapshot holds and frees it; NULL accepted.
 * May run arbitrary Python code (objects that die run their finalizers). */
void rs_snapshot_free(rs_snapshot *s);

/* The object of node n (borrowed: the snapshot holds it).  Live snapshots
 * only: a stored one (s->stored) has addresses of another process; ask
 * node.h's functions, which answer for both. */
static inline PyObject *rs_snapshot_object(const rs_snapshot *s, rs_idx n)
{
    return (PyObject *)rs_graph_addr(s->graph, n);
}

/* The type of node n, from the type table: no look at the object itself. */
static inline PyTypeObject *rs_snapshot_node_type(const rs_snapshot *s, rs_idx n)
{
    return s->types[rs_graph_type_id(s->graph, n)].type;
}
/* For each referent edge k of holder (alive has one entry per referent):
 * alive[k] = 1 when the edge goes to one of refscope's own objects (which
 * the snapshot does not hold) and holder still references it now, so it is
 * alive; 0 for every other edge.  Traverses holder (walk.c).  0, or -1
 * with MemoryError set. */
int rs_snapshot_own_alive(rs_snapshot *s, rs_idx holder, uint8_t *alive);

/* The node of obj, or RS_NONE when obj is not in the snapshot (or hidden). */
rs_idx rs_snapshot_find(const rs_snapshot *s, PyObject *obj);

/* References to node n that nothing in the snapshot explains: refcount
 * minus referrers minus executing-frame root edges (held by C code, the
 * interpreter, or a leaky extension). */
long rs_snapshot_unexplained(const rs_snapshot *s, rs_idx n);

/* Type name of node n ("module.QualName"), owned by the snapshot. */
const char *rs_snapshot_type_name(const rs_snapshot *s, rs_idx n);

/* The type table index of a name ("dict", "app.Node", "Node" when unique),
 * or -1 when no node has that type. */
int64_t rs_snapshot_type_lookup(const rs_snapshot *s, const char *name);

/* The type table index of the type object tp, or -1 when no node has that
 * type (a live snapshot's; a dump's types have no objects). */
int64_t rs_snapshot_type_index(const rs_snapshot *s, PyTypeObject *tp);

/* --- labels (label.c) --------------------------------------------------- */

/* Label of the k-th referent edge of src (0-based, visit order), as written
 * in Python (".attr", "['key']", "[3]").  New str, or NULL on MemoryError. */
PyObject *rs_label_referent(rs_snapshot *s, rs_idx src, size_t k);

/* Label of the j-th entry of dst's referrer list (the edge referrer -> dst).
 * New str, or NULL on MemoryError. */
PyObject *rs_label_referrer(rs_snapshot *s, rs_idx dst, size_t j);

/* Labels every referent (forward) or referrer edge of node in one pass per
 * holder and keeps them, so the rs_label_referent / rs_label_referrer calls
 * for node's edges that follow cost nothing.  0, or -1 with an exception. */
int rs_label_prepare(rs_snapshot *s, rs_idx node, int forward);

/* One candidate of a holder labelled by its fields alone: the object the
 * field holds (NULL when empty) and its name, static (the label is
 * ".name"). */
typedef struct rs_label_field {
    PyObject *ptr;
    const char *name;
} rs_label_field;

#define RS_LABEL_FIELDS_MAX 16

/* The candidates label.c matches edges against for a holder labelled by
 * its fields alone (a function, cell, bound method, builtin function, or
 * any object without a layout of its own that label.c knows: its C
 * members, as a descriptor's), in tp_traverse visit order, into out (room
 * for RS_LABEL_FIELDS_MAX): their count, or -1 for any other holder.
 * Edges that are exactly the non-NULL fields in this order take their
 * fields' labels, with no pass (the dump writer's shortcut). */
int rs_label_fields(PyObject *obj, rs_label_field *out);

/* The function whose __closure__ is tuple node t, found among t's
 * referrers (borrowed), or NULL: label.c names such a tuple's items by
 * the closure's variables, any other tuple's by index. */
PyObject *rs_label_closure_owner(rs_snapshot *s, rs_idx t);

/* Releases the labels label.c keeps for the last node asked about. */
void rs_label_cache_free(rs_snapshot *s);

/* Bytes the kept labels use (for Snapshot.memory). */
size_t rs_label_cache_bytes(const rs_snapshot *s);

/* Holder items the label passes have examined since the module loaded (a
 * work counter for tests: labelling a holder's edges is linear in it). */
size_t rs_label_work(void);

/* Label of a root edge ("sys.modules['app']",
 * "thread 'MainThread' frame worker() app.py:12 <local 'buf'>").  New str. */
PyObject *rs_label_root(rs_snapshot *s, const rs_root *root);

/* --- reprs (repr.c) ----------------------------------------------------- */

/* repr(obj) made safe for a terminal line and bounded before it is built:
 * builtin containers, str, bytes, bytearray and int are written by refscope
 * (first items only; equal to repr(obj) when it fits), other objects by
 * their __repr__, guarded (an exception gives "<repr failed: ValueError>").
 * Control characters escaped, at most max_len characters (ending in "..."
 * when cut), recursion guarded.  New str, or NULL only on MemoryError. */
PyObject *rs_safe_repr(PyObject *obj, Py_ssize_t max_len);

/* text with control characters escaped and cut to max_len characters.
 * New str, or NULL on MemoryError. */
PyObject *rs_escape_text(PyObject *text, Py_ssize_t max_len);

/* Container items the bounded repr has visited since the module loaded
 * (a work counter for tests: it must not grow with container sizes). */
size_t rs_repr_work(void);

/* Forgets which types' __repr__ was too slow to ask again (repr.c); a new
 * snapshot asks each type afresh. */
void rs_repr_forget_slow(void);

/* "thread 'MainThread' frame worker() app.py:12" for frames[frame]. New str. */
PyObject *rs_label_frame(rs_snapshot *s, uint32_t frame);

/* --- paths (path.c) ----------------------------------------------------- */

/* The shortest path from a root to n, preferring module roots, then frame
 * roots, then objects held by C.  On success *nodes is an rs_malloc'ed array
 * (caller frees with rs_free) from the root's target to n, *len its length
 * and *root the root; returns 1.  Returns 0 when n is unreachable from every
 * root (cyclic garbage), -1 with MemoryError set. */
int rs_path_find(rs_snapshot *s, rs_idx n, rs_idx **nodes, size_t *len, const rs_root **root);

/* The path as one Python expression, e.g.
 * "sys.modules['app'].cache['user:1'].parent"; with root NULL, the steps
 * below nodes[0] only (".cache['user:1']").  New str, or NULL on error. */
PyObject *rs_path_expression(rs_snapshot *s, const rs_idx *nodes, size_t len, const rs_root *root);

/* The same, bounded: a path of more than max_steps steps (0: no bound)
 * shows its first and last steps around " ...(N steps)... "; the steps
 * left out are never labelled. */
PyObject *rs_path_expression_short(rs_snapshot *s, const rs_idx *nodes, size_t len, const rs_root *root,
                                   size_t max_steps);

/* The display labels of a path's steps (a list of str, the root's first)
 * joined into one expression as rs_path_expression() writes it; also used
 * for dumps, whose labels are stored.  New str, or NULL on error. */
PyObject *rs_path_join(PyObject *label_list);

/* The path as a Python expression that evaluates back to nodes[len-1]
 * wherever Python can express every step (path_python.c): full key reprs,
 * .__dict__['x'] where .x would read something else, f.__closure__[0];
 * steps it cannot express stay marked as in the display form.  New str,
 * or NULL on error. */
PyObject *rs_path_python(rs_snapshot *s, const rs_idx *nodes, size_t len, const rs_root *root);

/* Steps of a why-alive path that report lines and the summary spell out
 * (the first and the last ones). */
#define RS_PATH_TEXT_STEPS 24

/* The why-alive path of node n as one expression string (a path longer
 * than RS_PATH_TEXT_STEPS shortened in the middle), or None when it is
 * unreachable.  NULL on error. */
PyObject *rs_path_text(rs_snapshot *s, rs_idx n);

/* Label of the edge nodes[i-1] -> nodes[i] (for i == 0: the root label,
 * "" without a root). */
PyObject *rs_path_step_label(rs_snapshot *s, const rs_idx *nodes, size_t i, const rs_root *root);

/* --- census (census.c) --------------------------------------------------- */

typedef struct rs_census_row {
    uint32_t type_id;
    size_t count;
    uint64_t size;
    uint64_t retained; /* rs_retained_by_type()'s, no double counting; 0
                          until dominators are computed */
} rs_census_row;

/* Turns rows[t] (one per type id, count and size added up) into
 * the census's rows: types with instances, biggest total size first, in
 * the same array (returned); *count receives their number. */
rs_census_row *rs_census_finish(rs_snapshot *s, rs_census_row *rows, size_t *count);

/* The visible nodes of type table entry type_id, in node order.  rs_malloc'ed
 * array or NULL with MemoryError set; *count receives the length. */
rs_idx *rs_census_instances(rs_snapshot *s, uint32_t type_id, size_t *count);

#endif

/*
 * Leak analyses over a snapshot, as C data: cycles and the edges to break,
 * garbage, closures, frame locals, retained sets, growth since a mark,
 * largest objects, strings by holder and process memory.  The Python API
 * (module_analysis.c), the report (report.c) and the browser's views all
 * read these; none of them builds Python lists.  Every call needs the GIL.
 * Arrays returned are rs_malloc'ed and freed by the caller with rs_free()
 * unless a *_free() function is named; node indexes refer to the snapshot.
 * On failure a function returns NULL / -1 with a Python exception set
 * (MemoryError for memory).
 */
#ifndef REFSCOPE_ANALYSIS_H
#define REFSCOPE_ANALYSIS_H

#include <Python.h>
#include <stdbool.h>

#include "snapshot.h"

/* --- lazily computed results kept with the snapshot ---------------------- */

/* Computes the strongly connected components once (s->scc).  0, or -1 with
 * MemoryError set. */
int rs_analysis_ensure_scc(rs_snapshot *s);

/* Computes the dominator tree once (s->dom).  0, or -1 with MemoryError set.
 * (Defined in analysis.c.) */
int rs_analysis_ensure_dominators(rs_snapshot *s);

/* Throws away and recomputes "scc" or "dominators", for benchmarks; stores
 * the seconds taken in *seconds.  Pointers borrowed from the old result
 * (rs_cycle.members, rs_dom_children arrays) are invalid afterwards.
 * 0, or -1 with an exception set. */
int rs_analysis_recompute(rs_snapshot *s, const char *what, double *seconds);

/* --- cycles (cycles.c) --------------------------------------------------- */

/* One cycle: a strongly connected component over data edges with more than
 * one node or a self-edge (DESIGN.md section 5). */
typedef struct rs_cycle {
    uint32_t number;        /* cycle number in s->scc */
    const rs_idx *members;  /* borrowed from s->scc, increasing node index */
    size_t member_count;
    uint64_t size;          /* sum of the members' own sizes */
    uint64_t retained;      /* bytes freed if the whole cycle went away; see
                               rs_cycles() for how it is counted */
    bool garbage;           /* unreachable from every root */
} rs_cycle;

/* An edge of the graph named by its source and its position among the
 * source's referents (so rs_label_referent(s, from, referent) labels it). */
typedef struct rs_edge_ref {
    rs_idx from;
    rs_idx to;
    uint32_t referent;
} rs_edge_ref;

/* Why an edge is suggested as the one to break. */
enum rs_break_kind {
    RS_BREAK_BACK_REFERENCE = 0, /* names a parent/owner, .__self__, a closure cell pointing back */
    RS_BREAK_FREES = 1,          /* removing it frees retained bytes */
    RS_BREAK_PLAIN = 2,          /* an ordinary data edge: breaking it frees nothing by itself */
    RS_BREAK_STRUCTURAL = 3,     /* .__dict__, .__closure__ ... not something a program sets */
};

typedef struct rs_break_edge {
    rs_edge_ref edge;
    uint32_t kind;          /* enum rs_break_kind */
    uint64_t freed;         /* bytes freed by removing just this edge (0 for garbage) */
    PyObject *label;        /* owned str, e.g. ".parent" */
    PyObject *suggestion;   /* owned str, one line, e.g. "make .parent a weakref.ref ..." */
} rs_break_edge;

/* Every cycle of the snapshot, biggest retained first (then size, then
 * number).  A reachable cycle's retained is the retained size of its
 * members that no other member dominates (the dominator tree's answer: what
 * freeing those members frees); an unreachable cycle's is the size of the
 * unreachable objects it reaches.  Computes SCCs and dominators on first
 * use.  rs_malloc'ed array, *count its length; NULL with an exception set. */
rs_cycle *rs_cycles(rs_snapshot *s, size_t *count);

/* The cycle with number `number` (from rs_scc_cycle_of), filled like an
 * entry of rs_cycles().  0, or -1 with an exception set (refscope code
 * passes valid numbers; a bad one gives IndexError). */
int rs_cycle_get(rs_snapshot *s, uint32_t number, rs_cycle *out);

/* Every data edge between two members of the cycle, in member order then
 * referent order.  rs_malloc'ed array, *count its length; NULL on error. */
rs_edge_ref *rs_cycle_edges(rs_snapshot *s, const rs_cycle *c, size_t *count);

/* A walkable ring: the shortest closed walk over data edges from the
 * cycle's first member back to it (every edge's `to` is the next edge's
 * `from`).  rs_malloc'ed array, *count its length; NULL on error. */
rs_edge_ref *rs_cycle_ring(rs_snapshot *s, const rs_cycle *c, size_t *count);

/* The cycle's edges ranked as edges to break: back-references first, then
 * edges whose removal frees the most, then the rest; structural edges last.
 * Back-references are found by label among the first 4096 edges (and not
 * among a container's items past 1024): a huge cycle is ranked by freed
 * bytes beyond that.
 * At most max entries (0 = all), each with its label and a one-line
 * suggestion.  Runs Python (labels).  Free with rs_break_edges_free(). */
rs_break_edge *rs_cycle_break_edges(rs_snapshot *s, const rs_cycle *c, size_t max, size_t *count);

/* Frees an array from rs_cycle_break_edges() and the strings in it. */
void rs_break_edges_free(rs_break_edge *edges, size_t count);

/* --- garbage (garbage.c) ------------------------------------------------- */

enum rs_garbage_kind {
    RS_GARBAGE_GC_LIST = 0,            /* listed in gc.garbage */
    RS_GARBAGE_UNREACHABLE_CYCLE = 1,  /* in a cycle no root reaches: awaiting collection */
    RS_GARBAGE_UNREACHABLE = 2,        /* not in a cycle, held only by unreachable cycles */
    RS_GARBAGE_FINALIZER_CYCLE = 3,    /* reachable, has a finalizer and sits in a cycle */
    RS_GARBAGE_KIND_COUNT = 4
};

/* The short name of a garbage kind ("gc.garbage", "unreachable-cycle",
 * "unreachable", "finalizer-in-cycle"). */
const char *rs_garbage_kind_name(uint32_t kind);

typedef struct rs_garbage_entry {
    rs_idx node;
    uint32_t kind;          /* enum rs_garbage_kind; each object once, first kind that applies */
} rs_garbage_entry;

/* The garbage entries found[0 .. total), in node order, ordered as the
 * garbage is listed: gc.garbage members, finalizer objects in live
 * cycles, then unreachable objects (cyclic garbage awaiting collection),
 * node order within a kind.  (suspects.c finds them, in its one pass over
 * the nodes: rs_suspect_garbage().)  New rs_malloc'ed array; NULL with
 * MemoryError. */
rs_garbage_entry *rs_garbage_by_kind(const rs_garbage_entry *found, size_t total);

/* Why entry e is listed: one or two sentences naming the finalizer, the
 * gc.garbage rule or the pending collection.  New str, NULL on error. */
PyObject *rs_garbage_reason(rs_snapshot *s, const rs_garbage_entry *e);

typedef struct rs_garbage_totals {
    size_t count[RS_GARBAGE_KIND_COUNT];   /* objects of each kind, as rs_suspect_garbage() lists them */
    uint64_t bytes[RS_GARBAGE_KIND_COUNT]; /* their own sizes */
    uint64_t stuck;  /* bytes of objects no root reaches (gc.garbage's
                        members are held by gc.garbage and counted there):
                        memory the "reachable" figure leaves out */
} rs_garbage_totals;

/* The garbage kind of node n (the first that applies), or
 * RS_GARBAGE_KIND_COUNT for none.  Needs SCC and dominators. */
uint32_t rs_garbage_kind_of(rs_snapshot *s, rs_idx n);

/* Garbage entries (rs_suspect_garbage()'s) counted by kind, without
 * another pass over the snapshot. */
void rs_garbage_totals_of(rs_snapshot *s, const rs_garbage_entry *entries, size_t count, rs_garbage_totals *out);

/* --- closures and frames (closures.c, frames.c) -------------------------- */

typedef struct rs_closure_var {
    rs_idx function;
    rs_idx cell;
    rs_idx value;           /* the cell's contents */
    uint32_t var;           /* index into the code's co_freevars */
    uint64_t retained;      /* the value's retained size */
} rs_closure_var;

/* Every non-empty cell of every function's __closure__, biggest retained
 * value first.  rs_malloc'ed array; NULL with an exception set. */
rs_closure_var *rs_closures(rs_snapshot *s, size_t *count);

/* The same cells of a live snapshot in node order, their retained sizes
 * left 0: no dominator tree computed (what a dump writes).  rs_malloc'ed
 * array; NULL with an exception set. */
rs_closure_var *rs_closure_cells(rs_snapshot *s, size_t *count);

/* The name of closure variable cv (co_freevars entry).  New str or NULL. */
PyObject *rs_closure_var_name(rs_snapshot *s, const rs_closure_var *cv);

typedef struct rs_local {
    PyObject *name;         /* borrowed: held by the frame's code object */
    rs_idx value;           /* the local's value (a cell variable's contents) */
} rs_local;

/* The named locals of s->frames[frame] with a value, in slot order.  For a
 * generator's running frame they are read from its generator object.
 * rs_malloc'ed array (possibly of length 0); NULL with an exception set. */
rs_local *rs_frame_locals(rs_snapshot *s, uint32_t frame, size_t *count);

/* A generator, coroutine or async generator that is suspended (or not yet
 * started): a frame that no thread is running. */
typedef struct rs_suspended_frame {
    rs_idx generator;
    PyObject *code;         /* borrowed */
    int line;
} rs_suspended_frame;

/* Every suspended generator/coroutine frame, in node order.  rs_malloc'ed
 * array; NULL with an exception set. */
rs_suspended_frame *rs_suspended_frames(rs_snapshot *s, size_t *count);

/* The named locals of a suspended generator's frame, like rs_frame_locals(). */
rs_local *rs_generator_locals(rs_snapshot *s, rs_idx generator, size_t *count);

/* --- retained sets (retained.c) ------------------------------------------ */

/* Depth-first walk of the dominator tree below `from` (a node, or
 * RS_DOM_SUPER_ROOT, which is not visited itself): visit(ctx, n, false) on
 * entering n, visit(ctx, n, true) after all it dominates.  A non-zero return
 * from visit stops the walk and is returned.  Needs the dominators computed.
 * Returns 0, the visit's value, or -1 with MemoryError set. */
int rs_dominator_walk(rs_snapshot *s, rs_idx from, int (*visit)(void *ctx, rs_idx n, bool leaving), void *ctx);

/* Entry/exit numbers of every node in one walk of the whole dominator tree,
 * so "x dominates y" is two comparisons.  0 for unreachable nodes. */
typedef struct rs_dom_order {
    uint32_t *enter;
    uint32_t *leave;
} rs_dom_order;

/* Computes the order (and the dominators, once).  NULL with an exception
 * set; free with rs_dom_order_free(). */
rs_dom_order *rs_dom_order_new(rs_snapshot *s);

/* The snapshot's order, computed on first use and kept with it (one walk of
 * the whole dominator tree, not one per question).  Borrowed; NULL with an
 * exception set. */
const rs_dom_order *rs_analysis_dom_order(rs_snapshot *s);

/* Frees an order from rs_dom_order_new(); NULL is accepted. */
void rs_dom_order_free(rs_dom_order *o);

typedef struct rs_retained_memo rs_retained_memo;

/* Frees what rs_retained_size() remembered of unreachable nodes (kept on
 * the snapshot); NULL is accepted. */
void rs_retained_memo_free(rs_retained_memo *m);

/* true when x dominates y (x == y included); false when either is unreachable. */
static inline bool rs_dom_order_dominates(const rs_dom_order *o, rs_idx x, rs_idx y)
{
    return o->enter[x] != 0 && o->enter[y] != 0 && o->enter[x] <= o->enter[y] && o->leave[y] <= o->leave[x];
}

/* n and every node n dominates (what freeing n frees), n first, then in
 * dominator-tree preorder.  For an unreachable n (garbage): n and the
 * unreachable objects it reaches, which the collection that frees n frees
 * with it (an unreachable cycle's retained size in rs_cycles() is the same
 * set's).  rs_malloc'ed. */
rs_idx *rs_retained_set(rs_snapshot *s, rs_idx n, size_t *count);

/* The total size of nodes (a retained set): for a reachable node the
 * dominator tree's retained size. */
uint64_t rs_retained_set_size(rs_snapshot *s, const rs_idx *nodes, size_t count);

/* The size of n's retained set into *size: the dominator tree's retained
 * size, or for garbage what its collection frees.  0, or -1 with an
 * exception set. */
int rs_retained_size(rs_snapshot *s, rs_idx n, uint64_t *size);

typedef struct rs_type_retained {
    uint32_t type_id;
    size_t count;           /* instances (all of them, as the census counts) */
    uint64_t size;          /* their own sizes */
    uint64_t retained;      /* retained by instances that no other instance
                               of the type dominates: no double counting */
    rs_idx biggest;         /* the instance with the largest retained size */
} rs_type_retained;

/* Per type retained sizes without double counting, biggest first.  rows
 * (rs_malloc'ed, one per type id, taken over) come with count and size
 * filled in as the census gives them, count 0 for a type left out
 * (modules, types and code objects, which hold everything); one walk of
 * the dominator tree adds the rest, and the rows with a count are
 * returned in the same array, *count of them.  NULL with an exception
 * (rows freed). */
rs_type_retained *rs_retained_by_type(rs_snapshot *s, rs_type_retained *rows, size_t *count);

/* --- growth (growth.c) --------------------------------------------------- */

/* Records every visible node of s as (address, type) in a compact hash
 * table, replacing the previous mark.  The process has one mark (shared by
 * refscope.mark() and the browser's :mark).  0, or -1 with MemoryError. */
int rs_growth_mark(const rs_snapshot *s);

/* Marks the heap as it is now: a new snapshot (no gc.collect()), marked
 * and released, so objects allocated since an older snapshot (the one a
 * browser shows) are in the mark.  *marked receives the object count.
 * 0, or -1 with an exception set. */
int rs_growth_mark_now(size_t *marked);

/* true when a mark exists. */
bool rs_growth_has_mark(void);

/* Forgets the mark. */
void rs_growth_clear_mark(void);

/* Seconds since the mark was taken (0 without a mark). */
double rs_growth_mark_age(void);

/* true when node n of s is not an object of the mark: its address was not
 * marked, or it was marked with another type.  false without a mark. */
bool rs_growth_is_new(const rs_snapshot *s, rs_idx n);

typedef struct rs_growth_row {
    uint32_t type_id;       /* in s->types; UINT32_MAX for a type that is gone */
    const char *type_name;  /* borrowed from s or the mark */
    int64_t delta_count;
    int64_t delta_size;
    size_t new_first;       /* new objects: new_nodes[new_first .. + new_count] */
    size_t new_count;
} rs_growth_row;

typedef struct rs_growth_result {
    rs_growth_row *rows;    /* changed types, biggest delta size first */
    size_t row_count;
    rs_idx *new_nodes;      /* rs_growth(): every new node, grouped by row */
    PyObject **new_objects; /* rs_growth_now(): every new object (owned references), grouped by row */
    size_t new_total;
    rs_type_info *types;    /* rs_growth_now(): the heap's types, which rows borrow names from */
    uint32_t type_count;
    double seconds;         /* time of the comparison */
} rs_growth_result;

/* Compares s with the mark.  Rows list the types whose count or size
 * changed or that have new objects.  0, or -1 with an exception set
 * (refscope.Error when there is no mark).  Free with rs_growth_result_free(). */
int rs_growth(const rs_snapshot *s, rs_growth_result *out);

/* Compares the live heap with the mark without a snapshot (growth_walk.c):
 * after gc.collect() when collect, walks every object a snapshot would
 * have and looks each up in the mark; the rows are those rs_growth() gives
 * for a snapshot taken at that moment, with the new objects themselves in
 * new_objects (new_nodes stays NULL).  0, or -1 with an exception set.
 * Free with rs_growth_result_free(). */
int rs_growth_now(bool collect, rs_growth_result *out);

/* Frees the arrays of a result from rs_growth() or rs_growth_now() (and
 * the references it holds) and zeroes it. */
void rs_growth_result_free(rs_growth_result *r);

/* --- strings, largest objects, process memory (strings.c) ----------------- */

/* The n largest visible nodes of type type_id by own size, biggest first. */
rs_idx *rs_largest(rs_snapshot *s, uint32_t type_id, size_t n, size_t *count);

typedef struct rs_string_holder {
    uint32_t holder_type;   /* type id, or UINT32_MAX for "<shared>" (several
                               holders, none dominating) or "<unreachable>" */
    bool unreachable;
    size_t count;           /* str/bytes/bytearray objects */
    uint64_t length;        /* total characters / bytes */
    uint64_t size;          /* total object sizes */
    rs_idx biggest;         /* the largest of them */
} rs_string_holder;

/* Total string (str, bytes, bytearray) length by the type of the object
 * holding each string: its immediate dominator, an instance for its
 * __dict__.  Biggest total size first.  rs_malloc'ed. */
rs_string_holder *rs_strings_by_holder(rs_snapshot *s, size_t *count);

typedef struct rs_process_memory {
    uint64_t objects;        /* bytes of all visible objects in the snapshot */
    uint64_t rss;            /* resident set size now (0 when unknown) */
    bool have_arenas;        /* obmalloc statistics read (pymalloc in use) */
    uint64_t arena_bytes;    /* bytes in obmalloc arenas */
    uint64_t arena_count;
    uint64_t arena_used;     /* bytes in allocated blocks */
    uint64_t arena_free;     /* bytes in available blocks + unused pools */
    uint64_t arena_overhead; /* pool headers, quantization, alignment */
} rs_process_memory;

/* Fills out from the snapshot (its visible_bytes), /proc/self/statm and
 * obmalloc's own statistics (read in C, as sys._debugmallocstats() would
 * print them).  0, or -1 with an exception set. */
int rs_process_memory_read(const rs_snapshot *s, rs_process_memory *out);

/* One line: objects vs RSS vs arenas, the gaps named.  New str or NULL. */
PyObject *rs_process_memory_line(const rs_process_memory *m);

/* "1.4M", "27K", "512B": bytes in binary units (K = 1024), the one byte
 * formatter of the screens, the report and reprs; written into buf (at
 * least 16 bytes). */
const char *rs_format_bytes(uint64_t bytes, char *buf, size_t len);

#endif

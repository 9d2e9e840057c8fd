/*
 * The Python face of the leak analyses (analysis.h): Snapshot methods,
 * module functions and the slots of refscope.Cycle, implemented in
 * module_analysis.c and listed in module.c's tables (module.c owns every
 * Python type).  Each returns a new reference, or NULL with an exception
 * set: refscope.Error for user mistakes, MemoryError for memory.
 */
#ifndef REFSCOPE_MODULE_ANALYSIS_H
#define REFSCOPE_MODULE_ANALYSIS_H

#include <Python.h>
#include <structmember.h>

#include "module.h"

/* A cycle of a snapshot: sizes filled at creation; its object list built
 * on first access (a reference to each of a big cycle's objects costs
 * more than ranking it), or when the snapshot releases its references, so
 * that it stays available after close(); edges, ring and edges to break
 * computed on first access (they need labels). */
typedef struct rs_cycle_pyobject {
    PyObject_HEAD
    PyObject *snapshot;     /* the Snapshot it belongs to (strong) */
    uint32_t number;        /* cycle number in that snapshot */
    Py_ssize_t count;
    unsigned long long size;
    unsigned long long retained;
    char garbage;
    PyObject *objects;      /* lazily: list */
    /* While objects is NULL: links in the snapshot's unfilled_cycles. */
    struct rs_cycle_pyobject *unfilled_next, **unfilled_prev;
    PyObject *edges;        /* lazily: [(a, b, label)] */
    PyObject *ring;         /* lazily: [(a, b, label)] */
    PyObject *break_edges;  /* lazily: [(a, b, label, suggestion, freed)] */
} rs_cycle_pyobject;

extern PyTypeObject rs_cycle_type;

/* Cycle slots and tables (used by rs_cycle_type in module.c). */
extern PyMemberDef rs_cycle_members[];
extern PyGetSetDef rs_cycle_getset[];
extern PySequenceMethods rs_cycle_as_sequence;
int rs_cycle_traverse(PyObject *self, visitproc visit, void *arg);
/* Builds the object list of every Cycle of so that has none yet; called
 * just before so releases its snapshot.  Keeps no exception set (a Cycle
 * whose list cannot be built raises refscope.Error on access). */
void rs_cycles_fill_before_release(rs_snapshot_pyobject *so);
int rs_cycle_clear(PyObject *self);
void rs_cycle_dealloc(PyObject *self);
PyObject *rs_cycle_repr(PyObject *self);

/* Snapshot methods. */
PyObject *rs_snapshot_in_cycle(PyObject *self, PyObject *obj);
PyObject *rs_snapshot_cycles(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *rs_snapshot_cycle_of(PyObject *self, PyObject *obj);
PyObject *rs_snapshot_garbage(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_closures(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_frames(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_retained_size(PyObject *self, PyObject *obj);
PyObject *rs_snapshot_retained(PyObject *self, PyObject *obj);
PyObject *rs_snapshot_retained_by_type(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_largest(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *rs_snapshot_strings_by_holder(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_process_memory(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_allocated_at(PyObject *self, PyObject *obj);
PyObject *rs_snapshot_compute(PyObject *self, PyObject *what);
PyObject *rs_snapshot_to_json(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *rs_snapshot_to_dot(PyObject *self, PyObject *args, PyObject *kwargs);

/* Module functions. */
PyObject *rs_module_mark(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *rs_module_growth(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *rs_module_report(PyObject *module, PyObject *args, PyObject *kwargs);

/* Test hook: the n-th allocation of refscope's own arrays from now fails
 * (0 = none), so tests can prove every failure becomes MemoryError. */
PyObject *rs_module_alloc_fail_after(PyObject *module, PyObject *n);

/* Written in report.c / export.c: the report as a dict (the data behind
 * both formats), its text rendering, and the two snapshot exports. */
PyObject *rs_report_data(rs_snapshot *s, Py_ssize_t top);
PyObject *rs_report_text(PyObject *data);

/* Checks report()'s format ("text" or "json", *json set) and top (at
 * least 1).  0, or -1 with refscope.Error / ValueError set. */
int rs_report_check_args(const char *format, Py_ssize_t top, bool *json);

/* The report of s as text or (json) a JSON string: what refscope.report()
 * writes, for a live snapshot or one read from a dump.  New str or NULL. */
PyObject *rs_report_render(rs_snapshot *s, Py_ssize_t top, bool json);

/* Allocation-site lookups reports have made since the module loaded (a
 * work counter for tests: one report makes at most a fixed number). */
size_t rs_report_site_lookups(void);
int rs_export_json(rs_snapshot *s, PyObject *file);
enum { RS_DOT_REFERENTS = 1, RS_DOT_REFERRERS = 2, RS_DOT_BOTH = 3 };
/* The DOT export: depth levels from start along RS_DOT_* directions, at
 * most max_nodes objects, as many edges per object as lets every level fit
 * (the rest written as a dashed "N more" note), the cut stated in the
 * graph's label.  0, or -1 with an exception set. */
int rs_export_dot(rs_snapshot *s, PyObject *file, rs_idx start, int depth, int directions, size_t max_nodes);

/* Helpers shared by module_analysis.c, report.c and export.c. */

/* Appends item (a new reference, or NULL for an error already set) to
 * list and releases it.  0, or -1 with an exception set. */
int rs_append_steal(PyObject *list, PyObject *item);

/* tracemalloc.get_object_traceback(obj): a Traceback, or None when not
 * tracing or not traced.  NULL with an exception set on error. */
PyObject *rs_allocation_traceback(PyObject *obj);

/* obj's allocation traceback as Traceback.format()'s lines joined by
 * newlines (most recent call last), the text dumps store and the `a`
 * screen shows.  New str; NULL without an exception when obj has none;
 * NULL with an exception set on error. */
PyObject *rs_allocation_traceback_text(PyObject *obj);

/* "file.py:12" of the most recent frame of obj's allocation traceback, or
 * None.  NULL on error. */
PyObject *rs_allocation_site(PyObject *obj);

/* Entries of module.c's method tables (Snapshot methods, module functions). */
#define RS_ANALYSIS_SNAPSHOT_METHODS                                                                                 \
    {"in_cycle", rs_snapshot_in_cycle_guarded, METH_O, "True when obj sits in a cycle of data edges."},              \
    {"cycles", (PyCFunction)(void (*)(void))rs_snapshot_cycles_guarded, METH_VARARGS | METH_KEYWORDS,                \
     "cycles(limit=None) -> [Cycle], biggest retained first."},                                                      \
    {"cycle_of", rs_snapshot_cycle_of_guarded, METH_O, "The Cycle obj sits in, or None."},                           \
    {"garbage", rs_snapshot_garbage_guarded, METH_NOARGS,                                                            \
     "[(obj, kind, reason)]: gc.garbage, unreachable cycles awaiting collection, finalizers in cycles."},            \
    {"closures", rs_snapshot_closures_guarded, METH_NOARGS,                                                          \
     "[(function, varname, value, retained)] for every closure cell, biggest retained first."},                      \
    {"frames", rs_snapshot_frames_guarded, METH_NOARGS,                                                              \
     "[(thread_name, ident, [(function, 'file:line', [(name, value, size, retained)])])], innermost frame first; "   \
     "suspended generators and coroutines last."},                                                                   \
    {"retained_size", rs_snapshot_retained_size_guarded, METH_O,                                                     \
     "Bytes freed with obj (garbage: by the collection that frees it)."},                                            \
    {"retained", rs_snapshot_retained_guarded, METH_O, "obj and every object it dominates: what freeing it frees."}, \
    {"retained_by_type", rs_snapshot_retained_by_type_guarded, METH_NOARGS,                                          \
     "[(type_name, count, size, retained)] without double counting nested instances, biggest first."},               \
    {"largest", (PyCFunction)(void (*)(void))rs_snapshot_largest_guarded, METH_VARARGS | METH_KEYWORDS,              \
     "largest(type, n=10) -> [(obj, size)] of a type ('str', 'bytes', 'list', 'dict', ...), biggest first."},        \
    {"strings_by_holder", rs_snapshot_strings_by_holder_guarded, METH_NOARGS,                                        \
     "[(holder_type, count, total_length, total_size)] of str/bytes/bytearray, biggest first."},                     \
    {"process_memory", rs_snapshot_process_memory_guarded, METH_NOARGS,                                              \
     "Bytes of Python objects beside RSS and obmalloc arenas: {'objects', 'rss', 'arenas', 'line'}."},               \
    {"allocated_at", rs_snapshot_allocated_at_guarded, METH_O,                                                       \
     "tracemalloc's allocation traceback of obj, or None when not tracing."},                                        \
    {"compute", rs_snapshot_compute_guarded, METH_O,                                                                 \
     "compute('scc' | 'dominators') recomputes it; returns the seconds taken."},                                     \
    {"to_json", (PyCFunction)(void (*)(void))rs_snapshot_to_json_guarded, METH_VARARGS | METH_KEYWORDS,              \
     "to_json(file): the whole snapshot as JSON (a file object or a path)."},                                        \
    {"to_dot", (PyCFunction)(void (*)(void))rs_snapshot_to_dot_guarded, METH_VARARGS | METH_KEYWORDS,                \
     "to_dot(file, obj, depth=3, direction='referents', max_nodes=200): Graphviz around obj."},

#define RS_ANALYSIS_MODULE_METHODS \
    {"mark", (PyCFunction)(void (*)(void))rs_module_mark, METH_VARARGS | METH_KEYWORDS,                           \
     "mark(trace=False, collect=True, snapshot=None): remember every object (address and type) for growth(); "   \
     "collect=True runs gc.collect() first, which frees pending cyclic garbage (pass collect=False to keep it)."}, \
    {"growth", (PyCFunction)(void (*)(void))rs_module_growth, METH_VARARGS | METH_KEYWORDS,                       \
     "growth(collect=True, snapshot=None) -> [(type_name, delta_count, delta_size, new_objects)] since mark(); "  \
     "collect=True runs gc.collect() first."},                                                                     \
    {"report", (PyCFunction)(void (*)(void))rs_module_report, METH_VARARGS | METH_KEYWORDS,                       \
     "report(file=None, format='text', top=10, snapshot=None, collect=False): leak suspects; returns the "        \
     "text when file is None."},                                                                              \
    {"_alloc_fail_after", rs_module_alloc_fail_after, METH_O,                                                     \
     "Test hook: make the n-th allocation of refscope's arrays from now fail (0: none)."},

#endif

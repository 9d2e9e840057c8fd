/*
 * The node interface: the questions the analyses, the report and the
 * views ask about one object of a snapshot (its repr, its kind, the text
 * of its value, its allocation site, the name of a closure variable or a
 * frame) answered from the live object or, for a snapshot read back from a
 * heap dump (s->stored), from the dump's records.  Code above the graph
 * asks here instead of reading the object, so every screen and the report
 * work on a dump; rs_snapshot_object() is for the live-only paths (:eval,
 * :refresh; the Python API asks module.h's rs_node_value()).  All calls
 * need the GIL.
 */
#ifndef REFSCOPE_NODE_H
#define REFSCOPE_NODE_H

#include <Python.h>
#include <stdbool.h>

#include "analysis.h"
#include "snapshot.h"

/* What kind of builtin object a node is, by its type (subclasses count as
 * their base on a live snapshot; a dump knows types by name only, so there
 * a subclass is RS_KIND_OTHER). */
enum rs_node_kind {
    RS_KIND_OTHER = 0,
    RS_KIND_DICT,
    RS_KIND_LIST,
    RS_KIND_TUPLE,
    RS_KIND_SET,       /* set and frozenset */
    RS_KIND_STR,
    RS_KIND_BYTES,
    RS_KIND_BYTEARRAY,
    RS_KIND_SCALAR,    /* int, float, complex */
    RS_KIND_CONSTANT,  /* None, True/False, Ellipsis, NotImplemented */
    RS_KIND_CELL,
    RS_KIND_FUNCTION,
    RS_KIND_METHOD,    /* bound method */
    RS_KIND_CFUNCTION, /* builtin function or method */
    RS_KIND_CODE,
    RS_KIND_COUNT
};

/* The kind of the instances of type table entry type_id. */
enum rs_node_kind rs_type_kind(rs_snapshot *s, uint32_t type_id);

/* true when type_id is exactly the builtin type of its kind. */
bool rs_type_kind_exact(rs_snapshot *s, uint32_t type_id);

/* The kind of node n (see enum rs_node_kind). */
enum rs_node_kind rs_node_kind(rs_snapshot *s, rs_idx n);

/* true when n's type is exactly the builtin type of kind (no subclass). */
bool rs_node_kind_exact(rs_snapshot *s, rs_idx n);

/* true when s was read back from a heap dump: no live objects behind it. */
static inline bool rs_snapshot_is_stored(const rs_snapshot *s)
{
    return s->stored != NULL;
}

/* "dump of PID 1234, taken 2026-11-29 10:42, Python 3.12.1" for a stored
 * snapshot, into buf; NULL for a live one. */
const char *rs_snapshot_origin(const rs_snapshot *s, char *buf, size_t len);

/* The bounded, terminal-safe repr of n (rs_safe_repr() of the live object,
 * or the repr the dump stored, escaped and cut to max_len; "<TYPE object
 * at 0x...>" when it stored none).  New str, NULL only on MemoryError. */
PyObject *rs_node_repr(rs_snapshot *s, rs_idx n, Py_ssize_t max_len);

/* The value pane's text of n: a str in full (at most max_len characters),
 * an exception with its traceback, anything else its repr; a dump gives
 * what it stored (strings in full up to the writer's limit).  New str, or
 * NULL with an exception set. */
PyObject *rs_node_value_text(rs_snapshot *s, rs_idx n, Py_ssize_t max_len);

/* The allocation traceback of n, oldest call first, under an "Allocated
 * at" line; refscope.Error saying why when none was recorded.  New str. */
PyObject *rs_node_allocation_text(rs_snapshot *s, rs_idx n);

/* "file.py:12" of the most recent frame of n's allocation traceback, None
 * when there is none.  New reference, NULL with an exception set. */
PyObject *rs_node_allocation_site(rs_snapshot *s, rs_idx n);

/* true when allocation tracebacks can be asked for (tracemalloc traces
 * now, or the dump stored them). */
bool rs_node_tracing(rs_snapshot *s);

/* Characters of a str, bytes of bytes/bytearray node n; -1 when n is not
 * text or (dump) its length was not stored.  A node the walk flagged
 * RS_NODE_SIZED_TEXT gets it from its size, without a look at the object. */
Py_ssize_t rs_node_text_length(rs_snapshot *s, rs_idx n);

/* What sys.getsizeof() adds to the length of a compact ASCII str and of a
 * bytes object (str.__sizeof__ and bytes.__sizeof__ count a trailing NUL;
 * neither is tracked by gc, so no gc header). */
#define RS_ASCII_TEXT_BASE (sizeof(PyASCIIObject) + 1)
#define RS_BYTES_TEXT_BASE (offsetof(PyBytesObject, ob_sval) + 1)

/* RS_NODE_SIZED_TEXT when obj, whose sys.getsizeof() is size, is a compact
 * ASCII str or a bytes object (exact types) whose length that size gives
 * back, else 0.  Reads only obj's header; for the walk, which has it at
 * hand, so that the strings analysis need not read millions of objects
 * again (inline: the walk asks for every node). */
static inline uint32_t rs_node_sized_text_flag(PyObject *obj, uint64_t size)
{
    if (Py_IS_TYPE(obj, &PyUnicode_Type))
        return PyUnicode_IS_COMPACT_ASCII(obj) && size == RS_ASCII_TEXT_BASE + (uint64_t)PyUnicode_GET_LENGTH(obj)
                   ? RS_NODE_SIZED_TEXT
                   : 0;
    if (Py_IS_TYPE(obj, &PyBytes_Type))
        return size == RS_BYTES_TEXT_BASE + (uint64_t)PyBytes_GET_SIZE(obj) ? RS_NODE_SIZED_TEXT : 0;
    return 0;
}

/* true when dict node d is the __dict__ of instance node owner. */
bool rs_node_is_instance_dict(rs_snapshot *s, rs_idx owner, rs_idx d);

/* "__del__ of app.Resource", "tp_finalize of generator", "legacy tp_del of
 * X" ("finalizer of X" on a dump, which keeps only the flag), or NULL (no
 * error) when n's type has none; *legacy set for tp_del.  New str. */
PyObject *rs_node_finalizer(rs_snapshot *s, rs_idx n, bool *legacy);

/* true when n is a list or tuple whose referents run from its last item
 * to its first (CPython traverses them that way). */
bool rs_node_items_reversed(rs_snapshot *s, rs_idx n);

/* "weak reference to: TYPE repr" for a weakref node (a dump did not
 * store the target: it says so), NULL (no error) for other nodes.  New str. */
PyObject *rs_node_weakref_text(rs_snapshot *s, rs_idx n, Py_ssize_t max_len);

/* true when stored node n is refscope's own as far as its stored records
 * tell: a namespace dict whose '__name__' is "refscope" or "refscope.*",
 * or a C function named refscope_* (a dump only; live code asks the
 * objects). */
bool rs_node_stored_refscope_own(rs_snapshot *s, rs_idx n);

/* The object of node n on a live snapshot (borrowed), NULL on a stored
 * one: for the questions only a live object answers (is this code in the
 * standard library?), which a dump then leaves unanswered. */
PyObject *rs_node_live_object(rs_snapshot *s, rs_idx n);

/* The code object node of function node f (its first code referent), or
 * RS_NONE. */
rs_idx rs_node_function_code(rs_snapshot *s, rs_idx f);

/* The __qualname__ of function node n ("outer.<locals>.inner").  New str. */
PyObject *rs_node_function_name(rs_snapshot *s, rs_idx n);

/* The function whose closure holds cell node cell and the variable's name
 * (new references into *function, *name); 0 when none is found. */
int rs_node_cell_owner(rs_snapshot *s, rs_idx cell, PyObject **function, PyObject **name);

/* "worker() app.py:12" for s->frames[frame].  New str. */
PyObject *rs_node_frame_text(rs_snapshot *s, uint32_t frame);

/* The function name, file and line of s->frames[frame] into new
 * references *function and *file (a dump stored the file's base name
 * only).  0, or -1 with an exception set and both NULL. */
int rs_node_frame_parts(rs_snapshot *s, uint32_t frame, PyObject **function, PyObject **file, int *line);

/* --- the stored side of label.c, closures.c and frames.c ----------------- */

/* Labels of a stored snapshot's edges, as rs_label_referent(),
 * rs_label_referrer() and rs_label_root() give them.  New str. */
PyObject *rs_node_stored_referent_label(rs_snapshot *s, rs_idx src, size_t k);
PyObject *rs_node_stored_referrer_label(rs_snapshot *s, rs_idx dst, size_t j);
PyObject *rs_node_stored_root_label(rs_snapshot *s, const rs_root *root);

/* The RSS and obmalloc figures of the process a stored snapshot was
 * dumped from, into out (objects left as they are). */
void rs_node_stored_memory(const rs_snapshot *s, rs_process_memory *out);

/* rs_closures() of a stored snapshot (var: index of the dump's closure
 * record) and rs_closure_var_name() for it. */
rs_closure_var *rs_node_stored_closures(rs_snapshot *s, size_t *count);
PyObject *rs_node_stored_closure_name(rs_snapshot *s, const rs_closure_var *cv);

/* rs_frame_locals() of a stored snapshot: names borrowed from the dump's
 * name table (alive until the dump is closed). */
rs_local *rs_node_stored_frame_locals(rs_snapshot *s, uint32_t frame, size_t *count);

#endif

/*
 * What the Python-facing files share: the Snapshot object layout, the
 * error type, and the argument helpers that turn user mistakes into
 * refscope.Error.  module.c owns the types; other files add functions.
 */
#ifndef REFSCOPE_MODULE_H
#define REFSCOPE_MODULE_H

#include <Python.h>

#include "snapshot.h"

typedef struct {
    PyObject_HEAD
    rs_snapshot *snap; /* NULL once released */
    /* Methods running on this snapshot right now (nested calls count): a
     * method may run Python code (a key's __repr__, a file's write) that
     * calls close(); the release then waits until busy drops to 0. */
    unsigned busy;
    int close_pending; /* close() was called while busy */
    /* A snapshot loaded from a heap dump (refscope.load()): the dump, owned
     * and closed with the snapshot (snap is dump->snap); NULL when live. */
    struct rs_dump *dump;
    int loaded; /* refscope.load() made it (kept after close, for the message) */
    /* Its Cycles whose object lists are not built yet (module_analysis.c
     * builds them on first use, or all at once before the release). */
    struct rs_cycle_pyobject *unfilled_cycles;
} rs_snapshot_pyobject;

/* refscope.Error (a new reference lives in the module). */
extern PyObject *rs_error;
extern PyTypeObject rs_snapshot_type;
extern PyTypeObject rs_path_type;
extern PyTypeObject rs_stored_object_type;

/* The snapshot behind a Snapshot object, or NULL with refscope.Error set
 * when it is closed (or its close() is pending). */
rs_snapshot *rs_snapshot_of(PyObject *self);

/* Marks the Snapshot object self busy for the length of a method call;
 * every rs_snapshot_enter is paired with one rs_snapshot_leave, which
 * performs a close() requested meanwhile once the outermost call ends.
 * rs_snapshot_leave returns result unchanged (for `return` chaining). */
void rs_snapshot_enter(PyObject *self);
PyObject *rs_snapshot_leave(PyObject *self, PyObject *result);

/* Snapshot method wrappers: NAME_guarded runs NAME with self busy.  Every
 * Snapshot method in a method table goes through one of these. */
#define RS_GUARDED_O(name)                                            \
    static PyObject *name##_guarded(PyObject *self, PyObject *arg)    \
    {                                                                 \
        rs_snapshot_enter(self);                                      \
        return rs_snapshot_leave(self, name(self, arg));              \
    }
#define RS_GUARDED_KW(name)                                                             \
    static PyObject *name##_guarded(PyObject *self, PyObject *args, PyObject *kwargs)   \
    {                                                                                   \
        rs_snapshot_enter(self);                                                        \
        return rs_snapshot_leave(self, name(self, args, kwargs));                       \
    }

/* obj's node, or RS_NONE with refscope.Error set (saying what to do).  On
 * a stored snapshot obj is one of its StoredObjects or a node index. */
rs_idx rs_node_of(rs_snapshot *s, PyObject *obj);

/* What the Python API hands out for node n: the object itself on a live
 * snapshot, a refscope.StoredObject on a stored one.  New reference, NULL
 * on error. */
PyObject *rs_node_value(rs_snapshot *s, rs_idx n);

/* [value of each of nodes[0 .. count)] as a new list, NULL on error. */
PyObject *rs_node_list(rs_snapshot *s, const rs_idx *nodes, size_t count);

/* (value of node n, second) as a new tuple, NULL on error. */
PyObject *rs_value_pair(rs_snapshot *s, rs_idx n, PyObject *second);

/* 0 on a live snapshot; -1 with refscope.Error saying that `what` needs
 * the live process on a stored one. */
int rs_snapshot_need_live(rs_snapshot *s, const char *what);

/* The snapshot behind self and obj's node in it (*n), or NULL with
 * refscope.Error set (closed snapshot, or obj not in it). */
rs_snapshot *rs_snapshot_and_node(PyObject *self, PyObject *obj, rs_idx *n);

/* The type table index for a type or a type name, or -1 with
 * refscope.Error / TypeError set. */
int64_t rs_type_arg(rs_snapshot *s, PyObject *arg);

/* A refscope.Path for node n, Py_None when unreachable, NULL on error. */
PyObject *rs_make_path(rs_snapshot *s, rs_idx n);

/* Wraps s in a new Snapshot object (which then owns it); on failure frees s
 * and returns NULL. */
PyObject *rs_snapshot_wrap(rs_snapshot *s);

/* Wraps an opened heap dump in a new Snapshot object in stored mode (which
 * then owns it); on failure closes d and returns NULL. */
PyObject *rs_snapshot_wrap_dump(struct rs_dump *d);

/* Computes the dominator tree once (retained sizes).  0, or -1 with
 * MemoryError set. */
int rs_analysis_ensure_dominators(rs_snapshot *s);

#endif

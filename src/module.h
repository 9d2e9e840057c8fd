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
    rs_snapshot *snap; /* NULL once closed */
} rs_snapshot_pyobject;

/* refscope.Error (a new reference lives in the module). */
extern PyObject *rs_error;
extern PyTypeObject rs_snapshot_type;
extern PyTypeObject rs_path_type;

/* The snapshot behind a Snapshot object, or NULL with refscope.Error set
 * when it is closed. */
rs_snapshot *rs_snapshot_of(PyObject *self);

/* obj's node, or RS_NONE with refscope.Error set (saying what to do). */
rs_idx rs_node_of(rs_snapshot *s, PyObject *obj);

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

/* Computes the dominator tree once (retained sizes).  0, or -1 with
 * MemoryError set. */
int rs_analysis_ensure_dominators(rs_snapshot *s);

#endif

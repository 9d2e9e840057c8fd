/*
 * The Python face of heap dumps (module_dump.c): Snapshot.save(),
 * refscope.dump(), refscope.load() and the Snapshot methods `refscope diff`
 * needs, listed in module.c's tables (module.c owns every Python type).  Each returns a new
 * reference, or NULL with refscope.Error / MemoryError set.
 */
#ifndef REFSCOPE_MODULE_DUMP_H
#define REFSCOPE_MODULE_DUMP_H

#include <Python.h>

#include "dump.h"
#include "module.h"

/* Snapshot.info (a getter), Snapshot._columns() and _dominators(). */
PyObject *rs_snapshot_info(PyObject *self, void *closure);
PyObject *rs_snapshot_columns(PyObject *self, PyObject *unused);
PyObject *rs_snapshot_dominators(PyObject *self, PyObject *unused);

/* Snapshot.frames() of a stored snapshot: the dump's threads and frames. */
PyObject *rs_stored_frames(rs_snapshot *s);

/* Snapshot.save(path) and the module functions. */
PyObject *rs_snapshot_save(PyObject *self, PyObject *path);
PyObject *rs_module_dump(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *rs_module_dump_reseal(PyObject *module, PyObject *path);
PyObject *rs_module_crc32(PyObject *module, PyObject *args);
PyObject *rs_module_load(PyObject *module, PyObject *path);

#define RS_DUMP_SNAPSHOT_METHODS                                                                                   \
    {"save", rs_snapshot_save, METH_O, "save(path): write the snapshot as a heap dump (refscope.load() reads it)."}, \
    {"_columns", rs_snapshot_columns, METH_NOARGS,                                                                 \
     "(addresses, type_ids, flags, sizes, type_names) of every node, for whole-snapshot comparisons."},           \
    {"_dominators", rs_snapshot_dominators, METH_NOARGS,                                                           \
     "(idom, retained, retained_count) per node; idom -1 for the super-root or unreachable."},

#define RS_DUMP_MODULE_METHODS                                                                                     \
    {"dump", (PyCFunction)(void (*)(void))rs_module_dump, METH_VARARGS | METH_KEYWORDS,                           \
     "dump(path, collect=False): snapshot the heap and write it as a heap dump."},                                 \
    {"load", rs_module_load, METH_O,                                                                               \
     "load(path): open a heap dump as a Snapshot whose objects are StoredObjects; refscope.Error for a file "     \
     "that is not a whole dump."},                                                                                 \
    {"_dump_reseal", rs_module_dump_reseal, METH_O,                                                                \
     "Test hook: recompute a dump's checksums in place so the reader's structural checks can be tested."},       \
    {"_crc32", rs_module_crc32, METH_VARARGS,                                                                      \
     "Test hook: _crc32(data, crc, widest) -> (the dump's CRC-32 of data continuing crc, using no way past "       \
     "widest; the widest way this CPU has)."},

#endif

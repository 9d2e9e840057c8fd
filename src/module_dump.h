/*
 * The Python face of heap dumps (module_dump.c): Snapshot.save(),
 * refscope.dump() and the slots of refscope._refscope.DumpFile, listed in
 * module.c's tables (module.c owns every Python type).  Each returns a new
 * reference, or NULL with refscope.Error / MemoryError set.
 */
#ifndef REFSCOPE_MODULE_DUMP_H
#define REFSCOPE_MODULE_DUMP_H

#include <Python.h>

#include "dump.h"
#include "module.h"

typedef struct {
    PyObject_HEAD
    rs_dump *dump; /* NULL once closed */
} rs_dumpfile_pyobject;

/* DumpFile slots and tables (used by rs_dumpfile_type in module.c). */
extern PyMethodDef rs_dumpfile_methods[];
extern PyGetSetDef rs_dumpfile_getset[];
extern PySequenceMethods rs_dumpfile_as_sequence;
PyObject *rs_dumpfile_new(PyTypeObject *type, PyObject *args, PyObject *kwargs);
void rs_dumpfile_dealloc(PyObject *self);

/* The stored snapshot of DumpFile self, or NULL with refscope.Error set
 * when it is closed. */
rs_snapshot *rs_dumpfile_snapshot(PyObject *self);

/* Snapshot.save(path) and the module functions. */
PyObject *rs_snapshot_save(PyObject *self, PyObject *path);
PyObject *rs_module_dump(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *rs_module_dump_reseal(PyObject *module, PyObject *path);

#define RS_DUMP_SNAPSHOT_METHODS \
    {"save", rs_snapshot_save, METH_O, "save(path): write the snapshot as a heap dump (refscope.load() reads it)."},

#define RS_DUMP_MODULE_METHODS                                                                                     \
    {"dump", (PyCFunction)(void (*)(void))rs_module_dump, METH_VARARGS | METH_KEYWORDS,                           \
     "dump(path, collect=False): snapshot the heap and write it as a heap dump."},                                 \
    {"_dump_reseal", rs_module_dump_reseal, METH_O,                                                                \
     "Test hook: recompute a dump's checksums in place so the reader's structural checks can be tested."},

#endif

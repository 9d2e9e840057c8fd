/*
 * The walk's table of types met: a type id per type (what nodes store), the
 * way to compute sys.getsizeof() for its instances without running Python,
 * and later the type's "module.QualName".
 */
#ifndef REFSCOPE_TYPETABLE_H
#define REFSCOPE_TYPETABLE_H

#include <Python.h>

#include "snapshot.h"

typedef struct rs_type_entry {
    PyTypeObject *type;
    int sizeof_kind;
    PyObject *sizeof_descr; /* borrowed: lives in the type's dict */
    uint32_t node_flags;    /* RS_NODE_* every instance of the type has */
} rs_type_entry;

#define RS_TYPE_CACHE 256

typedef struct rs_type_table {
    rs_type_entry *entries;
    uint32_t count, cap;
    uint32_t *slots; /* open addressing on the type pointer: id + 1 */
    uint32_t slot_cap;
    /* Direct-mapped cache in front of the slots: most lookups hit it. */
    PyTypeObject *cache_type[RS_TYPE_CACHE];
    uint32_t cache_id[RS_TYPE_CACHE];
} rs_type_table;

/* Empties a table (no allocation yet). */
void rs_type_table_init(rs_type_table *t);

/* Frees a table's arrays. */
void rs_type_table_clear(rs_type_table *t);

int rs_type_table_intern_slow(rs_type_table *t, PyTypeObject *tp, uint32_t *id);

static inline uint32_t rs_type_cache_slot(PyTypeObject *tp)
{
    return (uint32_t)(((uintptr_t)tp >> 4) * 0x9E3779B1u >> 24) % RS_TYPE_CACHE;
}

/* Sets *id to tp's id, adding tp when new.  0, or -1 on memory failure.
 * The cache is looked at inline: the walks call this for every object. */
static inline int rs_type_table_intern(rs_type_table *t, PyTypeObject *tp, uint32_t *id)
{
    uint32_t c = rs_type_cache_slot(tp);
    if (t->cache_type[c] != tp)
        return rs_type_table_intern_slow(t, tp, id);
    *id = t->cache_id[c];
    return 0;
}

/* The RS_NODE_* flags that follow from the type alone (finalizer, type,
 * module, code, weakref, program, not-data), computed once per type, so the
 * walk and the analyses never ask a live object what kind it is. */
static inline uint32_t rs_type_table_node_flags(const rs_type_table *t, uint32_t id)
{
    return t->entries[id].node_flags;
}

/* sys.getsizeof(obj) computed in C; sets *python_sizeof when the type's
 * __sizeof__ is Python code (then the tp_basicsize-based size is used). */
uint64_t rs_type_table_sizeof(rs_type_table *t, uint32_t id, PyObject *obj, int *python_sizeof);

/* What rs_type_table_sizeof() gives every instance of type id when that
 * does not depend on the instance (object.__sizeof__ and no items), obj
 * being one; else 0. */
uint64_t rs_type_table_fixed_size(rs_type_table *t, uint32_t id, PyObject *obj);

/* Moves the table into a snapshot's types array with each type's name
 * filled in; the table is left empty.  0, or -1 with MemoryError set. */
int rs_type_table_export(rs_type_table *t, rs_type_info **types, uint32_t *count);

#endif

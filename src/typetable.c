/*
 * Type table for the walk.  sys.getsizeof() calls the type's __sizeof__;
 * for the default object.__sizeof__ that is tp_basicsize + Py_SIZE *
 * tp_itemsize, computed here inline; a C __sizeof__ (str, dict, list, ...)
 * is called directly, which runs no Python code; a __sizeof__ written in
 * Python is never called during the walk: such objects get the
 * basicsize-based size and a flag.  Then the gc/dict pre-header is added,
 * as sys.getsizeof() does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "pyinternal.h"
#include "typetable.h"

enum {
    SIZEOF_UNRESOLVED = 0,
    SIZEOF_OBJECT,    /* object.__sizeof__ */
    SIZEOF_C_NOARGS,  /* a METH_NOARGS C method: call ml_meth directly */
    SIZEOF_BUILTIN,   /* exact str, int, list: mostly rs_py_builtin_sizeof(), else as C_NOARGS */
    SIZEOF_C_CALL,    /* another C method descriptor: call it */
    SIZEOF_PYTHON,    /* Python code: not called */
};

void rs_type_table_init(rs_type_table *t)
{
    memset(t, 0, sizeof *t);
}

void rs_type_table_clear(rs_type_table *t)
{
    rs_free(t->entries);
    rs_free(t->slots);
    memset(t, 0, sizeof *t);
}

static uint32_t slot_of(PyTypeObject *tp, uint32_t cap)
{
    uint64_t h = (uint64_t)((uintptr_t)tp >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(((h >> 32) * cap) >> 32);
}

static int grow_slots(rs_type_table *t)
{
    uint32_t cap = t->slot_cap ? t->slot_cap * 2 : 1024;
    uint32_t *slots = rs_calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (uint32_t id = 0; id < t->count; id++) {
        uint32_t s = slot_of(t->entries[id].type, cap);
        while (slots[s] != 0)
            s = (s + 1 == cap) ? 0 : s + 1;
        slots[s] = id + 1;
    }
    rs_free(t->slots);
    t->slots = slots;
    t->slot_cap = cap;
    return 0;
}

/* Code, functions, frames and C functions are the program, not its data;
 * types, modules and code objects are not data for cycles either. */
static uint32_t type_node_flags(PyTypeObject *tp)
{
    uint32_t flags = 0;
    if (tp->tp_finalize != NULL || tp->tp_del != NULL)
        flags |= RS_NODE_FINALIZER;
    if (PyType_FastSubclass(tp, Py_TPFLAGS_TYPE_SUBCLASS))
        flags |= RS_NODE_TYPE | RS_NODE_NOT_DATA;
    else if (PyType_IsSubtype(tp, &PyModule_Type))
        flags |= RS_NODE_MODULE | RS_NODE_NOT_DATA;
    else if (tp == &PyCode_Type)
        flags |= RS_NODE_NOT_DATA | RS_NODE_PROGRAM;
    else if (rs_py_type_is_weakref(tp))
        flags |= RS_NODE_WEAKREF;
    if (tp == &PyFunction_Type || tp == &PyFrame_Type || PyType_IsSubtype(tp, &PyCFunction_Type))
        flags |= RS_NODE_PROGRAM;
    return flags;
}

int rs_type_table_intern_slow(rs_type_table *t, PyTypeObject *tp, uint32_t *id)
{
    uint32_t c = rs_type_cache_slot(tp);
    if ((t->count + 1) * 2 > t->slot_cap && grow_slots(t) < 0)
        return -1;
    uint32_t s = slot_of(tp, t->slot_cap);
    for (;;) {
        uint32_t v = t->slots[s];
        if (v == 0)
            break;
        if (t->entries[v - 1].type == tp) {
            *id = v - 1;
            t->cache_type[c] = tp;
            t->cache_id[c] = *id;
            return 0;
        }
        s = (s + 1 == t->slot_cap) ? 0 : s + 1;
    }
    if (t->count == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        rs_type_entry *e = rs_realloc(t->entries, cap * sizeof *e);
        if (e == NULL)
            return -1;
        t->entries = e;
        t->cap = cap;
    }
    t->entries[t->count] =
        (rs_type_entry){.type = tp, .sizeof_kind = SIZEOF_UNRESOLVED, .node_flags = type_node_flags(tp)};
    t->slots[s] = t->count + 1;
    *id = t->count++;
    t->cache_type[c] = tp;
    t->cache_id[c] = *id;
    return 0;
}

static void resolve_sizeof(rs_type_entry *e)
{
    static PyObject *object_sizeof;
    PyObject *name = rs_py_sizeof_name();
    if (object_sizeof == NULL)
        object_sizeof = rs_py_type_lookup(&PyBaseObject_Type, name);
    PyObject *descr = rs_py_type_lookup(e->type, name);
    e->sizeof_descr = descr;
    if (descr != NULL && descr == object_sizeof)
        e->sizeof_kind = SIZEOF_OBJECT;
    else if (descr != NULL && Py_IS_TYPE(descr, &PyMethodDescr_Type))
        e->sizeof_kind = !(((PyMethodDescrObject *)descr)->d_method->ml_flags & METH_NOARGS) ? SIZEOF_C_CALL
                         : e->type == &PyUnicode_Type || e->type == &PyLong_Type || e->type == &PyList_Type
                             ? SIZEOF_BUILTIN
                             : SIZEOF_C_NOARGS;
    else
        e->sizeof_kind = SIZEOF_PYTHON;
}

static uint64_t basic_size(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    Py_ssize_t size = tp->tp_basicsize;
    if (tp->tp_itemsize > 0)
        size += Py_SIZE(obj) * tp->tp_itemsize;
    return size > 0 ? (uint64_t)size : 0;
}

uint64_t rs_type_table_fixed_size(rs_type_table *t, uint32_t id, PyObject *obj)
{
    rs_type_entry *e = &t->entries[id];
    if (e->sizeof_kind == SIZEOF_UNRESOLVED)
        resolve_sizeof(e);
    /* Only a type object's pre-header depends on more than its type (3.13:
     * none for static types); their __sizeof__ is type's anyway. */
    if (e->sizeof_kind != SIZEOF_OBJECT || e->type->tp_itemsize != 0 ||
        PyType_FastSubclass(e->type, Py_TPFLAGS_TYPE_SUBCLASS))
        return 0;
    return basic_size(obj) + rs_py_preheader_size(obj);
}

static uint64_t size_from_result(PyObject *res, PyObject *obj, int *failed)
{
    Py_ssize_t size = res != NULL ? PyLong_AsSsize_t(res) : -1;
    Py_XDECREF(res);
    if (size < 0) {
        PyErr_Clear();
        *failed = 1;
        return basic_size(obj);
    }
    return (uint64_t)size;
}

uint64_t rs_type_table_sizeof(rs_type_table *t, uint32_t id, PyObject *obj, int *python_sizeof)
{
    rs_type_entry *e = &t->entries[id];
    if (e->sizeof_kind == SIZEOF_UNRESOLVED)
        resolve_sizeof(e);
    uint64_t size;
    int failed = 0;
    switch (e->sizeof_kind) {
    case SIZEOF_OBJECT:
        size = basic_size(obj);
        break;
    case SIZEOF_BUILTIN:
        /* Most strs and ints of a heap: no call, no int object made. */
        size = rs_py_builtin_sizeof(obj);
        if (size != 0)
            break;
        /* fall through */
    case SIZEOF_C_NOARGS: {
        PyCFunction meth = ((PyMethodDescrObject *)e->sizeof_descr)->d_method->ml_meth;
        size = size_from_result(meth(obj, NULL), obj, &failed);
        break;
    }
    case SIZEOF_C_CALL:
        size = size_from_result(PyObject_CallOneArg(e->sizeof_descr, obj), obj, &failed);
        break;
    default:
        size = basic_size(obj);
        failed = 1;
        break;
    }
    *python_sizeof = failed;
    return size + rs_py_preheader_size(obj);
}

static char *copy_utf8(PyObject *str)
{
    Py_ssize_t len;
    const char *u = str != NULL && PyUnicode_Check(str) ? PyUnicode_AsUTF8AndSize(str, &len) : NULL;
    if (u == NULL) {
        PyErr_Clear();
        return NULL;
    }
    char *copy = rs_malloc((size_t)len + 1);
    if (copy != NULL)
        memcpy(copy, u, (size_t)len + 1);
    return copy;
}

/* "module.QualName" for heap types, tp_name for static ones; builtins
 * types go by their bare name, as Python programmers write them. */
static char *type_name(PyTypeObject *tp)
{
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return rs_strdup(tp->tp_name);
    PyObject *qualname = ((PyHeapTypeObject *)tp)->ht_qualname;
    PyObject *module = tp->tp_dict ? PyDict_GetItemWithError(tp->tp_dict, rs_py_dunder_module()) : NULL;
    PyErr_Clear();
    char *q = copy_utf8(qualname);
    char *m = copy_utf8(module);
    char *name = NULL;
    if (q == NULL) { /* no usable __qualname__: the name the type was made with */
        name = rs_strdup(tp->tp_name);
    } else if (m == NULL || strcmp(m, "builtins") == 0) {
        name = q;
        q = NULL;
    } else {
        size_t len = strlen(m) + strlen(q) + 2;
        name = rs_malloc(len);
        if (name != NULL)
            snprintf(name, len, "%s.%s", m, q);
    }
    rs_free(q);
    rs_free(m);
    return name;
}

int rs_type_table_export(rs_type_table *t, rs_type_info **types, uint32_t *count)
{
    rs_type_info *out = rs_calloc(t->count ? t->count : 1, sizeof *out);
    if (out == NULL)
        goto nomem;
    for (uint32_t i = 0; i < t->count; i++) {
        out[i].type = t->entries[i].type;
        out[i].name = type_name(t->entries[i].type);
        if (out[i].name == NULL) {
            for (uint32_t j = 0; j < i; j++)
                rs_free(out[j].name);
            rs_free(out);
            goto nomem;
        }
    }
    *types = out;
    *count = t->count;
    rs_type_table_clear(t);
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/*
 * Access to CPython internals that look the same on 3.11, 3.12 and 3.13;
 * what differs is in pyinternal_311.c, _312.c and _313.c.  Everything here
 * only reads interpreter state; nothing runs Python code or takes
 * references (except where a function says it returns a new one).
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1 /* the Makefile passes it; setup.py builds this file as it is */
#endif
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030E0000
#error "refscope supports CPython 3.11, 3.12 and 3.13 (it reads their frames, gc lists and instance layouts); build it with one of those (make PYTHON=python3.13)"
#endif
#ifdef Py_GIL_DISABLED
#error "refscope does not support free-threaded CPython builds (python3.13t): build it with the default, GIL build"
#endif

#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#if PY_VERSION_HEX >= 0x030C0000
#include <internal/pycore_long.h>
#endif
#include <internal/pycore_pymem.h>
#include <internal/pycore_runtime.h>
#if PY_VERSION_HEX >= 0x030D0000 /* where 3.13 moved these declarations */
#include <internal/pycore_setobject.h>
#include <internal/pycore_signal.h>
#include <internal/pycore_tracemalloc.h>
#endif

#include "pyinternal_impl.h"
#include "refscope/graph.h"

/* rs_py_gc_tracked() reads _gc_next as the word just before the object. */
_Static_assert(sizeof(PyGC_Head) == 2 * sizeof(uintptr_t) && offsetof(PyGC_Head, _gc_next) == 0,
               "PyGC_Head is not { _gc_next, _gc_prev }");

static struct _gc_runtime_state *gc_state(void)
{
    /* The exported function, not _PyInterpreterState_GET(): on 3.12+ that
     * reads the thread-local _Py_tss_tstate, which libpython does not
     * export, and the module would fail to import. */
    return &PyInterpreterState_Get()->gc;
}

static int for_each_in(PyGC_Head *head, int (*fn)(PyObject *, void *), void *ctx)
{
    for (PyGC_Head *gc = _PyGCHead_NEXT(head); gc != head; gc = _PyGCHead_NEXT(gc)) {
        int r = fn((PyObject *)(gc + 1), ctx);
        if (r)
            return r;
    }
    return 0;
}

int rs_py_for_each_tracked(int (*fn)(PyObject *obj, void *ctx), void *ctx)
{
    struct _gc_runtime_state *st = gc_state();
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        int r = for_each_in(&st->generations[i].head, fn, ctx);
        if (r)
            return r;
    }
    return for_each_in(&st->permanent_generation.head, fn, ctx);
}

int rs_py_tracked_next(rs_tracked_walk *it, PyObject **obj, uint64_t *order)
{
    struct _gc_runtime_state *st = gc_state();
    while (it->front == NULL) {
        if (it->list > NUM_GENERATIONS)
            return 0;
        PyGC_Head *head = it->list < NUM_GENERATIONS ? &st->generations[it->list].head
                                                     : &st->permanent_generation.head;
        if (_PyGCHead_NEXT(head) == head) {
            it->list++;
            continue;
        }
        it->front = _PyGCHead_NEXT(head);
        it->back = _PyGCHead_PREV(head);
        it->front_count = it->back_count = 0;
        it->at_back = 0;
    }
    PyGC_Head *f = it->front, *b = it->back;
    uint64_t list = (uint64_t)it->list << 58;
    if (!it->at_back) {
        *obj = (PyObject *)(f + 1);
        *order = list | it->front_count++;
        if (f == b) {
            it->front = NULL;
            it->list++;
        } else {
            it->at_back = 1;
        }
        return 1;
    }
    *obj = (PyObject *)(b + 1);
    /* The back half after the front half, in list order. */
    *order = list | ((uint64_t)1 << 57) | (((uint64_t)1 << 57) - 1 - it->back_count++);
    PyGC_Head *next = _PyGCHead_NEXT(f);
    if (next == b) {
        it->front = NULL;
        it->list++;
    } else {
        it->front = next;
        it->back = _PyGCHead_PREV(b);
        it->at_back = 0;
    }
    return 1;
}

size_t rs_py_tracked_estimate(void)
{
    struct _gc_runtime_state *st = gc_state();
    Py_ssize_t n = st->long_lived_total + st->long_lived_pending;
    for (int i = 0; i < NUM_GENERATIONS; i++)
        n += st->generations[i].count > 0 ? st->generations[i].count : 0;
    return n > 0 ? (size_t)n : 0;
}

PyObject *rs_py_gc_garbage(void)
{
    return gc_state()->garbage;
}

PyObject *rs_py_sizeof_name(void)
{
    return &_Py_ID(__sizeof__);
}

PyObject *rs_py_dunder_module(void)
{
    return &_Py_ID(__module__);
}

int rs_py_is_immortal(PyObject *obj)
{
    if (rs_py_immortal_here(obj))
        return 1;
    /* What another supported version makes immortal counts here too, so
     * that retained sizes agree: 3.12 interns strings immortal (3.11 and
     * 3.13's sys.intern() do not), 3.12+ static types. */
    if (PyUnicode_Check(obj))
        return PyUnicode_CHECK_INTERNED(obj) != 0;
    return PyType_Check(obj) && !(((PyTypeObject *)obj)->tp_flags & Py_TPFLAGS_HEAPTYPE);
}

int rs_py_set_next(PyObject *set, Py_ssize_t *pos, PyObject **key)
{
    Py_hash_t hash;
    return _PySet_NextEntry(set, pos, key, &hash);
}

PyObject *rs_py_type_lookup(PyTypeObject *type, PyObject *name)
{
    return _PyType_Lookup(type, name);
}

PyObject *rs_py_allocation_traceback(PyObject *obj)
{
    /* tracemalloc.get_object_traceback() of 3.11 misses objects with a
     * pre-header (instances of classes defined in Python): ask for the
     * allocation's real start. */
    uintptr_t start = (uintptr_t)obj - rs_py_preheader_size(obj);
    return _PyTraceMalloc_GetTraceback(0, start);
}

int rs_py_type_is_weakref(PyTypeObject *tp)
{
    return PyType_IsSubtype(tp, &_PyWeakref_RefType) || tp == &_PyWeakref_ProxyType ||
           tp == &_PyWeakref_CallableProxyType;
}

PyObject *rs_py_weakref_target(PyObject *ref)
{
#if PY_VERSION_HEX >= 0x030D0000 /* PyWeakref_GET_OBJECT is deprecated there */
    PyObject *target;
    int alive = PyWeakref_GetRef(ref, &target);
    if (alive < 0)
        return NULL;
    return alive ? target : Py_NewRef(Py_None);
#else
    return Py_NewRef(PyWeakref_GET_OBJECT(ref));
#endif
}

int rs_py_is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000 /* public from 3.13 on, gone as _Py_IsFinalizing */
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

int rs_py_malloc_stats(FILE *out)
{
    return _PyObject_DebugMallocStats(out);
}

int rs_py_is_main_thread(void)
{
    return _PyOS_IsMainThread();
}

int rs_py_dict_next(PyObject *dict, Py_ssize_t *pos, PyObject **key, PyObject **value)
{
    PyDictObject *mp = (PyDictObject *)dict;
    PyDictKeysObject *keys = mp->ma_keys;
    if (mp->ma_values != NULL)
        return PyDict_Next(dict, pos, key, value); /* split: the order is the values' */
    Py_ssize_t i = *pos, n = keys->dk_nentries;
    if (DK_IS_UNICODE(keys)) {
        PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
        for (; i < n; i++)
            if (entries[i].me_value != NULL) {
                *key = entries[i].me_key;
                *value = entries[i].me_value;
                *pos = i + 1;
                return 1;
            }
    } else {
        PyDictKeyEntry *entries = DK_ENTRIES(keys);
        for (; i < n; i++)
            if (entries[i].me_value != NULL) {
                *key = entries[i].me_key;
                *value = entries[i].me_value;
                *pos = i + 1;
                return 1;
            }
    }
    *pos = i;
    return 0;
}

int rs_py_dict_visits_keys(PyObject *dict)
{
    return !DK_IS_UNICODE(((PyDictObject *)dict)->ma_keys);
}

int rs_py_dict_visit_at(PyObject *dict, size_t k, PyObject **key, PyObject **visited, int *is_key)
{
    PyDictObject *mp = (PyDictObject *)dict;
    PyDictKeysObject *keys = mp->ma_keys;
    /* A split table visits its values in key-index order, and a deleted
     * entry is skipped by the traversal: neither maps k to an entry. */
    if (mp->ma_values != NULL || keys->dk_nentries != mp->ma_used)
        return 0;
    if (DK_IS_UNICODE(keys)) {
        if (k >= (size_t)keys->dk_nentries)
            return 0;
        PyDictUnicodeEntry *e = &DK_UNICODE_ENTRIES(keys)[k];
        *key = e->me_key;
        *visited = e->me_value;
        *is_key = 0;
    } else {
        if (k / 2 >= (size_t)keys->dk_nentries)
            return 0;
        PyDictKeyEntry *e = &DK_ENTRIES(keys)[k / 2];
        *key = e->me_key;
        *is_key = (int)(k & 1);
        *visited = *is_key ? e->me_key : e->me_value;
    }
    return *key != NULL && *visited != NULL;
}

/* --- frames: the fields that did not move between 3.11 and 3.13 ----------- */

struct rs_iframe; /* really _PyInterpreterFrame */
#define IF(f) ((_PyInterpreterFrame *)(void *)(f))

rs_iframe *rs_iframe_previous(rs_iframe *f)
{
    return (rs_iframe *)IF(f)->previous;
}

int rs_iframe_owned_by_generator(rs_iframe *f)
{
    return IF(f)->owner == FRAME_OWNED_BY_GENERATOR;
}

int rs_iframe_stack_known(rs_iframe *f)
{
    return IF(f)->stacktop >= 0;
}

PyObject *rs_iframe_locals_dict(rs_iframe *f)
{
    return IF(f)->f_locals;
}

PyObject *rs_iframe_frame_object(rs_iframe *f)
{
    return (PyObject *)IF(f)->frame_obj;
}

PyObject **rs_iframe_slots(rs_iframe *f, int *count, int *nlocals)
{
    /* stacktop is exact while the frame waits on a Python call it made, and
     * -1 while the frame itself runs (e.g. it is inside a C call such as the
     * one taking this snapshot): then only the named slots, which always
     * hold strong references or NULL, are known. */
    PyCodeObject *code = rs_iframe_code(f);
    int named = code != NULL ? code->co_nlocalsplus : 0;
    int top = IF(f)->stacktop;
    *count = top > named ? top : named;
    *nlocals = named;
    return IF(f)->localsplus;
}

rs_iframe *rs_py_frameobject_frame(PyObject *frame_object)
{
    PyFrameObject *fo = (PyFrameObject *)frame_object;
    if (fo->f_frame == NULL || fo->f_frame->owner != FRAME_OWNED_BY_FRAME_OBJECT)
        return NULL;
    return (rs_iframe *)fo->f_frame;
}

rs_iframe *rs_py_generator_frame(PyObject *gen)
{
    PyGenObject *g = (PyGenObject *)gen;
    if (g->gi_frame_state >= FRAME_CLEARED)
        return NULL;
    return (rs_iframe *)(void *)g->gi_iframe;
}

PyObject **rs_py_offset_dict_slot(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    Py_ssize_t offset = tp->tp_dictoffset;
    if (offset == 0)
        return NULL;
    if (offset < 0) { /* counted from the end of a variable-size object */
        Py_ssize_t size = Py_SIZE(obj);
        offset += (Py_ssize_t)_PyObject_VAR_SIZE(tp, size < 0 ? -size : size);
    }
    return (PyObject **)((char *)obj + offset);
}

#if PY_VERSION_HEX >= 0x030C0000 /* 3.12 and 3.13 agree on these */
PyObject *rs_iframe_function(rs_iframe *f)
{
    return IF(f)->f_funcobj;
}

int rs_iframe_line(rs_iframe *f)
{
    return PyUnstable_InterpreterFrame_GetLine(IF(f));
}

PyObject *rs_py_generator_code(PyObject *gen)
{
    rs_iframe *f = rs_py_generator_frame(gen);
    return f != NULL ? (PyObject *)rs_iframe_code(f) : NULL;
}

uint64_t rs_py_builtin_sizeof(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == &PyUnicode_Type) /* unicode_sizeof: the UTF-8 is the data */
        return PyUnicode_IS_COMPACT_ASCII(obj) ? sizeof(PyASCIIObject) + (uint64_t)PyUnicode_GET_LENGTH(obj) + 1 : 0;
    if (tp == &PyLong_Type) {
        /* int___sizeof__; zero is left to it. */
        Py_ssize_t digits = _PyLong_DigitCount((PyLongObject *)obj);
        return digits > 0 ? offsetof(PyLongObject, long_value.ob_digit) + (uint64_t)digits * sizeof(digit) : 0;
    }
    if (tp == &PyList_Type)
        return (uint64_t)tp->tp_basicsize + (uint64_t)((PyListObject *)obj)->allocated * sizeof(PyObject *);
    return 0;
}
#endif

void rs_py_generator_fields(PyObject *gen, rs_generator_fields *out)
{
    PyGenObject *g = (PyGenObject *)gen;
    *out = (rs_generator_fields){.code = rs_py_generator_code(gen), .name = g->gi_name, .qualname = g->gi_qualname,
                                 .exc_value = g->gi_exc_state.exc_value};
}

PyObject *rs_py_inline_attribute_name(PyTypeObject *type, Py_ssize_t i)
{
    if (!(type->tp_flags & Py_TPFLAGS_MANAGED_DICT))
        return NULL;
    PyDictKeysObject *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
    if (keys == NULL || !DK_IS_UNICODE(keys) || i < 0 || i >= keys->dk_nentries)
        return NULL;
    return DK_UNICODE_ENTRIES(keys)[i].me_key;
}

/* --- classes defined in Python --------------------------------------------- */

static traverseproc subtype_traverse;

/* The extension's file name carries the version (cpython-313-...), so a
 * mismatch means a renamed or copied file: say so instead of misreading
 * the interpreter's structures. */
static int check_runtime_version(void)
{
    unsigned long built = PY_VERSION_HEX >> 16, running = Py_Version >> 16;
    if (built == running)
        return 0;
    PyErr_Format(PyExc_ImportError,
                 "refscope was built for CPython %lu.%lu but this is CPython %lu.%lu; build refscope "
                 "with this interpreter (make PYTHON=/path/to/this/python)",
                 built >> 8, built & 0xFF, running >> 8, running & 0xFF);
    return -1;
}

int rs_py_init(void)
{
    if (check_runtime_version() < 0)
        return -1;
    if (subtype_traverse != NULL)
        return 0;
    /* A class every interpreter has and keeps (importlib's ModuleSpec is
     * defined in Python): making a throwaway class instead would leave a
     * type cycle behind, which refscope would then report as garbage. */
    PyObject *name = PyUnicode_FromString("_frozen_importlib");
    PyObject *importlib = name ? PyImport_GetModule(name) : NULL;
    Py_XDECREF(name);
    PyObject *spec = importlib ? PyObject_GetAttrString(importlib, "ModuleSpec") : NULL;
    Py_XDECREF(importlib);
    if (spec == NULL || !PyType_Check(spec) || !(((PyTypeObject *)spec)->tp_flags & Py_TPFLAGS_HEAPTYPE) ||
        ((PyTypeObject *)spec)->tp_traverse == NULL) {
        Py_XDECREF(spec);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ImportError, "refscope: importlib's ModuleSpec is not a Python class here");
        return -1;
    }
    subtype_traverse = ((PyTypeObject *)spec)->tp_traverse;
    Py_DECREF(spec);
    return 0;
}

int rs_py_uses_subtype_traverse(PyTypeObject *type)
{
    return subtype_traverse != NULL && type->tp_traverse == subtype_traverse;
}

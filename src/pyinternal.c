/*
 * Access to CPython 3.11 internals, kept in one file so that a new Python
 * version means reading one file.  Everything here only reads interpreter
 * state; nothing runs Python code or takes references.
 */
#define Py_BUILD_CORE 1
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "refscope reads CPython 3.11 internals (frames, gc lists, inline values); this Python is not 3.11"
#endif

#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_object.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>

#include "pyinternal.h"

struct rs_iframe; /* really _PyInterpreterFrame */
#define IF(f) ((_PyInterpreterFrame *)(void *)(f))

static struct _gc_runtime_state *gc_state(void)
{
    return &_PyInterpreterState_GET()->gc;
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

size_t rs_py_preheader_size(PyTypeObject *type)
{
    return _PyType_PreHeaderSize(type);
}

rs_iframe *rs_py_thread_top_frame(PyThreadState *ts)
{
    return ts->cframe ? (rs_iframe *)ts->cframe->current_frame : NULL;
}

rs_iframe *rs_iframe_previous(rs_iframe *f)
{
    return (rs_iframe *)IF(f)->previous;
}

int rs_iframe_is_complete(rs_iframe *f)
{
    return !_PyFrame_IsIncomplete(IF(f));
}

int rs_iframe_owned_by_generator(rs_iframe *f)
{
    return IF(f)->owner == FRAME_OWNED_BY_GENERATOR;
}

int rs_iframe_stack_known(rs_iframe *f)
{
    return IF(f)->stacktop >= 0;
}

PyCodeObject *rs_iframe_code(rs_iframe *f)
{
    return IF(f)->f_code;
}

PyObject *rs_iframe_function(rs_iframe *f)
{
    return (PyObject *)IF(f)->f_func;
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
    int named = IF(f)->f_code->co_nlocalsplus;
    int top = IF(f)->stacktop;
    *count = top > named ? top : named;
    *nlocals = named;
    return _PyFrame_GetLocalsArray(IF(f));
}

int rs_iframe_line(rs_iframe *f)
{
    return PyCode_Addr2Line(IF(f)->f_code, _PyInterpreterFrame_LASTI(IF(f)) * (int)sizeof(_Py_CODEUNIT));
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

static PyDictKeysObject *shared_keys(PyTypeObject *tp)
{
    if (!(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT))
        return NULL;
    PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
    return (keys != NULL && DK_IS_UNICODE(keys)) ? keys : NULL;
}

Py_ssize_t rs_py_inline_attributes(PyObject *obj, PyObject ***values)
{
    PyDictKeysObject *keys = shared_keys(Py_TYPE(obj));
    if (keys == NULL)
        return 0;
    PyDictValues **vp = _PyObject_ValuesPointer(obj);
    if (*vp == NULL)
        return 0;
    *values = (*vp)->values;
    return keys->dk_nentries;
}

PyObject *rs_py_inline_attribute_name(PyTypeObject *type, Py_ssize_t i)
{
    PyDictKeysObject *keys = shared_keys(type);
    if (keys == NULL || i < 0 || i >= keys->dk_nentries)
        return NULL;
    return DK_UNICODE_ENTRIES(keys)[i].me_key;
}

PyObject **rs_py_dict_slot(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)
        return _PyObject_ManagedDictPointer(obj);
    Py_ssize_t offset = tp->tp_dictoffset;
    if (offset == 0)
        return NULL;
    if (offset < 0) { /* counted from the end of a variable-size object */
        Py_ssize_t size = Py_SIZE(obj);
        offset += (Py_ssize_t)_PyObject_VAR_SIZE(tp, size < 0 ? -size : size);
    }
    return (PyObject **)((char *)obj + offset);
}

static traverseproc subtype_traverse;

int rs_py_init(void)
{
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

int rs_py_dict_visits_keys(PyObject *dict)
{
    return !DK_IS_UNICODE(((PyDictObject *)dict)->ma_keys);
}

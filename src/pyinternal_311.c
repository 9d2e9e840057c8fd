/*
 * CPython 3.11 internals: frames (f_code, f_func, cframe), generators
 * (gi_code), managed dicts (values pointer and dict pointer before the
 * object), sizes, and the objects 3.12 would make immortal.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000

#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_object.h>

#include "pyinternal_impl.h"

#define IF(f) ((_PyInterpreterFrame *)(void *)(f))

/* 3.11 creates its static objects (small ints, one-character strings, the
 * empty tuple, _Py_ID strings) with this reference count. */
#define STATIC_IMMORTAL_REFCNT 999999999

size_t rs_py_preheader_size(PyObject *obj)
{
    return _PyType_PreHeaderSize(Py_TYPE(obj));
}

int rs_py_immortal_here(PyObject *obj)
{
    return Py_REFCNT(obj) >= STATIC_IMMORTAL_REFCNT / 2 || obj == Py_None || obj == Py_True || obj == Py_False ||
           obj == Py_Ellipsis || obj == Py_NotImplemented;
}

int rs_py_traverse(PyObject *obj, visitproc visit, void *arg)
{
    return Py_TYPE(obj)->tp_traverse(obj, visit, arg);
}

rs_iframe *rs_py_thread_top_frame(PyThreadState *ts)
{
    return ts->cframe ? (rs_iframe *)ts->cframe->current_frame : NULL;
}

int rs_iframe_is_complete(rs_iframe *f)
{
    return !_PyFrame_IsIncomplete(IF(f));
}

PyCodeObject *rs_iframe_code(rs_iframe *f)
{
    return IF(f)->f_code;
}

PyObject *rs_iframe_function(rs_iframe *f)
{
    return (PyObject *)IF(f)->f_func;
}

int rs_iframe_line(rs_iframe *f)
{
    return PyCode_Addr2Line(IF(f)->f_code, _PyInterpreterFrame_LASTI(IF(f)) * (int)sizeof(_Py_CODEUNIT));
}

PyObject *rs_py_generator_code(PyObject *gen)
{
    return (PyObject *)((PyGenObject *)gen)->gi_code;
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

PyObject *rs_py_instance_dict(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)
        return *_PyObject_ManagedDictPointer(obj);
    PyObject **slot = rs_py_offset_dict_slot(obj);
    return slot != NULL ? *slot : NULL;
}

void rs_py_prefetch_traversed(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyDictValues *values = *_PyObject_ValuesPointer(obj);
        if (values != NULL)
            __builtin_prefetch(values);
    } else if (tp == &PyList_Type) {
        __builtin_prefetch(((PyListObject *)obj)->ob_item);
    }
}

uint64_t rs_py_builtin_sizeof(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == &PyUnicode_Type) {
        /* unicode_sizeof: no wchar_t copy to add, the UTF-8 is the data. */
        PyASCIIObject *a = (PyASCIIObject *)obj;
        return PyUnicode_IS_COMPACT_ASCII(obj) && a->wstr == NULL ? sizeof(PyASCIIObject) + (uint64_t)a->length + 1
                                                                   : 0;
    }
    if (tp == &PyLong_Type) {
        /* int___sizeof__; zero is left to it (3.11 releases differ on it). */
        Py_ssize_t digits = Py_SIZE(obj) < 0 ? -Py_SIZE(obj) : Py_SIZE(obj);
        return digits > 0 ? offsetof(PyLongObject, ob_digit) + (uint64_t)digits * sizeof(digit) : 0;
    }
    if (tp == &PyList_Type)
        return (uint64_t)tp->tp_basicsize + (uint64_t)((PyListObject *)obj)->allocated * sizeof(PyObject *);
    return 0;
}

#endif

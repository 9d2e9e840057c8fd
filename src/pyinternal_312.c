/*
 * CPython 3.12 internals: frames (f_funcobj, C-stack entry frames, still
 * under cframe), generators (the code is the frame's), managed dicts (one
 * tagged pointer: inline values or a dict), immortal objects.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include <Python.h>

#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000

#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_object.h>

#include "pyinternal_impl.h"

#define IF(f) ((_PyInterpreterFrame *)(void *)(f))

size_t rs_py_preheader_size(PyObject *obj)
{
    return _PyType_PreHeaderSize(Py_TYPE(obj));
}

int rs_py_immortal_here(PyObject *obj)
{
    return _Py_IsImmortal(obj);
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
    return IF(f)->owner != FRAME_OWNED_BY_CSTACK && !_PyFrame_IsIncomplete(IF(f));
}

PyCodeObject *rs_iframe_code(rs_iframe *f)
{
    return IF(f)->f_code;
}

Py_ssize_t rs_py_inline_attributes(PyObject *obj, PyObject ***values)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (!(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT))
        return 0;
    PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
    PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(obj);
    if (keys == NULL || !_PyDictOrValues_IsValues(dorv))
        return 0;
    *values = _PyDictOrValues_GetValues(dorv)->values;
    return keys->dk_nentries;
}

PyObject *rs_py_instance_dict(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(obj);
        return _PyDictOrValues_IsValues(dorv) ? NULL : _PyDictOrValues_GetDict(dorv);
    }
    PyObject **slot = rs_py_offset_dict_slot(obj);
    return slot != NULL ? *slot : NULL;
}

void rs_py_prefetch_traversed(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(obj);
        if (_PyDictOrValues_IsValues(dorv))
            __builtin_prefetch(_PyDictOrValues_GetValues(dorv));
    } else if (tp == &PyList_Type) {
        __builtin_prefetch(((PyListObject *)obj)->ob_item);
    }
}

#endif

/*
 * CPython 3.13 internals: frames (f_executable, current_frame on the thread
 * state), inline values stored in the object with a separate managed dict
 * pointer, static types without a pre-header, immortal objects.
 */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include <Python.h>

#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000

#include <structmember.h>

#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_object.h>

#include "pyinternal_impl.h"

#define IF(f) ((_PyInterpreterFrame *)(void *)(f))

size_t rs_py_preheader_size(PyObject *obj)
{
    /* sys.getsizeof() of 3.13 adds no pre-header for static types. */
    if (Py_IS_TYPE(obj, &PyType_Type) && !(((PyTypeObject *)obj)->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return 0;
    return _PyType_PreHeaderSize(Py_TYPE(obj));
}

int rs_py_immortal_here(PyObject *obj)
{
    return _Py_IsImmortal(obj);
}

/* The inline values of an instance whose __dict__ was materialized while
 * the values stayed in the object, or NULL. */
static PyDictValues *values_behind_dict(PyObject *obj)
{
    if (!(Py_TYPE(obj)->tp_flags & Py_TPFLAGS_INLINE_VALUES))
        return NULL;
    PyDictValues *values = _PyObject_InlineValues(obj);
    if (!values->valid || _PyObject_ManagedDictPointer(obj)->dict == NULL)
        return NULL;
    return values;
}

/* subtype_traverse with the materialized __dict__ visited where it visits
 * the inline values: __slots__ of each Python base, the dict, the class,
 * then the first base not defined in Python. */
static int traverse_instance_with_dict(PyObject *obj, visitproc visit, void *arg)
{
    PyTypeObject *type = Py_TYPE(obj), *base = type;
    while (base != NULL && rs_py_uses_subtype_traverse(base)) {
        PyMemberDef *members = (PyMemberDef *)((char *)base + Py_TYPE(base)->tp_basicsize);
        for (Py_ssize_t i = 0; i < Py_SIZE(base); i++) {
            if (members[i].type != Py_T_OBJECT_EX)
                continue;
            PyObject *value = *(PyObject **)((char *)obj + members[i].offset);
            Py_VISIT(value);
        }
        base = base->tp_base;
    }
    Py_VISIT((PyObject *)_PyObject_ManagedDictPointer(obj)->dict);
    traverseproc base_traverse = base != NULL ? base->tp_traverse : NULL;
    if ((type->tp_flags & Py_TPFLAGS_HEAPTYPE) && (base_traverse == NULL || !(base->tp_flags & Py_TPFLAGS_HEAPTYPE)))
        Py_VISIT((PyObject *)type);
    return base_traverse != NULL ? base_traverse(obj, visit, arg) : 0;
}

int rs_py_traverse(PyObject *obj, visitproc visit, void *arg)
{
    if (values_behind_dict(obj) != NULL)
        return traverse_instance_with_dict(obj, visit, arg);
    if (PyDict_Check(obj)) {
        PyDictObject *dict = (PyDictObject *)obj;
        if (dict->ma_values != NULL && dict->ma_values->embedded) {
            /* dict_traverse leaves values embedded in an instance to the
             * instance; here the instance visits the dict instead. */
            for (Py_ssize_t i = 0; i < dict->ma_keys->dk_nentries; i++)
                Py_VISIT(dict->ma_values->values[i]);
            return 0;
        }
    }
    return Py_TYPE(obj)->tp_traverse(obj, visit, arg);
}

rs_iframe *rs_py_thread_top_frame(PyThreadState *ts)
{
    return (rs_iframe *)ts->current_frame;
}

int rs_iframe_is_complete(rs_iframe *f)
{
    return IF(f)->owner != FRAME_OWNED_BY_CSTACK && PyCode_Check(IF(f)->f_executable) &&
           !_PyFrame_IsIncomplete(IF(f));
}

PyCodeObject *rs_iframe_code(rs_iframe *f)
{
    PyObject *code = IF(f)->f_executable;
    return code != NULL && PyCode_Check(code) ? (PyCodeObject *)code : NULL;
}

Py_ssize_t rs_py_inline_attributes(PyObject *obj, PyObject ***values)
{
    if (!(Py_TYPE(obj)->tp_flags & Py_TPFLAGS_INLINE_VALUES))
        return 0;
    PyDictValues *inline_values = _PyObject_InlineValues(obj);
    if (!inline_values->valid || _PyObject_ManagedDictPointer(obj)->dict != NULL)
        return 0; /* reached through the __dict__ (rs_py_traverse) */
    *values = inline_values->values;
    return inline_values->capacity;
}

PyObject *rs_py_instance_dict(PyObject *obj)
{
    if (Py_TYPE(obj)->tp_flags & Py_TPFLAGS_MANAGED_DICT)
        return (PyObject *)_PyObject_ManagedDictPointer(obj)->dict;
    PyObject **slot = rs_py_offset_dict_slot(obj);
    return slot != NULL ? *slot : NULL;
}

void rs_py_prefetch_traversed(PyObject *obj)
{
    /* Instance attribute values are inline in the object on 3.13. */
    if (Py_TYPE(obj) == &PyList_Type)
        __builtin_prefetch(((PyListObject *)obj)->ob_item);
}

#endif

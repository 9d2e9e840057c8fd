/*
 * Paths as Python expressions that evaluate back to the object: str(path).
 * path.c writes the short form the screen shows (".x" for every instance
 * attribute, keys cut to 40 characters, "<closure var 'v'>"); here each
 * step is written from the holder and the object it holds, so that
 * eval(str(path)) is the object wherever Python can express the step:
 *
 *   dict value        d['key'] with the whole key's repr when it reads
 *                     back as the same key, else list(d.values())[n]
 *   dict key          list(d)[n]
 *   list/tuple item   x[3]    (a function's closure: f.__closure__[0])
 *   cell              .cell_contents
 *   namespace entry   .x when getattr would return that very object, else
 *                     .__dict__['x'] (a property or slot of the same name,
 *                     a classmethod or staticmethod in a class, a custom
 *                     __getattribute__); a class's own dict, which
 *                     C.__dict__ only shows through a mappingproxy, is
 *                     __import__('gc').get_referents(C.__dict__)[0]
 *   C-level referent  .x when the module or class namespace holds it too
 *
 * What Python cannot express stays marked as on screen (" <item>" for a
 * set member, " <referent 2>"), so such a path fails to evaluate instead
 * of giving another object.  No Python code runs: lookups go through the
 * type's MRO (rs_py_type_lookup) and dicts are read with PyDict_Next.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <string.h>

#include "pyinternal.h"
#include "snapshot.h"

/* Keys longer than this as a repr are indexed by position instead. */
#define KEY_REPR_MAX 200

static const char *const keywords[] = {
    "False", "None",   "True",    "and",      "as",       "assert", "async",  "await",    "break",
    "class", "continue", "def",   "del",      "elif",     "else",   "except", "finally",  "for",
    "from",  "global", "if",      "import",   "in",       "is",     "lambda", "nonlocal", "not",
    "or",    "pass",   "raise",   "return",   "try",      "while",  "with",   "yield",
};

/* true when name can follow a dot: an identifier, not a keyword. */
static bool attribute_name(PyObject *name)
{
    if (!PyUnicode_CheckExact(name) || !PyUnicode_IsIdentifier(name))
        return false;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (PyUnicode_CompareWithASCIIString(name, keywords[i]) == 0)
            return false;
    return true;
}

/* true when a lookup on tp finds attributes in the namespace first: the
 * generic, type or module getattr, or a class that defines only
 * __getattr__ (its __getattribute__ is still a C slot wrapper). */
static bool plain_getattr(PyTypeObject *tp)
{
    static PyObject *name;
    getattrofunc f = tp->tp_getattro;
    if (f == PyObject_GenericGetAttr || f == PyType_Type.tp_getattro || f == PyModule_Type.tp_getattro)
        return true;
    if (name == NULL && (name = PyUnicode_InternFromString("__getattribute__")) == NULL) {
        PyErr_Clear();
        return false;
    }
    PyObject *own = rs_py_type_lookup(tp, name);
    return own != NULL && Py_IS_TYPE(own, &PyWrapperDescr_Type);
}

/* true when value, found in a class's own namespace, is what reading it
 * from the class returns (its __get__ with no instance returns itself). */
static bool class_reads_back(PyObject *value)
{
    PyTypeObject *tp = Py_TYPE(value);
    return tp->tp_descr_get == NULL || PyFunction_Check(value) || tp == &PyProperty_Type ||
           tp == &PyGetSetDescr_Type || tp == &PyMemberDescr_Type || tp == &PyMethodDescr_Type ||
           tp == &PyWrapperDescr_Type;
}

/* true when holder.name returns value, the entry under name in holder's
 * own namespace (its __dict__). */
static bool attribute_reads_back(PyObject *holder, PyObject *name, PyObject *value)
{
    if (!attribute_name(name) || !plain_getattr(Py_TYPE(holder)))
        return false;
    PyObject *meta = rs_py_type_lookup(Py_TYPE(holder), name);
    if (meta != NULL && Py_TYPE(meta)->tp_descr_set != NULL)
        return false; /* a data descriptor (property, slot) wins over the namespace */
    return !PyType_Check(holder) || class_reads_back(value);
}

/* true when holder.name (name read from inline values, a slot or a C
 * field) is shadowed by a data descriptor that is not the field's own
 * member or getset, so only .__dict__['name'] reads the value. */
static bool attribute_shadowed(PyObject *holder, PyObject *name)
{
    if (!attribute_name(name) || !plain_getattr(Py_TYPE(holder)))
        return false;
    PyObject *meta = rs_py_type_lookup(Py_TYPE(holder), name);
    return meta != NULL && Py_TYPE(meta)->tp_descr_set != NULL && !Py_IS_TYPE(meta, &PyMemberDescr_Type) &&
           !Py_IS_TYPE(meta, &PyGetSetDescr_Type);
}

/* true when child is a function's annotations still stored as a tuple:
 * reading .__annotations__ builds a new dict instead. */
static bool tuple_annotations(PyObject *holder, PyObject *child)
{
    return PyFunction_Check(holder) && PyTuple_Check(child) &&
           ((PyFunctionObject *)holder)->func_annotations == child;
}

/* repr(key) when evaluating it gives an equal key of the same type (str,
 * int, bytes, finite float, bool, None, tuples of those) and it is short
 * enough; else NULL without an exception. */
static PyObject *key_repr(PyObject *key)
{
    bool ok = PyUnicode_CheckExact(key) || PyLong_CheckExact(key) || PyBool_Check(key) || key == Py_None ||
              PyBytes_CheckExact(key) || (PyFloat_CheckExact(key) && isfinite(PyFloat_AS_DOUBLE(key)));
    /* Too long to print, known before printing: a tuple's repr takes at
     * least 3 characters an item, an int's at least one digit per 4 bits. */
    if (PyTuple_CheckExact(key) && PyTuple_GET_SIZE(key) > KEY_REPR_MAX / 3)
        return NULL;
    if (PyLong_CheckExact(key)) {
        PyObject *bits = PyObject_CallMethod(key, "bit_length", NULL);
        long long n = bits ? PyLong_AsLongLong(bits) : -1;
        Py_XDECREF(bits);
        PyErr_Clear();
        if (n < 0 || n > 4 * KEY_REPR_MAX)
            return NULL;
    }
    if (PyTuple_CheckExact(key)) {
        ok = true;
        for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(key); i++) {
            PyObject *r = key_repr(PyTuple_GET_ITEM(key, i));
            ok = r != NULL;
            Py_XDECREF(r);
        }
    }
    if (!ok || (PyUnicode_CheckExact(key) && PyUnicode_GET_LENGTH(key) > KEY_REPR_MAX) ||
        (PyBytes_CheckExact(key) && PyBytes_GET_SIZE(key) > KEY_REPR_MAX))
        return NULL;
    PyObject *r = PyObject_Repr(key); /* builtin reprs only: no Python code */
    if (r == NULL || PyUnicode_GET_LENGTH(r) > KEY_REPR_MAX) {
        PyErr_Clear(); /* an int too long to print, say */
        Py_XDECREF(r);
        return NULL;
    }
    return r;
}

/* The position and key of value among d's values (first match); -1. */
static Py_ssize_t value_position(PyObject *d, PyObject *value, PyObject **key)
{
    Py_ssize_t pos = 0, n = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (v == value) {
            *key = k;
            return n;
        }
        n++;
    }
    return -1;
}

/* The position of key among d's keys; -1. */
static Py_ssize_t key_position(PyObject *d, PyObject *key)
{
    Py_ssize_t pos = 0, n = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (k == key)
            return n;
        n++;
    }
    return -1;
}

/* expr (a dict) followed by the step to child; NULL when child is neither
 * a key nor a value of d (no exception) or on error (exception set). */
static PyObject *dict_step(PyObject *expr, PyObject *d, PyObject *child)
{
    PyObject *key = NULL;
    Py_ssize_t n = value_position(d, child, &key);
    if (n >= 0) {
        PyObject *r = key_repr(key);
        if (r != NULL) {
            PyObject *e = PyUnicode_FromFormat("%U[%U]", expr, r);
            Py_DECREF(r);
            return e;
        }
        return PyUnicode_FromFormat("list(%U.values())[%zd]", expr, n);
    }
    n = key_position(d, child);
    return n >= 0 ? PyUnicode_FromFormat("list(%U)[%zd]", expr, n) : NULL;
}

/* expr (holder) followed by holder's namespace entry value, found in d
 * (holder's __dict__); NULL without an exception when value is not there. */
static PyObject *namespace_step(PyObject *expr, PyObject *holder, PyObject *d, PyObject *value)
{
    PyObject *key = NULL;
    if (value_position(d, value, &key) >= 0 && attribute_reads_back(holder, key, value))
        return PyUnicode_FromFormat("%U.%U", expr, key);
    PyObject *dict_expr = PyUnicode_FromFormat("%U.__dict__", expr);
    if (dict_expr == NULL)
        return NULL;
    PyObject *e = dict_step(dict_expr, d, value);
    Py_DECREF(dict_expr);
    return e;
}

/* The namespace of a module or class (new reference), or NULL. */
static PyObject *namespace_of(PyObject *holder)
{
    if (PyModule_Check(holder))
        return Py_XNewRef(PyModule_GetDict(holder));
    if (PyType_Check(holder)) {
#if PY_VERSION_HEX >= 0x030C0000
        return PyType_GetDict((PyTypeObject *)holder);
#else
        return Py_XNewRef(((PyTypeObject *)holder)->tp_dict);
#endif
    }
    return NULL;
}

/* A referent only C reaches (a C object's fields, a classmethod's
 * attribute dict): holder.__dict__ when it is that dict, else its place in
 * gc.get_referents(holder), which visits what the snapshot's edges are
 * made of (tp_traverse, no Python code).  NULL without an exception when
 * child is not there. */
static PyObject *referent_step(PyObject *expr, PyObject *holder, PyObject *child)
{
    static PyObject *get_referents;
    Py_ssize_t offset = Py_TYPE(holder)->tp_dictoffset;
    if (offset > 0 && *(PyObject **)((char *)holder + offset) == child)
        return PyUnicode_FromFormat("%U.__dict__", expr);
    if (get_referents == NULL) {
        PyObject *gc = PyImport_ImportModule("gc");
        get_referents = gc ? PyObject_GetAttrString(gc, "get_referents") : NULL;
        Py_XDECREF(gc);
        if (get_referents == NULL)
            return NULL;
    }
    PyObject *referents = PyObject_CallOneArg(get_referents, holder);
    if (referents == NULL)
        return NULL;
    PyObject *e = NULL;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(referents); k++) {
        if (PyList_GET_ITEM(referents, k) == child) {
            e = PyUnicode_FromFormat("__import__('gc').get_referents(%U)[%zd]", expr, k);
            break;
        }
    }
    Py_DECREF(referents);
    return e;
}

/* The step nodes[i-1] -> nodes[i] (and nodes[i+1] when the step is into a
 * __dict__ and the entry follows: *used is then 2) appended to expr.  New
 * str, NULL with an exception set. */
static PyObject *python_step(rs_snapshot *s, PyObject *expr, const rs_idx *nodes, size_t len, size_t i,
                             const rs_root *root, size_t *used)
{
    PyObject *holder = rs_snapshot_object(s, nodes[i - 1]), *child = rs_snapshot_object(s, nodes[i]);
    *used = 1;
    if (PyDict_Check(holder)) {
        PyObject *e = dict_step(expr, holder, child);
        if (e != NULL || PyErr_Occurred())
            return e;
    } else if (PyList_CheckExact(holder) || PyTuple_CheckExact(holder)) {
        Py_ssize_t size = PySequence_Fast_GET_SIZE(holder);
        PyObject **items = PySequence_Fast_ITEMS(holder);
        for (Py_ssize_t k = 0; k < size; k++)
            if (items[k] == child)
                return PyUnicode_FromFormat("%U[%zd]", expr, k);
    } else if (PyCell_Check(holder)) {
        return PyUnicode_FromFormat("%U.cell_contents", expr);
    } else if (PyAnySet_CheckExact(holder)) {
        /* Iteration order is the table order while the set is unchanged
         * (a builtin set's iterator runs no Python code). */
        PyObject *it = PyObject_GetIter(holder), *item;
        Py_ssize_t k = 0;
        while (it != NULL && (item = PyIter_Next(it)) != NULL) {
            Py_DECREF(item); /* the set still holds it */
            if (item == child) {
                Py_DECREF(it);
                return PyUnicode_FromFormat("list(%U)[%zd]", expr, k);
            }
            k++;
        }
        Py_XDECREF(it);
        if (PyErr_Occurred())
            return NULL;
    }
    PyObject *label = rs_path_step_label(s, nodes, i, root);
    if (label == NULL)
        return NULL;
    PyObject *e = NULL;
    if (PyUnicode_CompareWithASCIIString(label, ".__dict__") == 0 && PyDict_Check(child)) {
        if (i + 1 < len) {
            *used = 2;
            e = namespace_step(expr, holder, child, rs_snapshot_object(s, nodes[i + 1]));
        } else if (PyType_Check(holder)) {
            /* C.__dict__ is a mappingproxy around the dict: its one referent. */
            e = PyUnicode_FromFormat("__import__('gc').get_referents(%U.__dict__)[0]", expr);
        } else {
            e = PyUnicode_FromFormat("%U.__dict__", expr);
        }
    } else if (PyUnicode_GET_LENGTH(label) > 1 && PyUnicode_READ_CHAR(label, 0) == '.' &&
               !tuple_annotations(holder, child)) {
        PyObject *name = PyUnicode_Substring(label, 1, PyUnicode_GET_LENGTH(label));
        if (name != NULL)
            e = attribute_shadowed(holder, name) ? PyUnicode_FromFormat("%U.__dict__[%R]", expr, name)
                                                 : PyUnicode_FromFormat("%U%U", expr, label);
        Py_XDECREF(name);
    } else if (PyUnicode_READ_CHAR(label, 0) == '[') {
        e = PyUnicode_FromFormat("%U%U", expr, label); /* an item of a list subclass, a deque */
    } else {
        /* A referent C code keeps (a module's state, a type's slots) is
         * often in the module's or class's namespace as well. */
        PyObject *d = namespace_of(holder);
        if (d != NULL)
            e = namespace_step(expr, holder, d, child);
        Py_XDECREF(d);
        if (e == NULL && !PyErr_Occurred())
            e = referent_step(expr, holder, child);
        if (e == NULL && !PyErr_Occurred())
            e = PyUnicode_FromFormat(PyUnicode_READ_CHAR(label, 0) == '<' ? "%U %U" : "%U%U", expr, label);
    }
    Py_DECREF(label);
    if (e == NULL && !PyErr_Occurred())
        PyErr_NoMemory();
    return e;
}

PyObject *rs_path_python(rs_snapshot *s, const rs_idx *nodes, size_t len, const rs_root *root)
{
    if (s->stored != NULL) /* a dump's labels are all there is to say */
        return rs_path_expression(s, nodes, len, root);
    PyObject *expr = rs_path_step_label(s, nodes, 0, root);
    for (size_t i = 1, used; expr != NULL && i < len; i += used) {
        PyObject *next = python_step(s, expr, nodes, len, i, root, &used);
        Py_DECREF(expr);
        expr = next;
    }
    return expr;
}

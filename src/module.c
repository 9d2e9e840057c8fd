/*
 * The Python module `refscope._refscope` (re-exported by the `refscope`
 * package): the Snapshot and Path types, snapshot(), and refscope.Error.
 * The only file that builds Python types.  Every user mistake (an object
 * not in the snapshot, an unknown type name, a closed snapshot) becomes
 * refscope.Error with a sentence saying what to do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <string.h>

#include "analysis.h"
#include "browser.h"
#include "module.h"
#include "module_analysis.h"
#include "module_dump.h"
#include "pyinternal.h"
#include "refscope/dom.h"
#include "refscope/scc.h"
#include "snapshot.h"
#include "trigger.h"

#define REFSCOPE_VERSION "0.1.0"

PyObject *rs_error;

/* --- Path ---------------------------------------------------------------- */

typedef struct {
    PyListObject list;
    PyObject *expression; /* evaluates back to the object */
    PyObject *short_form; /* as the browser shows it */
} PathObject;

static int path_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((PathObject *)self)->expression);
    Py_VISIT(((PathObject *)self)->short_form);
    return PyList_Type.tp_traverse(self, visit, arg);
}

static int path_clear(PyObject *self)
{
    Py_CLEAR(((PathObject *)self)->expression);
    Py_CLEAR(((PathObject *)self)->short_form);
    return PyList_Type.tp_clear(self);
}

static void path_dealloc(PyObject *self)
{
    Py_CLEAR(((PathObject *)self)->expression);
    Py_CLEAR(((PathObject *)self)->short_form);
    PyList_Type.tp_dealloc(self);
}

static PyObject *path_display(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *e = ((PathObject *)self)->short_form;
    return Py_NewRef(e ? e : Py_None);
}

static PyMethodDef path_methods[] = {
    {"display", path_display, METH_NOARGS,
     "The short form the browser shows: .x for every attribute, keys cut to 40 characters, "
     "<closure var 'v'> for a closure cell's value."},
    {NULL},
};

static PyObject *path_str(PyObject *self)
{
    PyObject *e = ((PathObject *)self)->expression;
    return e ? Py_NewRef(e) : PyUnicode_FromString("");
}

static PyObject *path_repr(PyObject *self)
{
    PyObject *e = ((PathObject *)self)->expression;
    return PyUnicode_FromFormat("<refscope.Path %zd steps: %S>", PyList_GET_SIZE(self), e ? e : Py_None);
}

static PyMemberDef path_members[] = {
    {"expression", T_OBJECT, offsetof(PathObject, expression), READONLY,
     "The path as one Python expression that evaluates back to the object where Python can express "
     "every step, e.g. sys.modules['app'].cache['k'] (also str(path))."},
    {NULL},
};

PyTypeObject rs_path_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "refscope.Path",
    .tp_basicsize = sizeof(PathObject),
    /* Only s.path() makes one: it needs the expression that comes with it. */
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "Why an object is alive: a list of (object, label) steps from a root, "
              "the first label naming the root; str() gives one Python expression that evaluates back "
              "to the object (steps Python cannot express stay marked: <item>, <held by C/interpreter>); "
              "display() the short form the browser shows.",
    .tp_traverse = path_traverse,
    .tp_clear = path_clear,
    .tp_dealloc = path_dealloc,
    .tp_str = path_str,
    .tp_repr = path_repr,
    .tp_members = path_members,
    .tp_methods = path_methods,
};

/* --- Cycle (slots in module_analysis.c) ------------------------------------- */

PyTypeObject rs_cycle_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "refscope.Cycle",
    .tp_basicsize = sizeof(rs_cycle_pyobject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A cycle of a snapshot: .objects, .edges, .ring, .break_edges, .size, .retained, .garbage.",
    .tp_traverse = rs_cycle_traverse,
    .tp_clear = rs_cycle_clear,
    .tp_dealloc = rs_cycle_dealloc,
    .tp_repr = rs_cycle_repr,
    .tp_members = rs_cycle_members,
    .tp_getset = rs_cycle_getset,
    .tp_as_sequence = &rs_cycle_as_sequence,
};

/* --- Snapshot -------------------------------------------------------------- */

static PyObject *closed_error(void)
{
    PyErr_SetString(rs_error, "this snapshot is closed; take a new one with refscope.snapshot()");
    return NULL;
}

rs_snapshot *rs_snapshot_of(PyObject *self)
{
    rs_snapshot_pyobject *so = (rs_snapshot_pyobject *)self;
    if (so->snap == NULL || so->close_pending) {
        closed_error();
        return NULL;
    }
    return so->snap;
}

/* Drops the snapshot's references now; keeps a pending exception. */
static void release(rs_snapshot_pyobject *so)
{
    rs_snapshot *s = so->snap;
    so->snap = NULL;
    so->close_pending = 0;
    if (s == NULL)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    rs_snapshot_free(s);
    PyErr_Restore(type, value, tb);
}

void rs_snapshot_enter(PyObject *self)
{
    Py_INCREF(self);
    ((rs_snapshot_pyobject *)self)->busy++;
}

PyObject *rs_snapshot_leave(PyObject *self, PyObject *result)
{
    rs_snapshot_pyobject *so = (rs_snapshot_pyobject *)self;
    if (--so->busy == 0 && so->close_pending)
        release(so);
    Py_DECREF(self);
    return result;
}

rs_idx rs_node_of(rs_snapshot *s, PyObject *obj)
{
    rs_idx n = rs_snapshot_find(s, obj);
    if (n == RS_NONE)
        PyErr_Format(rs_error,
                     "%s object at %p is not in this snapshot (created after it was taken, or "
                     "refscope's own); take a new one with refscope.snapshot()",
                     Py_TYPE(obj)->tp_name, (void *)obj);
    return n;
}

rs_snapshot *rs_snapshot_and_node(PyObject *self, PyObject *obj, rs_idx *n)
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    *n = rs_node_of(s, obj);
    return *n == RS_NONE ? NULL : s;
}

/* Never busy here: every busy method holds a reference to self. */
static void snapshot_dealloc(PyObject *self)
{
    release((rs_snapshot_pyobject *)self);
    Py_TYPE(self)->tp_free(self);
}

/* close() from Python code that a method of this snapshot runs (a key's
 * __repr__, a file's write) defers the release until that method returns:
 * the method finishes with a correct answer, later calls raise. */
static PyObject *snapshot_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_snapshot_pyobject *so = (rs_snapshot_pyobject *)self;
    if (so->busy > 0)
        so->close_pending = so->snap != NULL;
    else
        release(so);
    Py_RETURN_NONE;
}

static PyObject *snapshot_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (rs_snapshot_of(self) == NULL)
        return NULL;
    return Py_NewRef(self);
}

static PyObject *snapshot_exit(PyObject *self, PyObject *Py_UNUSED(args))
{
    return snapshot_close(self, NULL);
}

static Py_ssize_t snapshot_len(PyObject *self)
{
    rs_snapshot *s = rs_snapshot_of(self);
    return s ? (Py_ssize_t)s->visible_count : -1;
}

static PyObject *snapshot_edge_count(PyObject *self, void *Py_UNUSED(closure))
{
    rs_snapshot *s = rs_snapshot_of(self);
    return s ? PyLong_FromSize_t(rs_graph_edge_count(s->graph)) : NULL;
}

static PyObject *snapshot_seconds(PyObject *self, void *Py_UNUSED(closure))
{
    rs_snapshot *s = rs_snapshot_of(self);
    return s ? PyFloat_FromDouble(s->seconds) : NULL;
}

static PyObject *snapshot_memory(PyObject *self, void *Py_UNUSED(closure))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t n = rs_graph_node_count(s->graph);
    size_t bytes = sizeof *s + rs_graph_memory_bytes(s->graph) + s->type_count * sizeof *s->types +
                   s->frame_count * sizeof *s->frames + s->thread_count * sizeof *s->threads +
                   s->root_info_count * sizeof *s->root_info;
    /* The analyses computed so far: dominator order, cycles, dominators, labels. */
    if (s->dom_order != NULL)
        bytes += n * (sizeof *s->dom_order->enter + sizeof *s->dom_order->leave);
    bytes += rs_scc_memory_bytes(s->scc) + rs_dom_memory_bytes(s->dom) + rs_label_cache_bytes(s);
    return PyLong_FromSize_t(bytes);
}

static PyObject *snapshot_repr(PyObject *self)
{
    rs_snapshot *s = ((rs_snapshot_pyobject *)self)->snap;
    if (s == NULL || ((rs_snapshot_pyobject *)self)->close_pending)
        return PyUnicode_FromString("<refscope.Snapshot closed>");
    return PyUnicode_FromFormat("<refscope.Snapshot %zu objects, %zu edges>", s->visible_count,
                                rs_graph_edge_count(s->graph));
}

static PyObject *snapshot_census(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL || rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    size_t count;
    rs_census_row *rows = rs_census(s, &count);
    if (rows == NULL)
        return NULL;
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *row = Py_BuildValue("(sKKK)", s->types[rows[i].type_id].name, (unsigned long long)rows[i].count,
                                      (unsigned long long)rows[i].size, (unsigned long long)rows[i].retained);
        if (row == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, row);
    }
    rs_free(rows);
    return list;
}

int64_t rs_type_arg(rs_snapshot *s, PyObject *arg)
{
    if (PyType_Check(arg)) {
        for (uint32_t i = 0; i < s->type_count; i++)
            if ((PyObject *)s->types[i].type == arg)
                return i;
        /* Named as the census names it: module.QualName, builtins bare. */
        PyObject *qualname = PyType_GetQualName((PyTypeObject *)arg);
        PyObject *module = qualname ? PyObject_GetAttrString(arg, "__module__") : NULL;
        if (qualname != NULL && module == NULL)
            PyErr_Clear();
        if (qualname == NULL)
            return -1;
        if (module != NULL && PyUnicode_Check(module) && PyUnicode_CompareWithASCIIString(module, "builtins") != 0)
            PyErr_Format(rs_error, "no objects of type '%U.%U' in this snapshot; s.census() lists the types present",
                         module, qualname);
        else
            PyErr_Format(rs_error, "no objects of type '%U' in this snapshot; s.census() lists the types present",
                         qualname);
        Py_XDECREF(module);
        Py_DECREF(qualname);
        return -1;
    }
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "expected a type or a type name such as 'dict' or 'app.Node', not %s",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *name = PyUnicode_AsUTF8AndSize(arg, &len);
    if (name == NULL || strlen(name) != (size_t)len) {
        /* A lone surrogate or a NUL: no type name has one. */
        PyErr_Clear();
        PyErr_Format(rs_error, "no objects of type %R in this snapshot; s.census() lists the types present", arg);
        return -1;
    }
    /* Tracebacks and __module__ spell builtins "builtins.dict"; the census "dict". */
    if (strncmp(name, "builtins.", 9) == 0 && rs_snapshot_type_lookup(s, name) < 0)
        name += 9;
    int64_t t = rs_snapshot_type_lookup(s, name);
    if (t == -2)
        PyErr_Format(rs_error, "type name '%s' is ambiguous here; give it with its module, e.g. 'app.%s'", name,
                     name);
    else if (t < 0)
        PyErr_Format(rs_error, "no objects of type '%s' in this snapshot; s.census() lists the types present",
                     name);
    return t < 0 ? -1 : t;
}

static PyObject *node_list(rs_snapshot *s, const rs_idx *nodes, size_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list != NULL && i < count; i++)
        PyList_SET_ITEM(list, (Py_ssize_t)i, Py_NewRef(rs_snapshot_object(s, nodes[i])));
    return list;
}

static PyObject *snapshot_instances(PyObject *self, PyObject *arg)
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    int64_t t = rs_type_arg(s, arg);
    if (t < 0)
        return NULL;
    size_t count;
    rs_idx *nodes = rs_census_instances(s, (uint32_t)t, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = node_list(s, nodes, count);
    rs_free(nodes);
    return list;
}

/* [(object, label)] for referents (forward) or referrers (reverse). */
static PyObject *edge_list(PyObject *self, PyObject *obj, int forward)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    if (s == NULL)
        return NULL;
    size_t count;
    const rs_idx *nodes = forward ? rs_graph_referents(s->graph, n, &count) : rs_graph_referrers(s->graph, n, &count);
    /* A user's object may hold a Snapshot (gc.get_referents lists it), but
     * the snapshot does not hold refscope's own objects: listed only while
     * obj still holds them.  They never show up as holders. */
    uint8_t *alive = forward ? PyMem_Malloc(count ? count : 1) : NULL;
    if (forward && (alive == NULL || rs_snapshot_own_alive(s, n, alive) < 0)) {
        PyMem_Free(alive);
        return alive == NULL ? PyErr_NoMemory() : NULL;
    }
    if (rs_label_prepare(s, n, forward) < 0) {
        PyMem_Free(alive);
        return NULL;
    }
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        if ((rs_graph_flags(s->graph, nodes[i]) & RS_NODE_INTERNAL) && !(forward && alive[i]))
            continue;
        PyObject *label = forward ? rs_label_referent(s, n, i) : rs_label_referrer(s, n, i);
        PyObject *pair = label ? PyTuple_Pack(2, rs_snapshot_object(s, nodes[i]), label) : NULL;
        Py_XDECREF(label);
        if (pair == NULL || PyList_Append(list, pair) < 0)
            Py_CLEAR(list);
        Py_XDECREF(pair);
    }
    PyMem_Free(alive);
    return list;
}

static PyObject *snapshot_referents(PyObject *self, PyObject *obj)
{
    return edge_list(self, obj, 1);
}

static PyObject *snapshot_referrers(PyObject *self, PyObject *obj)
{
    return edge_list(self, obj, 0);
}

PyObject *rs_make_path(rs_snapshot *s, rs_idx n)
{
    rs_idx *nodes;
    size_t len;
    const rs_root *root;
    int r = rs_path_find(s, n, &nodes, &len, &root);
    if (r <= 0)
        return r == 0 ? Py_NewRef(Py_None) : NULL;
    PathObject *path = (PathObject *)rs_path_type.tp_alloc(&rs_path_type, 0);
    if (path == NULL)
        goto error;
    for (size_t i = 0; i < len; i++) {
        PyObject *label = rs_path_step_label(s, nodes, i, root);
        PyObject *step = label ? PyTuple_Pack(2, rs_snapshot_object(s, nodes[i]), label) : NULL;
        Py_XDECREF(label);
        if (step == NULL || PyList_Append((PyObject *)path, step) < 0) {
            Py_XDECREF(step);
            goto error;
        }
        Py_DECREF(step);
    }
    path->expression = rs_path_python(s, nodes, len, root);
    path->short_form = path->expression ? rs_path_expression(s, nodes, len, root) : NULL;
    if (path->short_form == NULL)
        goto error;
    rs_free(nodes);
    return (PyObject *)path;
error:
    Py_XDECREF(path);
    rs_free(nodes);
    return NULL;
}

static PyObject *snapshot_path(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    return s ? rs_make_path(s, n) : NULL;
}

static PyObject *snapshot_unexplained(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    return s ? PyLong_FromLong(rs_snapshot_unexplained(s, n)) : NULL;
}

static PyObject *snapshot_immortal(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    return s ? PyBool_FromLong((rs_graph_flags(s->graph, n) & RS_NODE_IMMORTAL) != 0) : NULL;
}

static PyObject *snapshot_refcount(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    return s ? PyLong_FromUnsignedLong(rs_graph_refcount(s->graph, n)) : NULL;
}

static PyObject *snapshot_size(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    return s ? PyLong_FromUnsignedLongLong(rs_graph_size(s->graph, n)) : NULL;
}

static PyObject *snapshot_contains_method(PyObject *self, PyObject *obj)
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    return PyBool_FromLong(rs_snapshot_find(s, obj) != RS_NONE);
}

static int snapshot_contains(PyObject *self, PyObject *obj)
{
    rs_snapshot *s = rs_snapshot_of(self);
    return s ? rs_snapshot_find(s, obj) != RS_NONE : -1;
}

static PyObject *snapshot_objects(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t n = rs_graph_node_count(s->graph);
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < n; i++) {
        if (rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL)
            continue;
        if (PyList_Append(list, rs_snapshot_object(s, (rs_idx)i)) < 0)
            Py_CLEAR(list);
    }
    return list;
}

/* Every method runs with the snapshot marked busy (see snapshot_close). */
RS_GUARDED_O(snapshot_census)
RS_GUARDED_O(snapshot_instances)
RS_GUARDED_O(snapshot_referents)
RS_GUARDED_O(snapshot_referrers)
RS_GUARDED_O(snapshot_path)
RS_GUARDED_O(snapshot_unexplained)
RS_GUARDED_O(snapshot_refcount)
RS_GUARDED_O(snapshot_immortal)
RS_GUARDED_O(snapshot_size)
RS_GUARDED_O(snapshot_contains_method)
RS_GUARDED_O(snapshot_objects)
RS_GUARDED_O(rs_snapshot_in_cycle)
RS_GUARDED_O(rs_snapshot_cycle_of)
RS_GUARDED_O(rs_snapshot_garbage)
RS_GUARDED_O(rs_snapshot_closures)
RS_GUARDED_O(rs_snapshot_frames)
RS_GUARDED_O(rs_snapshot_retained_size)
RS_GUARDED_O(rs_snapshot_retained)
RS_GUARDED_O(rs_snapshot_retained_by_type)
RS_GUARDED_O(rs_snapshot_strings_by_holder)
RS_GUARDED_O(rs_snapshot_process_memory)
RS_GUARDED_O(rs_snapshot_allocated_at)
RS_GUARDED_O(rs_snapshot_compute)
RS_GUARDED_KW(rs_snapshot_cycles)
RS_GUARDED_KW(rs_snapshot_largest)
RS_GUARDED_KW(rs_snapshot_to_json)
RS_GUARDED_KW(rs_snapshot_to_dot)

static PyMethodDef snapshot_methods[] = {
    {"close", snapshot_close, METH_NOARGS, "Release every reference the snapshot holds."},
    {"__enter__", snapshot_enter, METH_NOARGS, NULL},
    {"__exit__", snapshot_exit, METH_VARARGS, NULL},
    {"census", snapshot_census_guarded, METH_NOARGS, "[(type_name, count, size, retained)], biggest size first."},
    {"instances", snapshot_instances_guarded, METH_O, "The objects of a type (a type, or its name)."},
    {"referents", snapshot_referents_guarded, METH_O,
     "[(object, label)] that obj holds, in tp_traverse order (as gc.get_referents)."},
    {"referrers", snapshot_referrers_guarded, METH_O, "[(object, label)] that hold obj."},
    {"path", snapshot_path_guarded, METH_O, "Why obj is alive: the shortest Path from a root, or None."},
    {"unexplained", snapshot_unexplained_guarded, METH_O,
     "References to obj that no object in the snapshot accounts for (held by C code or the interpreter)."},
    {"immortal", snapshot_immortal_guarded, METH_O,
     "True when obj lives as long as the interpreter (immortal on 3.12+, interned str, static type, small int, "
     "None...): never unexplained, never a root, retained by nobody."},
    {"refcount", snapshot_refcount_guarded, METH_O,
     "obj's reference count when the snapshot was taken, without its own."},
    {"size", snapshot_size_guarded, METH_O, "sys.getsizeof(obj) when the snapshot was taken."},
    {"contains", snapshot_contains_method_guarded, METH_O, "True when obj is in the snapshot."},
    {"objects", snapshot_objects_guarded, METH_NOARGS, "Every object in the snapshot."},
    RS_ANALYSIS_SNAPSHOT_METHODS
    RS_DUMP_SNAPSHOT_METHODS
    {NULL},
};

static PyGetSetDef snapshot_getset[] = {
    {"edge_count", snapshot_edge_count, NULL, "Number of edges (references between objects).", NULL},
    {"seconds", snapshot_seconds, NULL, "Time taken to build the snapshot.", NULL},
    {"memory", snapshot_memory, NULL,
     "Bytes refscope uses for this snapshot: the graph and every analysis computed so far.", NULL},
    {NULL},
};

static PySequenceMethods snapshot_as_sequence = {
    .sq_length = snapshot_len,
    .sq_contains = snapshot_contains,
};

/* Not a GC type on purpose: a snapshot must never show up in gc's lists,
 * so it is never a node of a later snapshot. */
PyTypeObject rs_snapshot_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "refscope.Snapshot",
    .tp_basicsize = sizeof(rs_snapshot_pyobject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A consistent snapshot of the whole object graph; refscope.snapshot() makes one.",
    .tp_dealloc = snapshot_dealloc,
    .tp_repr = snapshot_repr,
    .tp_methods = snapshot_methods,
    .tp_getset = snapshot_getset,
    .tp_as_sequence = &snapshot_as_sequence,
};

/* --- DumpFile (slots in module_dump.c) ------------------------------------- */

/* Not a GC type, like Snapshot: never a node of a snapshot. */
PyTypeObject rs_dumpfile_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "refscope._refscope.DumpFile",
    .tp_basicsize = sizeof(rs_dumpfile_pyobject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "DumpFile(path): a heap dump opened for reading, answered by node index (refscope.load() wraps it).",
    .tp_new = rs_dumpfile_new,
    .tp_dealloc = rs_dumpfile_dealloc,
    .tp_methods = rs_dumpfile_methods,
    .tp_getset = rs_dumpfile_getset,
    .tp_as_sequence = &rs_dumpfile_as_sequence,
};

PyObject *rs_snapshot_wrap(rs_snapshot *s)
{
    rs_snapshot_pyobject *self = PyObject_New(rs_snapshot_pyobject, &rs_snapshot_type);
    if (self == NULL) {
        rs_snapshot_free(s);
        return NULL;
    }
    self->snap = s;
    self->busy = 0;
    self->close_pending = 0;
    return (PyObject *)self;
}

static PyObject *module_snapshot(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"collect", NULL};
    int collect = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:snapshot", keywords, &collect))
        return NULL;
    rs_snapshot *s = rs_snapshot_take(collect, NULL, NULL);
    return s ? rs_snapshot_wrap(s) : NULL;
}

/* Test hooks: the bounded repr itself, and the work counters that tests
 * compare across heap sizes (they must not grow faster than the input). */
static PyObject *module_safe_repr(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj;
    Py_ssize_t max_len;
    if (!PyArg_ParseTuple(args, "On:_safe_repr", &obj, &max_len))
        return NULL;
    return rs_safe_repr(obj, max_len);
}

static PyObject *module_work(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("{snsnsnsn}", "label_items", (Py_ssize_t)rs_label_work(), "repr_items",
                         (Py_ssize_t)rs_repr_work(), "site_lookups", (Py_ssize_t)rs_report_site_lookups(),
                         "dump_probes", (Py_ssize_t)rs_dump_write_work());
}

static PyMethodDef module_methods[] = {
    {"snapshot", (PyCFunction)(void (*)(void))module_snapshot, METH_VARARGS | METH_KEYWORDS,
     "snapshot(collect=False) -> Snapshot of the whole heap; collect=True runs gc.collect() first."},
    RS_TRIGGER_METHODS
    RS_BROWSER_METHODS
    RS_ANALYSIS_MODULE_METHODS
    {"_safe_repr", module_safe_repr, METH_VARARGS, "Test hook: the bounded repr refscope shows, max_len characters."},
    {"_work", module_work, METH_NOARGS, "Test hook: {'label_items', 'repr_items', 'site_lookups'} done so far."},
    RS_DUMP_MODULE_METHODS
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "refscope._refscope",
    .m_doc = "refscope: find memory leaks in a running Python program (C core).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__refscope(void)
{
    rs_path_type.tp_base = &PyList_Type;
    if (PyType_Ready(&rs_snapshot_type) < 0 || PyType_Ready(&rs_path_type) < 0 || PyType_Ready(&rs_cycle_type) < 0 ||
        PyType_Ready(&rs_dumpfile_type) < 0 || rs_py_init() < 0)
        return NULL;
    rs_internal_types[0] = &rs_snapshot_type;
    rs_internal_types[1] = &rs_path_type;
    rs_internal_types[2] = &rs_cycle_type;
    rs_internal_types[3] = &rs_dumpfile_type;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (rs_error == NULL)
        rs_error = PyErr_NewExceptionWithDoc("refscope.Error",
                                             "Every refscope failure the user can cause; the message says what to do.",
                                             NULL, NULL);
    if (rs_error == NULL || PyModule_AddObjectRef(m, "Error", rs_error) < 0 ||
        PyModule_AddObjectRef(m, "Snapshot", (PyObject *)&rs_snapshot_type) < 0 ||
        PyModule_AddObjectRef(m, "Path", (PyObject *)&rs_path_type) < 0 ||
        PyModule_AddObjectRef(m, "Cycle", (PyObject *)&rs_cycle_type) < 0 ||
        PyModule_AddObjectRef(m, "DumpFile", (PyObject *)&rs_dumpfile_type) < 0 ||
        PyModule_AddStringConstant(m, "__version__", REFSCOPE_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

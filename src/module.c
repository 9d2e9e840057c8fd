/*
 * The Python module `refscope._refscope` (re-exported by the `refscope`
 * package): the Snapshot, Path and StoredObject types, snapshot(), and
 * refscope.Error.  A Snapshot is live (objects) or loaded from a heap dump
 * (StoredObjects: rs_node_value() hands out the one or the other).  The
 * only file that builds Python types.  Every user mistake (an object
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
#include "suspects.h"
#include "module_dump.h"
#include "node.h"
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

/* --- StoredObject ------------------------------------------------------------ */

/* An object of a heap dump as the dump stored it.  Values copied at
 * creation, so it stays readable after its snapshot is closed. */
typedef struct {
    PyObject_HEAD
    PyObject *owner; /* the Snapshot it came from (strong): identity */
    unsigned int index;
    unsigned long long address;
    unsigned long long size;
    unsigned int refcount;
    int unexplained;
    unsigned int flags;
    PyObject *type_name;   /* str */
    PyObject *stored_repr; /* str, or None when the dump stored none */
} stored_object;

static void stored_object_dealloc(PyObject *self)
{
    stored_object *o = (stored_object *)self;
    Py_CLEAR(o->owner);
    Py_CLEAR(o->type_name);
    Py_CLEAR(o->stored_repr);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *stored_object_repr_text(PyObject *self, void *Py_UNUSED(closure))
{
    stored_object *o = (stored_object *)self;
    if (o->stored_repr != Py_None)
        return Py_NewRef(o->stored_repr);
    return PyUnicode_FromFormat("<%U object at %p>", o->type_name, (void *)(uintptr_t)o->address);
}

static PyObject *stored_object_repr(PyObject *self)
{
    stored_object *o = (stored_object *)self;
    PyObject *text = stored_object_repr_text(self, NULL);
    PyObject *r = text ? PyUnicode_FromFormat("<stored %U at %p: %U>", o->type_name, (void *)(uintptr_t)o->address, text) : NULL;
    Py_XDECREF(text);
    return r;
}

static PyObject *stored_object_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, &rs_stored_object_type))
        Py_RETURN_NOTIMPLEMENTED;
    stored_object *x = (stored_object *)a, *y = (stored_object *)b;
    bool same = x->owner == y->owner && x->index == y->index;
    return PyBool_FromLong(op == Py_EQ ? same : !same);
}

static Py_hash_t stored_object_hash(PyObject *self)
{
    stored_object *o = (stored_object *)self;
    Py_hash_t h = (Py_hash_t)((uintptr_t)o->owner >> 4) * 1000003 + (Py_hash_t)o->index;
    return h == -1 ? -2 : h;
}

static PyMemberDef stored_object_members[] = {
    {"index", T_UINT, offsetof(stored_object, index), READONLY, "The node's number in its dump."},
    {"address", T_ULONGLONG, offsetof(stored_object, address), READONLY, "id() of the object in the dumped process."},
    {"type", T_OBJECT, offsetof(stored_object, type_name), READONLY, "Its type's name, as census() names it."},
    {"size", T_ULONGLONG, offsetof(stored_object, size), READONLY, "sys.getsizeof() when the dump was taken."},
    {"refcount", T_UINT, offsetof(stored_object, refcount), READONLY,
     "Its reference count when the dump was taken, without the snapshot's own."},
    {"unexplained", T_INT, offsetof(stored_object, unexplained), READONLY,
     "References no stored object explains (held by C code or the interpreter)."},
    {"flags", T_UINT, offsetof(stored_object, flags), READONLY, "The node's flags (enum rs_node_flag)."},
    {NULL},
};

static PyGetSetDef stored_object_getset[] = {
    {"repr", stored_object_repr_text, NULL,
     "The stored repr (bounded), or <TYPE object at ADDRESS> when none was stored.", NULL},
    {NULL},
};

/* Not a GC type, like Snapshot: it holds only its Snapshot and two str. */
PyTypeObject rs_stored_object_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "refscope.StoredObject",
    .tp_basicsize = sizeof(stored_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "An object of a heap dump as the dump stored it: .type, .size, .repr, .address, .refcount, "
              ".unexplained, .index.  refscope.load() snapshots hand these out in place of live objects.",
    .tp_dealloc = stored_object_dealloc,
    .tp_repr = stored_object_repr,
    .tp_richcompare = stored_object_richcompare,
    .tp_hash = stored_object_hash,
    .tp_members = stored_object_members,
    .tp_getset = stored_object_getset,
};

static PyObject *stored_object_new(rs_dump *d, rs_idx n)
{
    if (d->owner == NULL) { /* a dump only the browser opened: no Python API over it */
        PyErr_SetString(rs_error, "this dump is open in the browser only; load it with refscope.load(FILE)");
        return NULL;
    }
    const rs_dump_node *x = &d->nodes[n];
    PyObject *type_name = PyUnicode_FromString(d->snap->types[x->type_id].name);
    PyObject *repr = type_name == NULL ? NULL
                     : x->repr == RS_DUMP_NO_STRING ? Py_NewRef(Py_None)
                                                    : rs_dump_string(d, x->repr);
    stored_object *o = repr ? PyObject_New(stored_object, &rs_stored_object_type) : NULL;
    if (o == NULL) {
        Py_XDECREF(type_name);
        Py_XDECREF(repr);
        return NULL;
    }
    o->owner = Py_NewRef(d->owner);
    o->index = n;
    o->address = x->address;
    o->size = rs_dump_node_size(d, n);
    o->refcount = x->refcount;
    /* Worked out from the graph, as the writer's snapshot did (version 1
     * stored it; version 2 does not, as the file says it already). */
    o->unexplained = (x->flags & RS_NODE_INTERNAL) ? 0 : (int32_t)rs_snapshot_unexplained(d->snap, n);
    o->flags = x->flags;
    o->type_name = type_name;
    o->stored_repr = repr;
    return (PyObject *)o;
}

PyObject *rs_node_value(rs_snapshot *s, rs_idx n)
{
    if (rs_snapshot_is_stored(s))
        return stored_object_new(s->stored, n);
    return Py_NewRef(rs_snapshot_object(s, n));
}

int rs_snapshot_need_live(rs_snapshot *s, const char *what)
{
    if (!rs_snapshot_is_stored(s))
        return 0;
    char origin[160];
    PyErr_Format(rs_error, "%s needs the live process, and this snapshot is a %s; run it there", what,
                 rs_snapshot_origin(s, origin, sizeof origin));
    return -1;
}

/* The node of obj on stored snapshot s: one of its StoredObjects or a
 * node index; RS_NONE, with refscope.Error set when report. */
static rs_idx stored_node_of(rs_snapshot *s, PyObject *obj, bool report)
{
    rs_dump *d = s->stored;
    if (PyObject_TypeCheck(obj, &rs_stored_object_type)) {
        stored_object *o = (stored_object *)obj;
        if (((rs_snapshot_pyobject *)o->owner)->snap == s)
            return o->index;
        if (report)
            PyErr_SetString(rs_error, "that stored object belongs to another snapshot; look it up in this one "
                                      "with node(obj.address)");
        return RS_NONE;
    }
    if (PyLong_Check(obj) && !PyBool_Check(obj)) {
        Py_ssize_t i = PyLong_AsSsize_t(obj);
        if (i == -1 && PyErr_Occurred())
            PyErr_Clear();
        else if (i >= 0 && (uint64_t)i < d->header->node_count && !(d->nodes[i].flags & RS_NODE_INTERNAL))
            return (rs_idx)i;
        if (report)
            PyErr_Format(rs_error, "no stored object number %R in this dump", obj);
        return RS_NONE;
    }
    if (report)
        PyErr_Format(rs_error, "this snapshot is a heap dump: give a stored object of it (from objects(), "
                               "instances(), node(address)) or its index, not %s",
                     Py_TYPE(obj)->tp_name);
    return RS_NONE;
}

/* --- Snapshot -------------------------------------------------------------- */

static PyObject *closed_error(const rs_snapshot_pyobject *so)
{
    PyErr_SetString(rs_error, so->loaded ? "this dump is closed; open it again with refscope.load(FILE)"
                                         : "this snapshot is closed; take a new one with refscope.snapshot()");
    return NULL;
}

rs_snapshot *rs_snapshot_of(PyObject *self)
{
    rs_snapshot_pyobject *so = (rs_snapshot_pyobject *)self;
    if (so->snap == NULL || so->close_pending) {
        closed_error(so);
        return NULL;
    }
    return so->snap;
}

/* Drops the snapshot's references now; keeps a pending exception. */
static void release(rs_snapshot_pyobject *so)
{
    rs_snapshot *s = so->snap;
    rs_dump *d = so->dump;
    so->snap = NULL;
    so->dump = NULL;
    so->close_pending = 0;
    if (s == NULL)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    so->snap = s;
    rs_cycles_fill_before_release(so);
    so->snap = NULL;
    if (d != NULL)
        rs_dump_close(d); /* frees s */
    else
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
    if (rs_snapshot_is_stored(s))
        return stored_node_of(s, obj, true);
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
    char origin[160];
    if (rs_snapshot_is_stored(s))
        return PyUnicode_FromFormat("<refscope.Snapshot of %s: %zu objects, %zu edges>",
                                    rs_snapshot_origin(s, origin, sizeof origin), s->visible_count,
                                    rs_graph_edge_count(s->graph));
    return PyUnicode_FromFormat("<refscope.Snapshot %zu objects, %zu edges>", s->visible_count,
                                rs_graph_edge_count(s->graph));
}

static PyObject *snapshot_census(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL || rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    size_t count;
    rs_census_row *rows = rs_suspect_census(s, &count);
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
        int64_t known = rs_snapshot_type_index(s, (PyTypeObject *)arg);
        if (known >= 0)
            return known;
        /* Named as the census names it: module.QualName, builtins bare. */
        PyObject *qualname = PyType_GetQualName((PyTypeObject *)arg);
        PyObject *module = qualname ? PyObject_GetAttrString(arg, "__module__") : NULL;
        if (qualname != NULL && module == NULL)
            PyErr_Clear();
        if (qualname == NULL)
            return -1;
        bool builtin = module == NULL || !PyUnicode_Check(module) ||
                       PyUnicode_CompareWithASCIIString(module, "builtins") == 0;
        if (rs_snapshot_is_stored(s)) { /* a dump knows its types by name */
            PyObject *name = builtin ? Py_NewRef(qualname) : PyUnicode_FromFormat("%U.%U", module, qualname);
            const char *text = name ? PyUnicode_AsUTF8(name) : NULL;
            int64_t t = text ? rs_snapshot_type_lookup(s, text) : -1;
            Py_XDECREF(name);
            if (t >= 0) {
                Py_XDECREF(module);
                Py_DECREF(qualname);
                return t;
            }
            PyErr_Clear();
        }
        if (!builtin)
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

PyObject *rs_node_list(rs_snapshot *s, const rs_idx *nodes, size_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *value = rs_node_value(s, nodes[i]);
        if (value == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, value);
    }
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
    PyObject *list = rs_node_list(s, nodes, count);
    rs_free(nodes);
    return list;
}

PyObject *rs_value_pair(rs_snapshot *s, rs_idx n, PyObject *second)
{
    PyObject *value = rs_node_value(s, n);
    PyObject *pair = value ? PyTuple_Pack(2, value, second) : NULL;
    Py_XDECREF(value);
    return pair;
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
    uint8_t *alive = forward ? PyMem_Calloc(count ? count : 1, 1) : NULL;
    if (forward && (alive == NULL || (!rs_snapshot_is_stored(s) && rs_snapshot_own_alive(s, n, alive) < 0))) {
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
        PyObject *pair = label ? rs_value_pair(s, nodes[i], label) : NULL;
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
        PyObject *step = label ? rs_value_pair(s, nodes[i], label) : NULL;
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

/* true when obj is in s: a live object, or a stored object or index of a
 * dump (a live object's address means nothing in a dump). */
static bool snapshot_has(rs_snapshot *s, PyObject *obj)
{
    if (rs_snapshot_is_stored(s))
        return stored_node_of(s, obj, false) != RS_NONE;
    return rs_snapshot_find(s, obj) != RS_NONE;
}

static PyObject *snapshot_contains_method(PyObject *self, PyObject *obj)
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    return PyBool_FromLong(snapshot_has(s, obj));
}

static int snapshot_contains(PyObject *self, PyObject *obj)
{
    rs_snapshot *s = rs_snapshot_of(self);
    return s ? snapshot_has(s, obj) : -1;
}

/* The object (stored object on a dump) that had address, or None. */
static PyObject *snapshot_node(PyObject *self, PyObject *address)
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    unsigned long long addr = PyLong_AsUnsignedLongLong(address);
    if (addr == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    rs_idx n = rs_graph_find(s->graph, (uintptr_t)addr);
    if (n == RS_NONE || (rs_graph_flags(s->graph, n) & RS_NODE_INTERNAL))
        Py_RETURN_NONE;
    return rs_node_value(s, n);
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
        if (rs_append_steal(list, rs_node_value(s, (rs_idx)i)) < 0)
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
RS_GUARDED_O(snapshot_node)
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
    {"node", snapshot_node_guarded, METH_O,
     "node(address): the object that had that id() (a stored object on a dump), or None."},
    RS_ANALYSIS_SNAPSHOT_METHODS
    RS_DUMP_SNAPSHOT_METHODS
    {NULL},
};

static PyGetSetDef snapshot_getset[] = {
    {"edge_count", snapshot_edge_count, NULL, "Number of edges (references between objects).", NULL},
    {"seconds", snapshot_seconds, NULL, "Time taken to build the snapshot.", NULL},
    {"info", rs_snapshot_info, NULL,
     "A loaded dump's header as a dict (pid, time, python_version, memory figures, counts); None when live.",
     NULL},
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
    self->dump = NULL;
    self->loaded = 0;
    self->unfilled_cycles = NULL;
    return (PyObject *)self;
}

PyObject *rs_snapshot_wrap_dump(rs_dump *d)
{
    rs_snapshot_pyobject *self = PyObject_New(rs_snapshot_pyobject, &rs_snapshot_type);
    if (self == NULL) {
        rs_dump_close(d);
        return NULL;
    }
    self->snap = d->snap;
    self->busy = 0;
    self->close_pending = 0;
    self->dump = d;
    self->loaded = 1;
    self->unfilled_cycles = NULL;
    d->owner = (PyObject *)self;
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
    return Py_BuildValue("{snsnsnsnsn}", "label_items", (Py_ssize_t)rs_label_work(), "repr_items",
                         (Py_ssize_t)rs_repr_work(), "site_lookups", (Py_ssize_t)rs_report_site_lookups(),
                         "dump_probes", (Py_ssize_t)rs_dump_write_work(), "kept_bytes",
                         (Py_ssize_t)rs_alloc_kept_bytes());
}

/* Test hook: no test can allocate an object past 4 GiB, so the sizes that
 * need 64 bits (kept apart in the graph and in a dump) are set this way. */
static PyObject *module_set_size(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *snap, *obj;
    unsigned long long size;
    if (!PyArg_ParseTuple(args, "O!OK:_set_size", &rs_snapshot_type, &snap, &obj, &size))
        return NULL;
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(snap, obj, &n);
    if (s == NULL)
        return NULL;
    uint64_t old = rs_graph_size(s->graph, n);
    if (rs_graph_set_size(s->graph, n, size) < 0)
        return PyErr_NoMemory();
    if (!(rs_graph_flags(s->graph, n) & RS_NODE_INTERNAL))
        s->visible_bytes += size - old;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"snapshot", (PyCFunction)(void (*)(void))module_snapshot, METH_VARARGS | METH_KEYWORDS,
     "snapshot(collect=False) -> Snapshot of the whole heap; collect=True runs gc.collect() first."},
    RS_TRIGGER_METHODS
    RS_BROWSER_METHODS
    RS_ANALYSIS_MODULE_METHODS
    {"_safe_repr", module_safe_repr, METH_VARARGS, "Test hook: the bounded repr refscope shows, max_len characters."},
    {"_work", module_work, METH_NOARGS,
     "Test hook: work done so far (label_items, repr_items, site_lookups, dump_probes) and kept_bytes."},
    {"_set_size", module_set_size, METH_VARARGS,
     "Test hook: _set_size(snapshot, obj, size) sets the size the snapshot recorded for obj."},
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
        PyType_Ready(&rs_stored_object_type) < 0 || rs_py_init() < 0)
        return NULL;
    rs_internal_types[0] = &rs_snapshot_type;
    rs_internal_types[1] = &rs_path_type;
    rs_internal_types[2] = &rs_cycle_type;
    rs_internal_types[3] = &rs_stored_object_type;
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
        PyModule_AddObjectRef(m, "StoredObject", (PyObject *)&rs_stored_object_type) < 0 ||
        PyModule_AddStringConstant(m, "__version__", REFSCOPE_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

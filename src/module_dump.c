/*
 * The Python face of heap dumps: Snapshot.save(), refscope.dump(), and the
 * slots of refscope._refscope.DumpFile, an opened dump answered by node
 * index (module.c owns the type; the `refscope` package's dump.py turns
 * indexes into stored objects).  The analyses are the live snapshot's
 * graph-only ones (census, paths, cycles, garbage, retained sizes) run
 * over the graph rebuilt from the file; labels, reprs, frames and closures
 * are read as stored.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "analysis.h"
#include "dump.h"
#include "module_analysis.h"
#include "module_dump.h"
#include "refscope/dom.h"

/* --- writing -------------------------------------------------------------- */

/* The path argument as a C string in *bytes (a new bytes object). */
static const char *path_arg(PyObject *path, PyObject **bytes)
{
    if (!PyUnicode_FSConverter(path, bytes))
        return NULL;
    return PyBytes_AS_STRING(*bytes);
}

static PyObject *save_to(rs_snapshot *s, PyObject *path)
{
    PyObject *bytes = NULL;
    const char *name = path_arg(path, &bytes);
    int r = name ? rs_dump_write(s, name) : -1;
    Py_XDECREF(bytes);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *rs_snapshot_save(PyObject *self, PyObject *path)
{
    rs_snapshot *s = rs_snapshot_of(self);
    return s ? save_to(s, path) : NULL;
}

PyObject *rs_module_dump(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path", "collect", NULL};
    PyObject *path;
    int collect = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:dump", keywords, &path, &collect))
        return NULL;
    rs_snapshot *s = rs_snapshot_take(collect, NULL, NULL);
    if (s == NULL)
        return NULL;
    PyObject *r = save_to(s, path);
    rs_snapshot_free(s);
    return r;
}

/* --- DumpFile: an opened dump ---------------------------------------------- */

static rs_dump *dump_of(PyObject *self)
{
    rs_dump *d = ((rs_dumpfile_pyobject *)self)->dump;
    if (d == NULL)
        PyErr_SetString(rs_error, "this dump is closed; open it again with refscope.load(FILE)");
    return d;
}

rs_snapshot *rs_dumpfile_snapshot(PyObject *self)
{
    rs_dump *d = dump_of(self);
    return d ? d->snap : NULL;
}

/* The node argument (an index), checked; RS_NONE with an error set. */
static rs_idx node_arg(rs_dump *d, PyObject *arg)
{
    Py_ssize_t i = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (i == -1 && PyErr_Occurred())
        return RS_NONE;
    if (i < 0 || (uint64_t)i >= d->header->node_count || (d->nodes[i].flags & RS_NODE_INTERNAL)) {
        PyErr_Format(rs_error, "no stored object number %zd in this dump", i);
        return RS_NONE;
    }
    return (rs_idx)i;
}

PyObject *rs_dumpfile_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path", NULL};
    PyObject *path;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:DumpFile", keywords, &path))
        return NULL;
    PyObject *bytes = NULL;
    const char *name = path_arg(path, &bytes);
    rs_dump *d = name ? rs_dump_open(name) : NULL;
    Py_XDECREF(bytes);
    if (d == NULL)
        return NULL;
    rs_dumpfile_pyobject *self = (rs_dumpfile_pyobject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        rs_dump_close(d);
        return NULL;
    }
    self->dump = d;
    return (PyObject *)self;
}

void rs_dumpfile_dealloc(PyObject *self)
{
    rs_dump_close(((rs_dumpfile_pyobject *)self)->dump);
    ((rs_dumpfile_pyobject *)self)->dump = NULL;
    Py_TYPE(self)->tp_free(self);
}

static PyObject *dumpfile_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump_close(((rs_dumpfile_pyobject *)self)->dump);
    ((rs_dumpfile_pyobject *)self)->dump = NULL;
    Py_RETURN_NONE;
}

static PyObject *dumpfile_info(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    const rs_dump_header *h = d->header;
    char version[sizeof h->python_version + 1];
    memcpy(version, h->python_version, sizeof h->python_version);
    version[sizeof h->python_version] = '\0';
    PyObject *arenas = h->have_arenas ? Py_BuildValue("{sKsKsKsKsK}", "bytes", (unsigned long long)h->arena_bytes,
                                                      "count", (unsigned long long)h->arena_count, "used",
                                                      (unsigned long long)h->arena_used, "free",
                                                      (unsigned long long)h->arena_free, "overhead",
                                                      (unsigned long long)h->arena_overhead)
                                      : Py_NewRef(Py_None);
    if (arenas == NULL)
        return NULL;
    PyObject *info = Py_BuildValue(
        "{sIsKsLsssKsKsKsKsdsdsKsKsOsOsK}", "format_version", (unsigned)h->version, "pid", (unsigned long long)h->pid,
        "time", (long long)h->time, "python_version", version, "objects", (unsigned long long)h->visible_count,
        "nodes", (unsigned long long)h->node_count, "edges", (unsigned long long)h->edge_count, "strings",
        (unsigned long long)h->string_count, "snapshot_seconds", h->snapshot_seconds, "write_seconds",
        h->write_seconds, "memory_objects", (unsigned long long)h->memory_objects, "rss",
        (unsigned long long)h->memory_rss, "arenas", arenas, "tracemalloc", h->tracemalloc ? Py_True : Py_False,
        "file_size", (unsigned long long)d->map_len);
    Py_DECREF(arenas);
    return info;
}

static Py_ssize_t dumpfile_len(PyObject *self)
{
    rs_dump *d = dump_of(self);
    return d ? (Py_ssize_t)d->header->visible_count : -1;
}

/* (address, type_name, size, refcount, unexplained, flags, repr or None) */
static PyObject *dumpfile_node(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    if (n == RS_NONE)
        return NULL;
    const rs_dump_node *x = &d->nodes[n];
    PyObject *repr = x->repr == RS_DUMP_NO_STRING ? Py_NewRef(Py_None) : rs_dump_string(d, x->repr);
    if (repr == NULL)
        return NULL;
    PyObject *t = Py_BuildValue("(KsKIiIN)", (unsigned long long)x->address, d->snap->types[x->type_id].name,
                                (unsigned long long)x->size, (unsigned)x->refcount, (int)x->unexplained,
                                (unsigned)x->flags, repr);
    return t;
}

static PyObject *dumpfile_find(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    unsigned long long addr = PyLong_AsUnsignedLongLong(arg);
    if (addr == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    rs_idx n = rs_graph_find(d->snap->graph, (uintptr_t)addr);
    if (n == RS_NONE || (d->nodes[n].flags & RS_NODE_INTERNAL))
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(n);
}

/* The edge number of the first edge from -> to (the one a path follows). */
static uint32_t first_edge(rs_dump *d, rs_idx from, rs_idx to)
{
    uint32_t end = from + 1 < d->header->node_count ? d->nodes[from + 1].edge_start : (uint32_t)d->header->edge_count;
    for (uint32_t e = d->nodes[from].edge_start; e < end; e++)
        if (d->targets[e] == to)
            return e;
    return end; /* not reached: paths follow edges */
}

static PyObject *dumpfile_referents(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    if (n == RS_NONE)
        return NULL;
    PyObject *list = PyList_New(0);
    uint32_t end = n + 1 < d->header->node_count ? d->nodes[n + 1].edge_start : (uint32_t)d->header->edge_count;
    for (uint32_t e = d->nodes[n].edge_start; list != NULL && e < end; e++) {
        if (d->nodes[d->targets[e]].flags & RS_NODE_INTERNAL)
            continue;
        if (rs_append_steal(list, Py_BuildValue("(IN)", (unsigned)d->targets[e], rs_dump_edge_label(d, e))) < 0)
            Py_CLEAR(list);
    }
    return list;
}

static PyObject *dumpfile_referrers(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    if (n == RS_NONE)
        return NULL;
    size_t count;
    const rs_idx *sources = rs_graph_referrers(d->snap->graph, n, &count);
    PyObject *list = PyList_New(0);
    for (size_t j = 0; list != NULL && j < count; j++) {
        rs_idx src = sources[j];
        /* The occurrence-th edge src -> n, as label.c numbers repeated edges. */
        size_t occurrence = 0;
        for (size_t i = j; i > 0 && sources[i - 1] == src; i--)
            occurrence++;
        if (d->nodes[src].flags & RS_NODE_INTERNAL)
            continue;
        uint32_t e = first_edge(d, src, n);
        for (size_t seen = 0; seen < occurrence; e++)
            seen += d->targets[e + 1] == n;
        if (rs_append_steal(list, Py_BuildValue("(IN)", (unsigned)src, rs_dump_edge_label(d, e))) < 0)
            Py_CLEAR(list);
    }
    return list;
}

/* ([(node, label)], expression) or None when no root reaches the node. */
static PyObject *dumpfile_path(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    if (n == RS_NONE)
        return NULL;
    rs_idx *nodes;
    size_t len;
    const rs_root *root;
    int r = rs_path_find(d->snap, n, &nodes, &len, &root);
    if (r <= 0)
        return r == 0 ? Py_NewRef(Py_None) : NULL;
    size_t root_count;
    const rs_root *roots = rs_graph_roots(d->snap->graph, &root_count);
    PyObject *steps = PyList_New((Py_ssize_t)len), *labels = PyList_New((Py_ssize_t)len), *result = NULL;
    for (size_t i = 0; steps != NULL && labels != NULL && i < len; i++) {
        PyObject *label = i > 0 ? rs_dump_edge_label(d, first_edge(d, nodes[i - 1], nodes[i]))
                          : root ? rs_dump_string(d, d->roots[root - roots].label)
                                 : PyUnicode_FromString("");
        PyObject *step = label ? Py_BuildValue("(IO)", (unsigned)nodes[i], label) : NULL;
        if (step == NULL) {
            Py_XDECREF(label);
            goto done;
        }
        PyList_SET_ITEM(labels, (Py_ssize_t)i, label);
        PyList_SET_ITEM(steps, (Py_ssize_t)i, step);
    }
    if (steps != NULL && labels != NULL) {
        PyObject *expression = rs_path_join(labels);
        result = expression ? Py_BuildValue("(ON)", steps, expression) : NULL;
    }
done:
    Py_XDECREF(steps);
    Py_XDECREF(labels);
    rs_free(nodes);
    return result;
}

/* (type_name, count, size, retained), as census() and retained_by_type() give them. */
static PyObject *type_row(rs_dump *d, uint32_t type_id, size_t count, uint64_t size, uint64_t retained)
{
    return Py_BuildValue("(sKKK)", d->snap->types[type_id].name, (unsigned long long)count, (unsigned long long)size,
                         (unsigned long long)retained);
}

static PyObject *dumpfile_census(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL || rs_analysis_ensure_dominators(d->snap) < 0)
        return NULL;
    size_t count;
    rs_census_row *rows = rs_census(d->snap, &count);
    if (rows == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++)
        if (rs_append_steal(list, type_row(d, rows[i].type_id, rows[i].count, rows[i].size, rows[i].retained)) < 0)
            Py_CLEAR(list);
    rs_free(rows);
    return list;
}

static PyObject *index_list(const rs_idx *nodes, size_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *x = PyLong_FromUnsignedLong(nodes[i]);
        if (x == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, x);
    }
    return list;
}

/* The type id of a type name, or -1 with refscope.Error set. */
static int64_t type_arg(rs_dump *d, PyObject *arg)
{
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (name == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "expected a type name such as 'dict' or 'app.Node', not %s",
                         Py_TYPE(arg)->tp_name);
        return -1;
    }
    int64_t t = rs_snapshot_type_lookup(d->snap, name);
    if (t == -2)
        PyErr_Format(rs_error, "type name '%s' is ambiguous here; give it with its module, e.g. 'app.%s'", name, name);
    else if (t < 0)
        PyErr_Format(rs_error, "no objects of type '%s' in this dump; census() lists the types present", name);
    return t < 0 ? -1 : t;
}

static PyObject *dumpfile_instances(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    int64_t t = d ? type_arg(d, arg) : -1;
    if (t < 0)
        return NULL;
    size_t count;
    rs_idx *nodes = rs_census_instances(d->snap, (uint32_t)t, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = index_list(nodes, count);
    rs_free(nodes);
    return list;
}

static PyObject *dumpfile_objects(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (uint64_t i = 0; list != NULL && i < d->header->node_count; i++)
        if (!(d->nodes[i].flags & RS_NODE_INTERNAL) && rs_append_steal(list, PyLong_FromUnsignedLongLong(i)) < 0)
            Py_CLEAR(list);
    return list;
}

/* [(members, size, retained, garbage)], biggest retained first. */
static PyObject *dumpfile_cycles(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    size_t count;
    rs_cycle *cycles = rs_cycles(d->snap, &count);
    if (cycles == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *members = index_list(cycles[i].members, cycles[i].member_count);
        PyObject *t = members ? Py_BuildValue("(NKKO)", members, (unsigned long long)cycles[i].size,
                                              (unsigned long long)cycles[i].retained,
                                              cycles[i].garbage ? Py_True : Py_False)
                              : NULL;
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_free(cycles);
    return list;
}

/* [(node, kind)] */
static PyObject *dumpfile_garbage(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    size_t count;
    rs_garbage_entry *entries = rs_garbage(d->snap, &count);
    if (entries == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++)
        if (rs_append_steal(list, Py_BuildValue("(Is)", (unsigned)entries[i].node,
                                             rs_garbage_kind_name(entries[i].kind))) < 0)
            Py_CLEAR(list);
    rs_free(entries);
    return list;
}

/* [(function, name, value, retained)], biggest retained first. */
static PyObject *dumpfile_closures(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL || rs_analysis_ensure_dominators(d->snap) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < d->closure_count; i++) {
        const rs_dump_closure *c = &d->closures[i];
        if (rs_append_steal(list, Py_BuildValue("(INIK)", (unsigned)c->function, rs_dump_string(d, c->name),
                                             (unsigned)c->value,
                                             (unsigned long long)rs_dom_retained(d->snap->dom, c->value))) < 0)
            Py_CLEAR(list);
    }
    return list;
}

/* [(thread_name, ident or None, [(function, "file:line", [(name, node, size, retained)])])] */
static PyObject *dumpfile_frames(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL || rs_analysis_ensure_dominators(d->snap) < 0)
        return NULL;
    PyObject *threads = PyList_New(0);
    for (size_t t = 0; threads != NULL && t < d->thread_count; t++) {
        const rs_dump_thread *th = &d->threads[t];
        PyObject *frames = PyList_New(0);
        for (uint32_t f = th->first_frame; frames != NULL && f < th->first_frame + th->frame_count; f++) {
            const rs_dump_frame *fr = &d->frames[f];
            PyObject *locals = PyList_New(0);
            for (uint32_t k = fr->first_local; locals != NULL && k < fr->first_local + fr->local_count; k++) {
                rs_idx v = d->locals[k].value;
                if (rs_append_steal(locals, Py_BuildValue("(NIKK)", rs_dump_string(d, d->locals[k].name), (unsigned)v,
                                                       (unsigned long long)d->nodes[v].size,
                                                       (unsigned long long)rs_dom_retained(d->snap->dom, v))) < 0)
                    Py_CLEAR(locals);
            }
            PyObject *ft = locals ? Py_BuildValue("(NNN)", rs_dump_string(d, fr->function), rs_dump_string(d, fr->where),
                                                  locals)
                                  : NULL;
            if (rs_append_steal(frames, ft) < 0)
                Py_CLEAR(frames);
        }
        PyObject *ident = th->has_ident ? PyLong_FromUnsignedLongLong(th->ident) : Py_NewRef(Py_None);
        PyObject *entry = frames && ident ? Py_BuildValue("(NOO)", rs_dump_string(d, th->name), ident, frames) : NULL;
        Py_XDECREF(ident);
        Py_XDECREF(frames);
        if (rs_append_steal(threads, entry) < 0)
            Py_CLEAR(threads);
    }
    return threads;
}

static PyObject *dumpfile_retained_size(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    uint64_t size;
    if (n == RS_NONE || rs_retained_size(d->snap, n, &size) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(size);
}

static PyObject *dumpfile_retained(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    if (n == RS_NONE)
        return NULL;
    size_t count;
    rs_idx *nodes = rs_retained_set(d->snap, n, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = index_list(nodes, count);
    rs_free(nodes);
    return list;
}

static PyObject *dumpfile_largest(PyObject *self, PyObject *args)
{
    PyObject *type_arg_obj;
    Py_ssize_t n = 10;
    if (!PyArg_ParseTuple(args, "O|n:largest", &type_arg_obj, &n))
        return NULL;
    rs_dump *d = dump_of(self);
    int64_t t = d ? type_arg(d, type_arg_obj) : -1;
    if (t < 0)
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "largest(): n must be 0 or more");
        return NULL;
    }
    size_t count;
    rs_idx *nodes = rs_largest(d->snap, (uint32_t)t, (size_t)n, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++)
        if (rs_append_steal(list, Py_BuildValue("(IK)", (unsigned)nodes[i], (unsigned long long)d->nodes[nodes[i]].size)) <
            0)
            Py_CLEAR(list);
    rs_free(nodes);
    return list;
}

/* The stored allocation traceback ("file:line" lines) or None. */
static PyObject *dumpfile_allocated_at(PyObject *self, PyObject *arg)
{
    rs_dump *d = dump_of(self);
    rs_idx n = d ? node_arg(d, arg) : RS_NONE;
    if (n == RS_NONE)
        return NULL;
    uint32_t id = rs_dump_allocation_of(d, n);
    if (id != RS_DUMP_NO_STRING)
        return rs_dump_string(d, id);
    Py_RETURN_NONE;
}

/* [(type_name, count, size, retained)] per type, as Snapshot.retained_by_type(). */
static PyObject *dumpfile_retained_by_type(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    size_t count;
    rs_type_retained *rows = rs_retained_by_type(d->snap, &count);
    if (rows == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++)
        if (rs_append_steal(list, type_row(d, rows[i].type_id, rows[i].count, rows[i].size, rows[i].retained)) < 0)
            Py_CLEAR(list);
    rs_free(rows);
    return list;
}

typedef struct subtree_counts {
    const rs_dom *dom;
    uint64_t *count;
} subtree_counts;

/* On leaving n (after everything it dominates), adds its count to its
 * immediate dominator's. */
static int count_subtree(void *ctx, rs_idx n, bool leaving)
{
    subtree_counts *c = ctx;
    if (!leaving) {
        c->count[n] = 1;
        return 0;
    }
    rs_idx up = rs_dom_idom(c->dom, n);
    if (up != RS_DOM_SUPER_ROOT && up != RS_NONE)
        c->count[up] += c->count[n];
    return 0;
}

/* (idom, retained, retained_count): per node, its immediate dominator (-1
 * for the roots' virtual super-root and for unreachable nodes), the bytes
 * and the number of objects it retains (0 when unreachable). */
static PyObject *dumpfile_dominators(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL || rs_analysis_ensure_dominators(d->snap) < 0)
        return NULL;
    size_t n = (size_t)d->header->node_count;
    subtree_counts c = {.dom = d->snap->dom, .count = rs_calloc(n ? n : 1, sizeof *c.count)};
    if (c.count == NULL)
        return PyErr_NoMemory();
    PyObject *idom = NULL, *retained = NULL, *count = NULL, *result = NULL;
    if (rs_dominator_walk(d->snap, RS_DOM_SUPER_ROOT, count_subtree, &c) < 0)
        goto done;
    idom = PyList_New((Py_ssize_t)n);
    retained = PyList_New((Py_ssize_t)n);
    count = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; idom != NULL && retained != NULL && count != NULL && i < n; i++) {
        rs_idx up = rs_dom_idom(c.dom, (rs_idx)i);
        PyObject *a = PyLong_FromLong(up == RS_DOM_SUPER_ROOT || up == RS_NONE ? -1L : (long)up);
        PyObject *b = PyLong_FromUnsignedLongLong(rs_dom_retained(c.dom, (rs_idx)i));
        PyObject *k = PyLong_FromUnsignedLongLong(c.count[i]);
        if (a == NULL || b == NULL || k == NULL) {
            Py_XDECREF(a);
            Py_XDECREF(b);
            Py_XDECREF(k);
            goto done;
        }
        PyList_SET_ITEM(idom, (Py_ssize_t)i, a);
        PyList_SET_ITEM(retained, (Py_ssize_t)i, b);
        PyList_SET_ITEM(count, (Py_ssize_t)i, k);
    }
    if (idom != NULL && retained != NULL && count != NULL)
        result = PyTuple_Pack(3, idom, retained, count);
done:
    Py_XDECREF(idom);
    Py_XDECREF(retained);
    Py_XDECREF(count);
    rs_free(c.count);
    return result;
}

/* (addresses, type_ids, flags, sizes, type_names): every node's columns as
 * lists, for whole-dump comparisons. */
static PyObject *dumpfile_columns(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_dump *d = dump_of(self);
    if (d == NULL)
        return NULL;
    size_t n = (size_t)d->header->node_count;
    PyObject *cols[4] = {PyList_New((Py_ssize_t)n), PyList_New((Py_ssize_t)n), PyList_New((Py_ssize_t)n),
                         PyList_New((Py_ssize_t)n)};
    PyObject *names = PyList_New((Py_ssize_t)d->snap->type_count), *result = NULL;
    bool ok = cols[0] && cols[1] && cols[2] && cols[3] && names;
    for (size_t i = 0; ok && i < n; i++) {
        const rs_dump_node *x = &d->nodes[i];
        PyObject *v[4] = {PyLong_FromUnsignedLongLong(x->address), PyLong_FromUnsignedLong(x->type_id),
                          PyLong_FromUnsignedLong(x->flags), PyLong_FromUnsignedLongLong(x->size)};
        for (int k = 0; k < 4; k++) {
            if (v[k] == NULL)
                ok = false;
            else
                PyList_SET_ITEM(cols[k], (Py_ssize_t)i, v[k]);
        }
    }
    for (uint32_t t = 0; ok && t < d->snap->type_count; t++) {
        PyObject *name = PyUnicode_FromString(d->snap->types[t].name);
        if (name == NULL)
            ok = false;
        else
            PyList_SET_ITEM(names, (Py_ssize_t)t, name);
    }
    if (ok)
        result = PyTuple_Pack(5, cols[0], cols[1], cols[2], cols[3], names);
    for (int k = 0; k < 4; k++)
        Py_XDECREF(cols[k]);
    Py_XDECREF(names);
    return result;
}

static PyObject *dumpfile_edge_count(PyObject *self, void *Py_UNUSED(closure))
{
    rs_dump *d = dump_of(self);
    return d ? PyLong_FromUnsignedLongLong(d->header->edge_count) : NULL;
}

/* report(format='text', top=10): report.c's leak-suspects report of the dump. */
static PyObject *dumpfile_report(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"format", "top", NULL};
    const char *format = "text";
    Py_ssize_t top = 10;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|sn:report", keywords, &format, &top))
        return NULL;
    rs_dump *d = dump_of(self);
    bool json;
    if (d == NULL || rs_report_check_args(format, top, &json) < 0)
        return NULL;
    return rs_report_render(d->snap, top, json);
}

PyMethodDef rs_dumpfile_methods[] = {
    {"report", (PyCFunction)(void (*)(void))dumpfile_report, METH_VARARGS | METH_KEYWORDS,
     "report(format='text', top=10): the leak-suspects report of the dump, as refscope.report() writes it."},
    {"close", dumpfile_close, METH_NOARGS, "Unmap the file."},
    {"info", dumpfile_info, METH_NOARGS, "The header: pid, time, python_version, memory figures, counts."},
    {"node", dumpfile_node, METH_O, "(address, type_name, size, refcount, unexplained, flags, repr or None)."},
    {"find", dumpfile_find, METH_O, "The node stored for an address, or None."},
    {"referents", dumpfile_referents, METH_O, "[(node, label)] the node held, in tp_traverse order."},
    {"referrers", dumpfile_referrers, METH_O, "[(node, label)] that held the node."},
    {"path", dumpfile_path, METH_O, "([(node, label)], expression) from a root, or None."},
    {"census", dumpfile_census, METH_NOARGS, "[(type_name, count, size, retained)], biggest size first."},
    {"instances", dumpfile_instances, METH_O, "The nodes of a type name."},
    {"objects", dumpfile_objects, METH_NOARGS, "Every visible node."},
    {"cycles", dumpfile_cycles, METH_NOARGS, "[(members, size, retained, garbage)], biggest retained first."},
    {"garbage", dumpfile_garbage, METH_NOARGS, "[(node, kind)]."},
    {"closures", dumpfile_closures, METH_NOARGS, "[(function, name, value, retained)]."},
    {"frames", dumpfile_frames, METH_NOARGS, "[(thread, ident, [(function, where, [(name, node, size, retained)])])]."},
    {"retained_size", dumpfile_retained_size, METH_O, "Bytes freed with the node."},
    {"retained", dumpfile_retained, METH_O, "The node and every node it dominates."},
    {"retained_by_type", dumpfile_retained_by_type, METH_NOARGS, "[(type_name, count, size, retained)]."},
    {"largest", dumpfile_largest, METH_VARARGS, "largest(type_name, n=10) -> [(node, size)]."},
    {"columns", dumpfile_columns, METH_NOARGS, "(addresses, type_ids, flags, sizes, type_names) of every node."},
    {"dominators", dumpfile_dominators, METH_NOARGS,
     "(idom, retained, retained_count) per node; idom -1 for the super-root or unreachable."},
    {"allocated_at", dumpfile_allocated_at, METH_O, "The stored allocation traceback text, or None."},
    {NULL},
};

PyGetSetDef rs_dumpfile_getset[] = {
    {"edge_count", dumpfile_edge_count, NULL, "Number of edges.", NULL},
    {NULL},
};

PySequenceMethods rs_dumpfile_as_sequence = {
    .sq_length = dumpfile_len,
};

PyObject *rs_module_dump_reseal(PyObject *Py_UNUSED(module), PyObject *path)
{
    PyObject *bytes = NULL;
    const char *name = path_arg(path, &bytes);
    int r = name ? rs_dump_reseal(name) : -1;
    Py_XDECREF(bytes);
    if (r < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(rs_error, "cannot reseal that file");
        return NULL;
    }
    Py_RETURN_NONE;
}

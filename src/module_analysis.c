/*
 * Python wrappers of the leak analyses: they turn the C results of
 * analysis.h into lists and tuples.  Argument mistakes become
 * refscope.Error (or TypeError/ValueError for a wrong kind of argument)
 * with a sentence saying what to do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "analysis.h"
#include "module_analysis.h"
#include "suspects.h"
#include "module_dump.h"
#include "node.h"
#include "pyinternal.h"
#include "refscope/dom.h"
#include "refscope/scc.h"

/* --- shared helpers ------------------------------------------------------------ */

PyObject *rs_allocation_traceback(PyObject *obj)
{
    PyObject *raw = rs_py_allocation_traceback(obj);
    if (raw == NULL || raw == Py_None)
        return raw;
    PyObject *tracemalloc = PyImport_ImportModule("tracemalloc");
    PyObject *tb = tracemalloc ? PyObject_CallMethod(tracemalloc, "Traceback", "(O)", raw) : NULL;
    Py_XDECREF(tracemalloc);
    Py_DECREF(raw);
    return tb;
}

PyObject *rs_allocation_traceback_text(PyObject *obj)
{
    PyObject *tb = rs_allocation_traceback(obj);
    if (tb == NULL || tb == Py_None) {
        Py_XDECREF(tb);
        return NULL;
    }
    PyObject *lines = PyObject_CallMethod(tb, "format", NULL);
    Py_DECREF(tb);
    PyObject *sep = lines ? PyUnicode_FromString("\n") : NULL;
    PyObject *text = sep ? PyUnicode_Join(sep, lines) : NULL;
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    return text;
}

PyObject *rs_allocation_site(PyObject *obj)
{
    PyObject *tb = rs_allocation_traceback(obj);
    if (tb == NULL || tb == Py_None)
        return tb;
    Py_ssize_t n = PySequence_Size(tb);
    PyObject *frame = n > 0 ? PySequence_GetItem(tb, n - 1) : NULL; /* most recent */
    Py_DECREF(tb);
    if (frame == NULL)
        return n < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *site = PyObject_Str(frame);
    Py_DECREF(frame);
    return site;
}


/* Appends a new reference to list, stealing it; -1 when item is NULL or
 * the append fails. */
int rs_append_steal(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* [(a, b, label)] for edges. */
static PyObject *edge_tuples(rs_snapshot *s, const rs_edge_ref *edges, size_t count)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *label = rs_label_referent(s, edges[i].from, edges[i].referent);
        PyObject *t = label ? Py_BuildValue("(NNO)", rs_node_value(s, edges[i].from),
                                            rs_node_value(s, edges[i].to), label)
                            : NULL;
        Py_XDECREF(label);
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    return list;
}

/* --- Cycle ------------------------------------------------------------------- */

PyMemberDef rs_cycle_members[] = {
    {"size", T_ULONGLONG, offsetof(rs_cycle_pyobject, size), READONLY, "Bytes of the cycle's own objects."},
    {"retained", T_ULONGLONG, offsetof(rs_cycle_pyobject, retained), READONLY,
     "Bytes freed if the whole cycle went away (what its members dominate)."},
    {"garbage", T_BOOL, offsetof(rs_cycle_pyobject, garbage), READONLY,
     "True when no root reaches the cycle: gc.collect() frees it."},
    {"count", T_PYSSIZET, offsetof(rs_cycle_pyobject, count), READONLY, "Number of objects."},
    {"number", T_UINT, offsetof(rs_cycle_pyobject, number), READONLY, "The cycle's number in its snapshot."},
    {NULL},
};

/* The snapshot of a Cycle and the cycle's C description. */
static rs_snapshot *cycle_snapshot(rs_cycle_pyobject *c, rs_cycle *out)
{
    rs_snapshot *s = rs_snapshot_of(c->snapshot);
    if (s == NULL || rs_analysis_ensure_scc(s) < 0 || rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    out->number = c->number;
    out->members = rs_scc_cycle_members(s->scc, c->number, &out->member_count);
    out->size = c->size;
    out->retained = c->retained;
    out->garbage = c->garbage;
    return s;
}

static PyObject *cycle_edges_of(PyObject *self, void *closure)
{
    rs_cycle_pyobject *c = (rs_cycle_pyobject *)self;
    bool ring = closure != NULL;
    PyObject **cache = ring ? &c->ring : &c->edges;
    if (*cache != NULL)
        return Py_NewRef(*cache);
    rs_cycle cy;
    rs_snapshot *s = cycle_snapshot(c, &cy);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_edge_ref *edges = ring ? rs_cycle_ring(s, &cy, &count) : rs_cycle_edges(s, &cy, &count);
    if (edges == NULL)
        return NULL;
    PyObject *list = edge_tuples(s, edges, count);
    rs_free(edges);
    Py_XSETREF(*cache, list); /* a label's __repr__ may have asked first */
    return Py_XNewRef(list);
}

/* Edges to break kept per Cycle: enough to choose from. */
#define BREAK_EDGES_KEPT 10

static PyObject *cycle_break_edges_of(PyObject *self, void *Py_UNUSED(closure))
{
    rs_cycle_pyobject *c = (rs_cycle_pyobject *)self;
    if (c->break_edges != NULL)
        return Py_NewRef(c->break_edges);
    rs_cycle cy;
    rs_snapshot *s = cycle_snapshot(c, &cy);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_break_edge *edges = rs_cycle_break_edges(s, &cy, BREAK_EDGES_KEPT, &count);
    if (edges == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        rs_break_edge *e = &edges[i];
        PyObject *t = Py_BuildValue("(NNOOK)", rs_node_value(s, e->edge.from), rs_node_value(s, e->edge.to),
                                    e->label, e->suggestion, (unsigned long long)e->freed);
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_break_edges_free(edges, count);
    Py_XSETREF(c->break_edges, list);
    return Py_XNewRef(list);
}

/* The getters label edges (Python code): the snapshot stays busy meanwhile. */
static PyObject *cycle_edges(PyObject *self, void *closure)
{
    PyObject *snapshot = ((rs_cycle_pyobject *)self)->snapshot;
    rs_snapshot_enter(snapshot);
    return rs_snapshot_leave(snapshot, cycle_edges_of(self, closure));
}

static PyObject *cycle_break_edges(PyObject *self, void *closure)
{
    PyObject *snapshot = ((rs_cycle_pyobject *)self)->snapshot;
    rs_snapshot_enter(snapshot);
    return rs_snapshot_leave(snapshot, cycle_break_edges_of(self, closure));
}

/* The cycle's objects as a new list, in node order; NULL with an
 * exception set when it cannot be built. */
static PyObject *member_list(rs_snapshot *s, uint32_t number)
{
    if (rs_analysis_ensure_scc(s) < 0)
        return NULL;
    size_t count;
    const rs_idx *members = rs_scc_cycle_members(s->scc, number, &count);
    return rs_node_list(s, members, count);
}

static void link_unfilled(rs_cycle_pyobject *c)
{
    rs_snapshot_pyobject *so = (rs_snapshot_pyobject *)c->snapshot;
    c->unfilled_next = so->unfilled_cycles;
    c->unfilled_prev = &so->unfilled_cycles;
    if (so->unfilled_cycles != NULL)
        so->unfilled_cycles->unfilled_prev = &c->unfilled_next;
    so->unfilled_cycles = c;
}

static void unlink_unfilled(rs_cycle_pyobject *c)
{
    if (c->unfilled_prev == NULL)
        return;
    *c->unfilled_prev = c->unfilled_next;
    if (c->unfilled_next != NULL)
        c->unfilled_next->unfilled_prev = c->unfilled_prev;
    c->unfilled_next = NULL;
    c->unfilled_prev = NULL;
}

void rs_cycles_fill_before_release(rs_snapshot_pyobject *so)
{
    while (so->unfilled_cycles != NULL) {
        rs_cycle_pyobject *c = so->unfilled_cycles;
        unlink_unfilled(c);
        c->objects = member_list(so->snap, c->number);
        PyErr_Clear();
    }
}

static PyObject *cycle_objects(PyObject *self, void *Py_UNUSED(closure))
{
    rs_cycle_pyobject *c = (rs_cycle_pyobject *)self;
    if (c->objects == NULL) {
        rs_snapshot *s = rs_snapshot_of(c->snapshot);
        PyObject *list = s ? member_list(s, c->number) : NULL;
        if (list == NULL)
            return NULL;
        unlink_unfilled(c);
        c->objects = list;
    }
    return Py_NewRef(c->objects);
}

PyGetSetDef rs_cycle_getset[] = {
    {"objects", cycle_objects, NULL, "The objects of the cycle (a strongly connected component over data edges).",
     NULL},
    {"edges", cycle_edges, NULL, "Every data edge between two members: [(a, b, label)].", NULL},
    {"ring", cycle_edges, NULL,
     "A walkable ring: the shortest closed walk from the member retaining most back to it, [(a, b, label)].",
     "ring"},
    {"break_edges", cycle_break_edges, NULL,
     "Edges to break, best first (back-references, then what frees most): "
     "[(a, b, label, suggestion, freed_bytes)], at most 10.",
     NULL},
    {NULL},
};

static Py_ssize_t cycle_len(PyObject *self)
{
    return ((rs_cycle_pyobject *)self)->count;
}

PySequenceMethods rs_cycle_as_sequence = {.sq_length = cycle_len};

int rs_cycle_traverse(PyObject *self, visitproc visit, void *arg)
{
    rs_cycle_pyobject *c = (rs_cycle_pyobject *)self;
    Py_VISIT(c->objects);
    Py_VISIT(c->edges);
    Py_VISIT(c->ring);
    Py_VISIT(c->break_edges);
    return 0;
}

int rs_cycle_clear(PyObject *self)
{
    rs_cycle_pyobject *c = (rs_cycle_pyobject *)self;
    Py_CLEAR(c->objects);
    Py_CLEAR(c->edges);
    Py_CLEAR(c->ring);
    Py_CLEAR(c->break_edges);
    return 0;
}

void rs_cycle_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    unlink_unfilled((rs_cycle_pyobject *)self);
    rs_cycle_clear(self);
    Py_CLEAR(((rs_cycle_pyobject *)self)->snapshot);
    Py_TYPE(self)->tp_free(self);
}

PyObject *rs_cycle_repr(PyObject *self)
{
    rs_cycle_pyobject *c = (rs_cycle_pyobject *)self;
    char size[32], retained[32];
    return PyUnicode_FromFormat("<refscope.Cycle %zd objects, %s, retains %s%s>", c->count,
                                rs_format_bytes(c->size, size, sizeof size),
                                rs_format_bytes(c->retained, retained, sizeof retained),
                                c->garbage ? ", garbage" : "");
}

static PyObject *make_cycle(PyObject *snapshot_obj, const rs_cycle *cy)
{
    rs_cycle_pyobject *c = PyObject_GC_New(rs_cycle_pyobject, &rs_cycle_type);
    if (c == NULL)
        return NULL;
    c->snapshot = Py_NewRef(snapshot_obj);
    c->number = cy->number;
    c->count = (Py_ssize_t)cy->member_count;
    c->size = cy->size;
    c->retained = cy->retained;
    c->garbage = cy->garbage;
    c->edges = c->ring = c->break_edges = c->objects = NULL;
    c->unfilled_prev = NULL;
    c->unfilled_next = NULL;
    link_unfilled(c);
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

/* --- Snapshot methods ----------------------------------------------------------- */

PyObject *rs_snapshot_in_cycle(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    if (s == NULL || rs_analysis_ensure_scc(s) < 0)
        return NULL;
    return PyBool_FromLong(rs_scc_in_cycle(s->scc, n));
}

PyObject *rs_snapshot_cycles(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"limit", NULL};
    Py_ssize_t limit = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n:cycles", keywords, &limit))
        return NULL;
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_cycle *cycles = rs_cycles(s, &count);
    if (cycles == NULL)
        return NULL;
    if (limit >= 0 && (size_t)limit < count)
        count = (size_t)limit;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++)
        if (rs_append_steal(list, make_cycle(self, &cycles[i])) < 0)
            Py_CLEAR(list);
    rs_free(cycles);
    return list;
}

PyObject *rs_snapshot_cycle_of(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    if (s == NULL || rs_analysis_ensure_scc(s) < 0)
        return NULL;
    uint32_t number = rs_scc_cycle_of(s->scc, n);
    if (number == RS_SCC_NO_CYCLE)
        Py_RETURN_NONE;
    rs_cycle cy;
    if (rs_cycle_get(s, number, &cy) < 0)
        return NULL;
    return make_cycle(self, &cy);
}

PyObject *rs_snapshot_garbage(PyObject *self, PyObject *Py_UNUSED(unused))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_garbage_entry *entries = rs_suspect_garbage(s, &count);
    if (entries == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *reason = rs_garbage_reason(s, &entries[i]);
        PyObject *t = reason ? Py_BuildValue("(NsO)", rs_node_value(s, entries[i].node),
                                             rs_garbage_kind_name(entries[i].kind), reason)
                             : NULL;
        Py_XDECREF(reason);
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_free(entries);
    return list;
}

PyObject *rs_snapshot_closures(PyObject *self, PyObject *Py_UNUSED(unused))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_closure_var *vars = rs_closures(s, &count);
    if (vars == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *name = rs_closure_var_name(s, &vars[i]);
        PyObject *t = name ? Py_BuildValue("(NONK)", rs_node_value(s, vars[i].function), name,
                                           rs_node_value(s, vars[i].value), (unsigned long long)vars[i].retained)
                           : NULL;
        Py_XDECREF(name);
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_free(vars);
    return list;
}

/* [(name, value, size, retained)] */
static PyObject *locals_list(rs_snapshot *s, rs_local *locals, size_t count)
{
    PyObject *list = locals ? PyList_New(0) : NULL;
    for (size_t i = 0; list != NULL && i < count; i++) {
        rs_idx v = locals[i].value;
        PyObject *t = Py_BuildValue("(ONKK)", locals[i].name, rs_node_value(s, v),
                                    (unsigned long long)rs_graph_size(s->graph, v),
                                    (unsigned long long)rs_dom_retained(s->dom, v));
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_free(locals);
    return list;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* (function, "file:line", locals) */
static PyObject *frame_tuple(PyObject *code_obj, int line, PyObject *locals)
{
    if (locals == NULL)
        return NULL;
    PyCodeObject *code = (PyCodeObject *)code_obj;
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL)
        PyErr_Clear();
    PyObject *where = PyUnicode_FromFormat("%s:%d", file ? basename_of(file) : "?", line);
    PyObject *t = where ? PyTuple_Pack(3, code->co_qualname, where, locals) : NULL;
    Py_XDECREF(where);
    Py_DECREF(locals);
    return t;
}

PyObject *rs_snapshot_frames(PyObject *self, PyObject *Py_UNUSED(unused))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL || rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    if (rs_snapshot_is_stored(s))
        return rs_stored_frames(s);
    PyObject *threads = PyList_New(0);
    for (uint32_t t = 0; threads != NULL && t < s->thread_count; t++) {
        const rs_thread_info *ti = &s->threads[t];
        PyObject *frames = PyList_New(0);
        for (uint32_t f = ti->first_frame; frames != NULL && f < ti->first_frame + ti->frame_count; f++) {
            if (s->frames[f].refscope) /* `refscope run`'s bootstrap */
                continue;
            size_t count;
            rs_local *locals = rs_frame_locals(s, f, &count);
            PyObject *ft = frame_tuple(s->frames[f].code, s->frames[f].line, locals_list(s, locals, count));
            if (rs_append_steal(frames, ft) < 0)
                Py_CLEAR(frames);
        }
        PyObject *entry = frames ? Py_BuildValue("(skO)", ti->name, ti->ident, frames) : NULL;
        Py_XDECREF(frames);
        if (rs_append_steal(threads, entry) < 0)
            Py_CLEAR(threads);
    }
    if (threads == NULL)
        return NULL;
    /* Suspended generators and coroutines: frames no thread runs. */
    size_t count;
    rs_suspended_frame *suspended = rs_suspended_frames(s, &count);
    PyObject *frames = suspended ? PyList_New(0) : NULL;
    for (size_t i = 0; frames != NULL && i < count; i++) {
        size_t nlocals;
        rs_local *locals = rs_generator_locals(s, suspended[i].generator, &nlocals);
        PyObject *ft = frame_tuple(suspended[i].code, suspended[i].line, locals_list(s, locals, nlocals));
        if (rs_append_steal(frames, ft) < 0)
            Py_CLEAR(frames);
    }
    rs_free(suspended);
    PyObject *entry = frames ? Py_BuildValue("(sOO)", "<suspended generators and coroutines>", Py_None, frames) : NULL;
    Py_XDECREF(frames);
    if (rs_append_steal(threads, entry) < 0)
        Py_CLEAR(threads);
    return threads;
}

PyObject *rs_snapshot_retained_size(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    uint64_t size;
    if (s == NULL || rs_retained_size(s, n, &size) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(size);
}

PyObject *rs_snapshot_retained(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_idx *nodes = rs_retained_set(s, n, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list != NULL && i < count; i++)
        PyList_SET_ITEM(list, (Py_ssize_t)i, rs_node_value(s, nodes[i]));
    rs_free(nodes);
    return list;
}

PyObject *rs_snapshot_retained_by_type(PyObject *self, PyObject *Py_UNUSED(unused))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_type_retained *rows = rs_suspect_types(s, &count);
    if (rows == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *t = Py_BuildValue("(sKKK)", s->types[rows[i].type_id].name, (unsigned long long)rows[i].count,
                                    (unsigned long long)rows[i].size, (unsigned long long)rows[i].retained);
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_free(rows);
    return list;
}

PyObject *rs_snapshot_largest(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"type", "n", NULL};
    PyObject *type_arg;
    Py_ssize_t n = 10;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:largest", keywords, &type_arg, &n))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "largest(): n must be 0 or more");
        return NULL;
    }
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    int64_t t = rs_type_arg(s, type_arg);
    if (t < 0)
        return NULL;
    size_t count;
    rs_idx *nodes = rs_largest(s, (uint32_t)t, (size_t)n, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *pair = Py_BuildValue("(NK)", rs_node_value(s, nodes[i]),
                                       (unsigned long long)rs_graph_size(s->graph, nodes[i]));
        if (rs_append_steal(list, pair) < 0)
            Py_CLEAR(list);
    }
    rs_free(nodes);
    return list;
}

/* "app.Buffer", "<shared>" or "<unreachable>" for a string holder row. */
static const char *holder_name(rs_snapshot *s, const rs_string_holder *h)
{
    if (h->unreachable)
        return "<unreachable>";
    return h->holder_type == UINT32_MAX ? "<shared>" : s->types[h->holder_type].name;
}

PyObject *rs_snapshot_strings_by_holder(PyObject *self, PyObject *Py_UNUSED(unused))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    size_t count;
    rs_string_holder *rows = rs_strings_by_holder(s, &count);
    if (rows == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *t = Py_BuildValue("(sKKK)", holder_name(s, &rows[i]), (unsigned long long)rows[i].count,
                                    (unsigned long long)rows[i].length, (unsigned long long)rows[i].size);
        if (rs_append_steal(list, t) < 0)
            Py_CLEAR(list);
    }
    rs_free(rows);
    return list;
}

PyObject *rs_snapshot_process_memory(PyObject *self, PyObject *Py_UNUSED(unused))
{
    rs_snapshot *s = rs_snapshot_of(self);
    rs_process_memory m;
    if (s == NULL || rs_process_memory_read(s, &m) < 0)
        return NULL;
    PyObject *line = rs_process_memory_line(&m);
    if (line == NULL)
        return NULL;
    PyObject *arenas = m.have_arenas ? Py_BuildValue("{sKsKsKsKsK}", "bytes", (unsigned long long)m.arena_bytes,
                                                     "count", (unsigned long long)m.arena_count, "used",
                                                     (unsigned long long)m.arena_used, "free",
                                                     (unsigned long long)m.arena_free, "overhead",
                                                     (unsigned long long)m.arena_overhead)
                                     : Py_NewRef(Py_None);
    PyObject *d = arenas ? Py_BuildValue("{sKsKsOsO}", "objects", (unsigned long long)m.objects, "rss",
                                         (unsigned long long)m.rss, "arenas", arenas, "line", line)
                         : NULL;
    Py_XDECREF(arenas);
    Py_DECREF(line);
    return d;
}

PyObject *rs_snapshot_allocated_at(PyObject *self, PyObject *obj)
{
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    if (s == NULL)
        return NULL;
    if (rs_snapshot_is_stored(s)) { /* the stored traceback text, or None */
        uint32_t id = rs_dump_allocation_of(s->stored, n);
        return id == RS_DUMP_NO_STRING ? Py_NewRef(Py_None) : rs_dump_string(s->stored, id);
    }
    return rs_allocation_traceback(obj);
}

PyObject *rs_snapshot_compute(PyObject *self, PyObject *what)
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    const char *name = PyUnicode_Check(what) ? PyUnicode_AsUTF8(what) : NULL;
    if (name == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "compute() takes 'scc' or 'dominators'");
        return NULL;
    }
    double seconds;
    if (rs_analysis_recompute(s, name, &seconds) < 0)
        return NULL;
    return PyFloat_FromDouble(seconds);
}

/* Calls fn with file opened for writing when file is a path; passes it on
 * as it is otherwise.  0 or -1. */
static int with_file(PyObject *file, int (*fn)(void *ctx, PyObject *file), void *ctx)
{
    if (!PyUnicode_Check(file) && !PyBytes_Check(file) && !PyObject_HasAttrString(file, "__fspath__"))
        return fn(ctx, file);
    PyObject *io = PyImport_ImportModule("io");
    PyObject *f = io ? PyObject_CallMethod(io, "open", "Os", file, "w") : NULL;
    Py_XDECREF(io);
    if (f == NULL)
        return -1;
    int r = fn(ctx, f);
    PyObject *closed = PyObject_CallMethod(f, "close", NULL);
    Py_DECREF(f);
    if (closed == NULL)
        return -1;
    Py_DECREF(closed);
    return r;
}

static int json_to(void *ctx, PyObject *file)
{
    return rs_export_json(ctx, file);
}

PyObject *rs_snapshot_to_json(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"file", NULL};
    PyObject *file;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:to_json", keywords, &file))
        return NULL;
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL || with_file(file, json_to, s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

typedef struct dot_args {
    rs_snapshot *snap;
    rs_idx start;
    int depth;
    int directions; /* RS_DOT_* */
    size_t max_nodes;
} dot_args;

static int dot_to(void *ctx, PyObject *file)
{
    dot_args *a = ctx;
    return rs_export_dot(a->snap, file, a->start, a->depth, a->directions, a->max_nodes);
}

PyObject *rs_snapshot_to_dot(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"file", "obj", "depth", "direction", "max_nodes", NULL};
    PyObject *file, *obj;
    int depth = 3;
    const char *direction = "referents";
    Py_ssize_t max_nodes = 200;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|isn:to_dot", keywords, &file, &obj, &depth, &direction,
                                     &max_nodes))
        return NULL;
    int directions = strcmp(direction, "referents") == 0   ? RS_DOT_REFERENTS
                     : strcmp(direction, "referrers") == 0 ? RS_DOT_REFERRERS
                     : strcmp(direction, "both") == 0      ? RS_DOT_BOTH
                                                           : 0;
    if (directions == 0) {
        PyErr_Format(PyExc_ValueError, "to_dot(): direction must be 'referents', 'referrers' or 'both', not '%s'",
                     direction);
        return NULL;
    }
    if (depth < 0 || max_nodes < 1) {
        PyErr_SetString(PyExc_ValueError, "to_dot(): depth must be 0 or more and max_nodes at least 1");
        return NULL;
    }
    rs_idx n;
    rs_snapshot *s = rs_snapshot_and_node(self, obj, &n);
    if (s == NULL)
        return NULL;
    dot_args a = {.snap = s, .start = n, .depth = depth, .directions = directions, .max_nodes = (size_t)max_nodes};
    if (with_file(file, dot_to, &a) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* --- module functions ------------------------------------------------------------ */

/* The snapshot to work on: the given Snapshot's, or a fresh one in *owned. */
/* The snapshot passed as snapshot=, or a new one (nodes only when
 * nodes_only: marks and growth need addresses, types and sizes, not edges)
 * owned by the caller through *owned.  NULL with an exception set. */
static rs_snapshot *snapshot_or_new(PyObject *snapshot_obj, int collect, bool nodes_only, rs_snapshot **owned)
{
    *owned = NULL;
    if (snapshot_obj != NULL && snapshot_obj != Py_None) {
        if (!PyObject_TypeCheck(snapshot_obj, &rs_snapshot_type)) {
            PyErr_Format(PyExc_TypeError, "snapshot must be a refscope.Snapshot, not %s",
                         Py_TYPE(snapshot_obj)->tp_name);
            return NULL;
        }
        rs_snapshot *s = rs_snapshot_of(snapshot_obj);
        /* Marks match this process's addresses: a dump's mean nothing here. */
        if (s != NULL && nodes_only &&
            rs_snapshot_need_live(s, "refscope.mark() and growth() (refscope diff OLD NEW compares two dumps)") < 0)
            return NULL;
        if (s != NULL)
            rs_snapshot_enter(snapshot_obj);
        return s;
    }
    *owned = nodes_only ? rs_snapshot_take_nodes(collect) : rs_snapshot_take(collect, NULL, NULL);
    return *owned;
}

static rs_snapshot *snapshot_arg(PyObject *snapshot_obj, int collect, rs_snapshot **owned)
{
    return snapshot_or_new(snapshot_obj, collect, false, owned);
}

/* Ends the use snapshot_arg started: frees the owned snapshot, or leaves
 * the given Snapshot object (which may then perform a pending close()). */
static void snapshot_arg_done(PyObject *snapshot_obj, rs_snapshot *owned)
{
    if (owned != NULL)
        rs_snapshot_free(owned);
    else
        rs_snapshot_leave(snapshot_obj, NULL);
}

static int start_tracing(PyObject *trace)
{
    int nframes = 1;
    if (PyLong_Check(trace) && !PyBool_Check(trace)) {
        nframes = PyLong_AsLong(trace) > 0 ? (int)PyLong_AsLong(trace) : 1;
    } else {
        int on = PyObject_IsTrue(trace);
        if (on <= 0)
            return on;
        nframes = 10;
    }
    if (PyErr_Occurred())
        return -1;
    PyObject *tracemalloc = PyImport_ImportModule("tracemalloc");
    PyObject *tracing = tracemalloc ? PyObject_CallMethod(tracemalloc, "is_tracing", NULL) : NULL;
    PyObject *started = NULL;
    if (tracing != NULL)
        started = tracing == Py_True ? Py_NewRef(Py_None) : PyObject_CallMethod(tracemalloc, "start", "i", nframes);
    Py_XDECREF(tracing);
    Py_XDECREF(tracemalloc);
    if (started == NULL)
        return -1;
    Py_DECREF(started);
    return 0;
}

PyObject *rs_module_mark(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"trace", "collect", "snapshot", NULL};
    PyObject *trace = Py_False, *snapshot_obj = NULL;
    int collect = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OpO:mark", keywords, &trace, &collect, &snapshot_obj))
        return NULL;
    if (start_tracing(trace) < 0)
        return NULL;
    rs_snapshot *owned;
    rs_snapshot *s = snapshot_or_new(snapshot_obj, collect, true, &owned);
    if (s == NULL)
        return NULL;
    int r = rs_growth_mark(s);
    size_t marked = s->visible_count;
    snapshot_arg_done(snapshot_obj, owned);
    if (r < 0)
        return NULL;
    return PyLong_FromSize_t(marked);
}

PyObject *rs_module_growth(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"collect", "snapshot", NULL};
    PyObject *snapshot_obj = NULL;
    int collect = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|pO:growth", keywords, &collect, &snapshot_obj))
        return NULL;
    if (!rs_growth_has_mark()) {
        PyErr_SetString(rs_error, "no mark to compare with; call refscope.mark() first");
        return NULL;
    }
    /* Without a snapshot, the heap is compared with the mark as it is
     * walked (growth_walk.c): no snapshot is built. */
    bool walk = snapshot_obj == NULL || snapshot_obj == Py_None;
    rs_snapshot *owned = NULL;
    rs_snapshot *s = walk ? NULL : snapshot_or_new(snapshot_obj, collect, true, &owned);
    if (!walk && s == NULL)
        return NULL;
    rs_growth_result g;
    PyObject *list = NULL;
    if ((walk ? rs_growth_now(collect, &g) : rs_growth(s, &g)) == 0) {
        list = PyList_New(0);
        for (size_t i = 0; list != NULL && i < g.row_count; i++) {
            const rs_growth_row *row = &g.rows[i];
            PyObject *objects = PyList_New((Py_ssize_t)row->new_count);
            for (size_t k = 0; objects != NULL && k < row->new_count; k++) {
                size_t at = row->new_first + k;
                PyObject *value = walk ? Py_NewRef(g.new_objects[at]) : rs_node_value(s, g.new_nodes[at]);
                if (value == NULL)
                    Py_CLEAR(objects);
                else
                    PyList_SET_ITEM(objects, (Py_ssize_t)k, value);
            }
            PyObject *t = objects ? Py_BuildValue("(sLLO)", row->type_name, (long long)row->delta_count,
                                                  (long long)row->delta_size, objects)
                                  : NULL;
            Py_XDECREF(objects);
            if (rs_append_steal(list, t) < 0)
                Py_CLEAR(list);
        }
        rs_growth_result_free(&g);
    }
    if (walk)
        return list;
    snapshot_arg_done(snapshot_obj, owned);
    return list;
}

PyObject *rs_module_alloc_fail_after(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    rs_alloc_fail_after(n < 0 ? 0 : n);
    Py_RETURN_NONE;
}

static int write_to(PyObject *file, PyObject *text)
{
    PyObject *r = PyObject_CallMethod(file, "write", "O", text);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

int rs_report_check_args(const char *format, Py_ssize_t top, bool *json)
{
    *json = strcmp(format, "json") == 0;
    if (!*json && strcmp(format, "text") != 0) {
        PyErr_Format(rs_error, "unknown report format '%s'; use format='text' or format='json'", format);
        return -1;
    }
    if (top < 1) {
        PyErr_SetString(PyExc_ValueError, "report(): top must be at least 1");
        return -1;
    }
    return 0;
}

PyObject *rs_report_render(rs_snapshot *s, Py_ssize_t top, bool json)
{
    PyObject *data = rs_report_data(s, top);
    if (data == NULL)
        return NULL;
    PyObject *text = NULL;
    if (json) {
        PyObject *json_module = PyImport_ImportModule("json");
        text = json_module ? PyObject_CallMethod(json_module, "dumps", "O", data) : NULL;
        Py_XDECREF(json_module);
    } else {
        text = rs_report_text(data);
    }
    Py_DECREF(data);
    return text;
}

PyObject *rs_module_report(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"file", "format", "top", "snapshot", "collect", NULL};
    PyObject *file = Py_None, *snapshot_obj = NULL;
    const char *format = "text";
    Py_ssize_t top = 10;
    int collect = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OsnOp:report", keywords, &file, &format, &top, &snapshot_obj,
                                     &collect))
        return NULL;
    bool json;
    if (rs_report_check_args(format, top, &json) < 0)
        return NULL;
    rs_snapshot *owned;
    rs_snapshot *s = snapshot_arg(snapshot_obj, collect, &owned);
    if (s == NULL)
        return NULL;
    PyObject *text = rs_report_render(s, top, json);
    snapshot_arg_done(snapshot_obj, owned);
    if (text == NULL || file == Py_None)
        return text;
    int r = write_to(file, text);
    Py_DECREF(text);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

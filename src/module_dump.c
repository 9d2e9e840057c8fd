/*
 * The Python face of heap dumps: Snapshot.save(), refscope.dump(), and
 * refscope.load(), which opens a dump as a Snapshot in stored mode (module.c
 * hands out StoredObjects for its nodes; the analyses run over the graph
 * rebuilt from the file, labels, reprs, frames and closures are read as
 * stored).  Also the whole-graph columns and dominators `refscope diff`
 * compares, and the header of a dump (Snapshot.info).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "analysis.h"
#include "dump.h"
#include "module_analysis.h"
#include "module_dump.h"
#include "node.h"
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
    if (s == NULL || rs_snapshot_need_live(s, "save()") < 0)
        return NULL;
    return save_to(s, path);
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

/* --- reading ----------------------------------------------------------- */

PyObject *rs_module_load(PyObject *Py_UNUSED(module), PyObject *path)
{
    PyObject *bytes = NULL;
    const char *name = path_arg(path, &bytes);
    rs_dump *d = name ? rs_dump_open(name) : NULL;
    Py_XDECREF(bytes);
    return d ? rs_snapshot_wrap_dump(d) : NULL;
}

/* The dump's header as a dict: pid, time, python_version, memory figures,
 * counts; None on a live snapshot. */
PyObject *rs_snapshot_info(PyObject *self, void *Py_UNUSED(closure))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    if (!rs_snapshot_is_stored(s))
        Py_RETURN_NONE;
    const rs_dump *d = s->stored;
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
PyObject *rs_snapshot_dominators(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL || rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    size_t n = rs_graph_node_count(s->graph);
    subtree_counts c = {.dom = s->dom, .count = rs_calloc(n ? n : 1, sizeof *c.count)};
    if (c.count == NULL)
        return PyErr_NoMemory();
    PyObject *idom = NULL, *retained = NULL, *count = NULL, *result = NULL;
    if (rs_dominator_walk(s, RS_DOM_SUPER_ROOT, count_subtree, &c) < 0)
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
PyObject *rs_snapshot_columns(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    rs_snapshot *s = rs_snapshot_of(self);
    if (s == NULL)
        return NULL;
    const rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g);
    PyObject *cols[4] = {PyList_New((Py_ssize_t)n), PyList_New((Py_ssize_t)n), PyList_New((Py_ssize_t)n),
                         PyList_New((Py_ssize_t)n)};
    PyObject *names = PyList_New((Py_ssize_t)s->type_count), *result = NULL;
    bool ok = cols[0] && cols[1] && cols[2] && cols[3] && names;
    for (size_t i = 0; ok && i < n; i++) {
        rs_idx x = (rs_idx)i;
        PyObject *v[4] = {PyLong_FromUnsignedLongLong(rs_graph_addr(g, x)), PyLong_FromUnsignedLong(rs_graph_type_id(g, x)),
                          PyLong_FromUnsignedLong(rs_graph_flags(g, x)), PyLong_FromUnsignedLongLong(rs_graph_size(g, x))};
        for (int k = 0; k < 4; k++) {
            if (v[k] == NULL)
                ok = false;
            else
                PyList_SET_ITEM(cols[k], (Py_ssize_t)i, v[k]);
        }
    }
    for (uint32_t t = 0; ok && t < s->type_count; t++) {
        PyObject *name = PyUnicode_FromString(s->types[t].name);
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

PyObject *rs_stored_frames(rs_snapshot *s)
{
    const rs_dump *d = s->stored;
    if (rs_analysis_ensure_dominators(s) < 0)
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
                if (rs_append_steal(locals, Py_BuildValue("(NNKK)", rs_dump_string(d, d->locals[k].name), rs_node_value(s, v),
                                                       (unsigned long long)rs_dump_node_size(d, v),
                                                       (unsigned long long)rs_dom_retained(s->dom, v))) < 0)
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

PyObject *rs_module_crc32(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data;
    unsigned int crc;
    int widest;
    if (!PyArg_ParseTuple(args, "y*Ii:_crc32", &data, &crc, &widest))
        return NULL;
    uint32_t r = rs_dump_crc32_using(crc, data.buf, (size_t)data.len, widest);
    PyBuffer_Release(&data);
    return Py_BuildValue("(Ii)", (unsigned int)r, rs_dump_crc32_widest());
}

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

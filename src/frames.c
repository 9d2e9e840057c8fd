/*
 * Frames and their locals.  The walk recorded every thread's executing
 * frames and made their local slots root edges (roots.c); a frame that a
 * generator or coroutine owns is read from its generator object instead,
 * since the generator is what holds it.  Suspended generators and
 * coroutines are frames no thread runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "analysis.h"
#include "node.h"
#include "pyinternal.h"

typedef struct local_list {
    rs_local *locals;
    size_t count, cap;
} local_list;

/* Appends (name, value); a cell variable shows its contents.  value must
 * be alive or a visible node: refscope's own objects are nodes the snapshot
 * does not hold, so they are looked up before being touched.  0 or -1. */
static int push_local(rs_snapshot *s, local_list *l, PyObject *name, PyObject *value)
{
    rs_idx n = value ? rs_snapshot_find(s, value) : RS_NONE;
    if (n == RS_NONE)
        return 0;
    if (PyCell_Check(value)) {
        PyObject *contents = PyCell_GET(value);
        n = contents ? rs_snapshot_find(s, contents) : RS_NONE;
        if (n == RS_NONE)
            return 0;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rs_local *grown = rs_realloc(l->locals, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        l->locals = grown;
        l->cap = cap;
    }
    l->locals[l->count++] = (rs_local){.name = name, .value = n};
    return 0;
}

static rs_local *finish(local_list *l, size_t *count)
{
    if (l->locals == NULL)
        l->locals = rs_malloc(sizeof *l->locals);
    if (l->locals == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *count = l->count;
    return l->locals;
}

static rs_local *iframe_locals(rs_snapshot *s, rs_iframe *f, size_t *count)
{
    local_list l = {0};
    int slots_used, nlocals;
    PyObject **slots = rs_iframe_slots(f, &slots_used, &nlocals);
    PyObject *names = rs_iframe_code(f)->co_localsplusnames;
    for (int i = 0; i < slots_used && i < nlocals && i < PyTuple_GET_SIZE(names); i++) {
        if (push_local(s, &l, PyTuple_GET_ITEM(names, i), slots[i]) < 0) {
            rs_free(l.locals);
            PyErr_NoMemory();
            return NULL;
        }
    }
    return finish(&l, count);
}

/* Whether node i is a generator, coroutine or async generator, asked of
 * the type table: those types have no subclasses, so the objects of every
 * other node are never read. */
static bool is_generator(rs_snapshot *s, rs_idx i)
{
    PyTypeObject *tp = rs_snapshot_node_type(s, i);
    return tp == &PyGen_Type || tp == &PyCoro_Type || tp == &PyAsyncGen_Type;
}

/* The type ids of the generator, coroutine and async generator types in
 * the snapshot's type table (UINT32_MAX for one no node has): a node's
 * type id tells whether it is one without reading the type table.  The
 * count of those present. */
static int generator_type_ids(const rs_snapshot *s, uint32_t ids[3])
{
    PyTypeObject *types[3] = {&PyGen_Type, &PyCoro_Type, &PyAsyncGen_Type};
    int present = 0;
    for (int k = 0; k < 3; k++) {
        int64_t id = rs_snapshot_type_index(s, types[k]);
        ids[k] = id >= 0 ? (uint32_t)id : UINT32_MAX;
        present += id >= 0;
    }
    return present;
}

/* Whether node i is a generator (ids from generator_type_ids()) that the
 * snapshot holds (not refscope's own). */
static bool is_generator_node(const rs_snapshot *s, const uint32_t ids[3], rs_idx i)
{
    uint32_t id = rs_graph_type_id(s->graph, i);
    return (id == ids[0] || id == ids[1] || id == ids[2]) && !(rs_graph_flags(s->graph, i) & RS_NODE_INTERNAL);
}

/* 1 when gen's frame is executing on some thread, 0 if not, -1 on error. */
static int generator_running(PyObject *gen)
{
    const char *attr = PyCoro_CheckExact(gen) ? "cr_running" : PyAsyncGen_CheckExact(gen) ? "ag_running" : "gi_running";
    PyObject *v = PyObject_GetAttrString(gen, attr);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int r = PyObject_IsTrue(v);
    Py_DECREF(v);
    return r;
}

/* The running generator whose frame is s->frames[frame], or RS_NONE. */
static rs_idx running_generator(rs_snapshot *s, uint32_t frame)
{
    uint32_t ids[3];
    size_t n = generator_type_ids(s, ids) == 0 ? 0 : rs_graph_node_count(s->graph);
    for (size_t i = 0; i < n; i++) {
        if (!is_generator_node(s, ids, (rs_idx)i))
            continue;
        PyObject *obj = rs_snapshot_object(s, (rs_idx)i);
        rs_iframe *f = rs_py_generator_frame(obj);
        if (f != NULL && (PyObject *)rs_iframe_code(f) == s->frames[frame].code && generator_running(obj) > 0)
            return (rs_idx)i;
    }
    return RS_NONE;
}

rs_local *rs_frame_locals(rs_snapshot *s, uint32_t frame, size_t *count)
{
    if (s->stored != NULL)
        return rs_node_stored_frame_locals(s, frame, count);
    local_list l = {0};
    PyCodeObject *code = (PyCodeObject *)s->frames[frame].code;
    size_t root_count;
    const rs_root *roots = rs_graph_roots(s->graph, &root_count);
    bool any_root = false;
    for (size_t r = 0; r < root_count; r++) {
        if (roots[r].kind != RS_ROOT_FRAME || s->root_info[roots[r].info].frame != frame)
            continue;
        any_root = true;
        int32_t slot = s->root_info[roots[r].info].slot;
        if (slot < 0 || slot >= code->co_nlocalsplus)
            continue;
        PyObject *name = PyTuple_GET_ITEM(code->co_localsplusnames, slot);
        if (push_local(s, &l, name, rs_snapshot_object(s, roots[r].target)) < 0) {
            rs_free(l.locals);
            PyErr_NoMemory();
            return NULL;
        }
    }
    if (!any_root) {
        rs_idx gen = running_generator(s, frame);
        if (gen != RS_NONE)
            return rs_generator_locals(s, gen, count);
    }
    return finish(&l, count);
}

rs_local *rs_generator_locals(rs_snapshot *s, rs_idx generator, size_t *count)
{
    PyObject *gen = rs_snapshot_object(s, generator);
    rs_iframe *f = is_generator(s, generator) ? rs_py_generator_frame(gen) : NULL;
    if (f == NULL) {
        local_list l = {0};
        return finish(&l, count);
    }
    return iframe_locals(s, f, count);
}

rs_suspended_frame *rs_suspended_frames(rs_snapshot *s, size_t *count)
{
    /* A dump lists suspended frames as a thread of their own. */
    uint32_t ids[3];
    size_t n = s->stored || generator_type_ids(s, ids) == 0 ? 0 : rs_graph_node_count(s->graph), used = 0, cap = 16;
    rs_suspended_frame *out = rs_malloc(cap * sizeof *out);
    if (out == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!is_generator_node(s, ids, (rs_idx)i))
            continue;
        PyObject *obj = rs_snapshot_object(s, (rs_idx)i);
        rs_iframe *f = rs_py_generator_frame(obj);
        if (f == NULL || generator_running(obj) > 0)
            continue;
        if (used == cap) {
            rs_suspended_frame *grown = rs_realloc(out, 2 * cap * sizeof *out);
            if (grown == NULL)
                goto nomem;
            out = grown;
            cap *= 2;
        }
        out[used++] = (rs_suspended_frame){
            .generator = (rs_idx)i, .code = (PyObject *)rs_iframe_code(f), .line = rs_iframe_line(f)};
    }
    *count = used;
    return out;
nomem:
    rs_free(out);
    PyErr_NoMemory();
    return NULL;
}

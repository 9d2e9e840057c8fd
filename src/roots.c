/*
 * Roots: modules (by their sys.modules key) and executing frames.  A frame
 * owned by a generator is mostly traversed by its generator object; only
 * what that traverse misses is a root.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "pyinternal.h"
#include "roots.h"

/* Name of every live threading.Thread by ident: {ident: name}, or None when
 * threading was never imported (then only the main thread exists). */
static PyObject *thread_names(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *threading = PyDict_GetItemString(modules, "threading");
    if (threading == NULL)
        return Py_NewRef(Py_None);
    PyObject *names = PyDict_New();
    PyObject *threads = PyObject_CallMethod(threading, "enumerate", NULL);
    PyObject *iter = threads ? PyObject_GetIter(threads) : NULL;
    PyObject *t;
    if (names == NULL || iter == NULL)
        goto error;
    while ((t = PyIter_Next(iter)) != NULL) {
        PyObject *ident = PyObject_GetAttrString(t, "ident");
        PyObject *name = ident ? PyObject_GetAttrString(t, "name") : NULL;
        int r = (ident && name && ident != Py_None) ? PyDict_SetItem(names, ident, name) : 0;
        Py_XDECREF(ident);
        Py_XDECREF(name);
        Py_DECREF(t);
        if (r < 0 || PyErr_Occurred())
            goto error;
    }
    if (PyErr_Occurred())
        goto error;
    Py_DECREF(iter);
    Py_DECREF(threads);
    return names;
error:
    Py_XDECREF(iter);
    Py_XDECREF(threads);
    Py_XDECREF(names);
    return NULL;
}

int roots_prepare_threads(rs_snapshot *s)
{
    PyObject *names = thread_names();
    if (names == NULL)
        return -1;
    unsigned long current = PyThread_get_thread_ident();
    uint32_t count = 0, cap = 0;
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        cap++;
    s->threads = rs_calloc(cap ? cap : 1, sizeof *s->threads);
    if (s->threads == NULL)
        goto nomem;
    /* The thread taking the snapshot first, then the others newest first. */
    for (int pass = 0; pass < 2; pass++) {
        for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts && count < cap;
             ts = PyThreadState_Next(ts)) {
            int is_current = ts->thread_id == current;
            if (is_current != (pass == 0))
                continue;
            rs_thread_info *t = &s->threads[count];
            t->ident = ts->thread_id;
            t->is_current = is_current;
            char buf[64];
            const char *name = NULL;
            if (names != Py_None) {
                PyObject *key = PyLong_FromUnsignedLong(ts->thread_id);
                PyObject *value = key ? PyDict_GetItemWithError(names, key) : NULL;
                Py_XDECREF(key);
                name = (value && PyUnicode_Check(value)) ? PyUnicode_AsUTF8(value) : NULL;
                PyErr_Clear();
            }
            if (name == NULL) {
                if (names == Py_None && is_current)
                    name = "MainThread";
                else {
                    snprintf(buf, sizeof buf, "thread-0x%lx", ts->thread_id);
                    name = buf;
                }
            }
            t->name = rs_strdup(name);
            if (t->name == NULL)
                goto nomem;
            count++;
        }
    }
    s->thread_count = count;
    Py_DECREF(names);
    return 0;
nomem:
    s->thread_count = count;
    Py_DECREF(names);
    PyErr_NoMemory();
    return -1;
}

static int add_info(rs_snapshot *s, uint32_t *cap, rs_root_info info, uint32_t *index)
{
    if (s->root_info_count == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 1024;
        rs_root_info *p = rs_realloc(s->root_info, ncap * sizeof *p);
        if (p == NULL)
            return -1;
        s->root_info = p;
        *cap = ncap;
    }
    s->root_info[s->root_info_count] = info;
    *index = s->root_info_count++;
    return 0;
}

static int add_root(rs_snapshot *s, uint32_t *cap, PyObject *target, uint32_t kind, rs_root_info info)
{
    if (target == NULL)
        return 0;
    uint32_t index;
    rs_idx n = rs_graph_intern(s->graph, (uintptr_t)target);
    if (n == RS_NONE || add_info(s, cap, info, &index) < 0)
        return -1;
    if (rs_graph_add_root(s->graph, n, kind, index) < 0) {
        s->root_info_count--;
        return -1;
    }
    return 0;
}

typedef struct visit_ctx {
    visitproc visit;
    void *arg;
} visit_ctx;

static int visit_frame_root(PyObject *target, int32_t slot, void *ctx)
{
    (void)slot;
    visit_ctx *c = ctx;
    return c->visit(target, c->arg);
}

/* After: every value of sys.modules is a root, in the dict's order. */
static int add_module_roots(rs_snapshot *s, uint32_t *cap)
{
    PyObject *modules = PyImport_GetModuleDict();
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(modules, &pos, &key, &value)) {
        const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (name == NULL) {
            PyErr_Clear();
            continue;
        }
        rs_root_info info = {.frame = 0, .slot = 0, .module = rs_strdup(name)};
        if (info.module == NULL || add_root(s, cap, value, RS_ROOT_MODULE, info) < 0) {
            rs_free(info.module);
            return -1;
        }
    }
    return 0;
}

static int add_frame(rs_snapshot *s, uint32_t *frame_cap, rs_frame_info info, uint32_t *index)
{
    if (s->frame_count == *frame_cap) {
        uint32_t ncap = *frame_cap ? *frame_cap * 2 : 64;
        rs_frame_info *p = rs_realloc(s->frames, ncap * sizeof *p);
        if (p == NULL)
            return -1;
        s->frames = p;
        *frame_cap = ncap;
    }
    s->frames[s->frame_count] = info;
    *index = s->frame_count++;
    return 0;
}

/* true when frame f's code is named name and comes from a file whose name
 * ends with file. */
static bool frame_is(const rs_snapshot *s, uint32_t f, const char *name, const char *file)
{
    PyCodeObject *code = (PyCodeObject *)s->frames[f].code;
    const char *n = PyUnicode_Check(code->co_name) ? PyUnicode_AsUTF8(code->co_name) : NULL;
    const char *p = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (n == NULL || p == NULL) {
        PyErr_Clear();
        return false;
    }
    size_t pl = strlen(p), fl = strlen(file);
    return (name == NULL || strcmp(n, name) == 0) && pl >= fl && strcmp(p + pl - fl, file) == 0;
}

/* After: under `refscope run` (cli.c's bootstrap, a function
 * _refscope_run() in <string>), the bootstrap's frames and the runpy
 * frames between it and the program are flagged refscope: the threads
 * screen and frames() begin with the program's own frame. */
static void flag_refscope_frames(rs_snapshot *s, uint32_t t)
{
    uint32_t first = s->threads[t].first_frame, end = first + s->threads[t].frame_count;
    for (uint32_t f = first; f < end; f++) {
        if (!frame_is(s, f, "_refscope_run", "<string>"))
            continue;
        for (uint32_t g = f; g < end; g++) /* it and what called it: the -c code */
            s->frames[g].refscope = true;
        for (uint32_t g = f; g-- > first && (frame_is(s, g, NULL, "runpy.py") || frame_is(s, g, NULL, "<frozen runpy>"));)
            s->frames[g].refscope = true;
        return;
    }
}

/* Calls fn(target, slot, ctx) for every reference frame f holds that no
 * tp_traverse shows (slot: the local slot or an RS_SLOT_*).  A generator's
 * frame is traversed by the generator object, except its slots while it
 * runs (then its stack top is not saved).  Stops at and returns a non-zero
 * value of fn; else 0. */
static int frame_roots(rs_iframe *f, int (*fn)(PyObject *target, int32_t slot, void *ctx), void *ctx)
{
    int by_generator = rs_iframe_owned_by_generator(f);
    if (by_generator && rs_iframe_stack_known(f))
        return 0;
    int count, nlocals, r;
    PyObject **slots = rs_iframe_slots(f, &count, &nlocals);
    for (int i = 0; i < count; i++)
        if (slots[i] != NULL && (r = fn(slots[i], i, ctx)) != 0)
            return r;
    if (by_generator)
        return 0;
    PyObject *held[] = {rs_iframe_function(f), (PyObject *)rs_iframe_code(f), rs_iframe_locals_dict(f),
                        rs_iframe_frame_object(f)};
    int32_t kinds[] = {RS_SLOT_FUNCTION, RS_SLOT_CODE, RS_SLOT_LOCALS, RS_SLOT_FRAME};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
        if (held[i] != NULL && (r = fn(held[i], kinds[i], ctx)) != 0)
            return r;
    return 0;
}

typedef struct frame_root_ctx {
    rs_snapshot *s;
    uint32_t *cap;
    uint32_t frame;
} frame_root_ctx;

static int add_frame_root(PyObject *target, int32_t slot, void *ctx)
{
    frame_root_ctx *c = ctx;
    return add_root(c->s, c->cap, target, RS_ROOT_FRAME, (rs_root_info){.frame = c->frame, .slot = slot});
}

/* After: the thread's complete frames are in s->frames, innermost first;
 * the references each thread-owned frame holds are FRAME roots. */
static int add_thread_frames(rs_snapshot *s, uint32_t t, PyThreadState *ts, uint32_t *cap,
                             uint32_t *frame_cap)
{
    s->threads[t].first_frame = s->frame_count;
    uint32_t depth = 0;
    for (rs_iframe *f = rs_py_thread_top_frame(ts); f != NULL; f = rs_iframe_previous(f)) {
        if (!rs_iframe_is_complete(f))
            continue;
        PyObject *func = rs_iframe_function(f);
        rs_frame_info info = {.code = (PyObject *)rs_iframe_code(f),
                              .line = rs_iframe_line(f),
                              .thread = t,
                              .depth = depth++,
                              .function = RS_NONE,
                              .refscope = false};
        uint32_t fi;
        if (add_frame(s, frame_cap, info, &fi) < 0)
            return -1;
        if (frame_roots(f, add_frame_root, &(frame_root_ctx){s, cap, fi}) < 0)
            return -1;
        if (func != NULL)
            s->frames[fi].function = rs_graph_find(s->graph, (uintptr_t)func);
    }
    s->threads[t].frame_count = s->frame_count - s->threads[t].first_frame;
    flag_refscope_frames(s, t);
    return 0;
}

int roots_add_all(rs_snapshot *s)
{
    uint32_t cap = 0, frame_cap = 0;
    if (add_module_roots(s, &cap) < 0)
        return -1;
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (uint32_t t = 0; t < s->thread_count; t++) {
        for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
            if (ts->thread_id == s->threads[t].ident) {
                if (add_thread_frames(s, t, ts, &cap, &frame_cap) < 0)
                    return -1;
                break;
            }
        }
    }
    return 0;
}

int roots_visit(visitproc visit, void *arg)
{
    PyObject *modules = PyImport_GetModuleDict();
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int r;
    while (PyDict_Next(modules, &pos, &key, &value))
        if (PyUnicode_Check(key) && (r = visit(value, arg)) != 0)
            return r;
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        for (rs_iframe *f = rs_py_thread_top_frame(ts); f != NULL; f = rs_iframe_previous(f))
            if (rs_iframe_is_complete(f) && (r = frame_roots(f, visit_frame_root, &(visit_ctx){visit, arg})) != 0)
                return r;
    return 0;
}

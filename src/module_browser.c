/*
 * The Python face of the browser: refscope.browse(), the browser on a heap
 * dump (`refscope open FILE`) and the benchmark and test hooks: thin
 * wrappers that turn arguments into rs_browser_options.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <unistd.h>

#include "browser.h"
#include "dump.h"
#include "module.h"
#include "module_dump.h"
#include "node.h"

/* The terminal fd for tty (None, an fd, a file with fileno(), a path);
 * *opened is set when the fd was opened here and must be closed.  -1 for
 * "open /dev/tty", -2 with an exception set. */
static int tty_fd_of(PyObject *tty, int *opened)
{
    *opened = 0;
    if (tty == NULL || tty == Py_None)
        return -1;
    if (PyUnicode_Check(tty) || PyBytes_Check(tty)) {
        PyObject *path = NULL;
        if (!PyUnicode_FSConverter(tty, &path))
            return -2;
        int fd = open(PyBytes_AS_STRING(path), O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            PyErr_Format(rs_error, "no terminal: cannot open %s; use refscope.report() for a text report",
                         PyBytes_AS_STRING(path));
            Py_DECREF(path);
            return -2;
        }
        Py_DECREF(path);
        *opened = 1;
        return fd;
    }
    int fd = PyObject_AsFileDescriptor(tty);
    if (fd < 0) {
        PyErr_Clear();
        PyErr_Format(rs_error, "tty must be a terminal file descriptor, a file or a path, not %s",
                     Py_TYPE(tty)->tp_name);
        return -2;
    }
    return fd;
}

/* browse(obj=None, tty=None), parsed by hand: a vectorcall builds no
 * argument tuple, which would hold obj and show as its holder. */
static int browse_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **obj,
                            PyObject **tty)
{
    static const char *const names[] = {"obj", "tty"};
    PyObject **slots[] = {obj, tty};
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "browse() takes at most 2 arguments (%zd given)", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        *slots[i] = args[i];
    for (Py_ssize_t k = 0; kwnames != NULL && k < PyTuple_GET_SIZE(kwnames); k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        int slot = PyUnicode_CompareWithASCIIString(name, names[0]) == 0   ? 0
                   : PyUnicode_CompareWithASCIIString(name, names[1]) == 0 ? 1
                                                                          : -1;
        if (slot < 0 || slot < nargs) {
            PyErr_Format(PyExc_TypeError, slot < 0 ? "browse() got an unexpected keyword argument '%U'"
                                                   : "browse() got multiple values for argument '%U'",
                         name);
            return -1;
        }
        *slots[slot] = args[nargs + k];
    }
    return 0;
}

PyObject *rs_module_browse(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *obj = Py_None, *tty = Py_None;
    if (browse_arguments(args, nargs, kwnames, &obj, &tty) < 0)
        return NULL;
    int opened;
    int fd = tty_fd_of(tty, &opened);
    if (fd == -2)
        return NULL;
    /* :eval runs where browse() was called (a breakpoint() included). */
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    PyObject *globals = PyEval_GetGlobals();  /* borrowed */
    PyObject *locals = frame ? PyEval_GetLocals() : NULL; /* borrowed */
    if (locals == NULL)
        PyErr_Clear();
    rs_browser_options options = {
        .focus = obj == Py_None ? NULL : obj,
        .tty_fd = fd,
        .term = NULL,
        .eval_globals = globals,
        .eval_locals = locals,
        .caller_frame = (PyObject *)frame,
    };
    int r = rs_browser_run(&options);
    if (opened)
        close(fd);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *rs_module_bench_keypress(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"target", "n_keys", NULL};
    PyObject *target;
    int keys = 1000;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|i:_bench_keypress", keywords, &target, &keys))
        return NULL;
    if (keys < 0) {
        PyErr_SetString(PyExc_ValueError, "n_keys must be >= 0");
        return NULL;
    }
    return rs_browser_bench(target, keys);
}

PyObject *rs_module_key_table(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused))
{
    return rs_browser_key_table();
}

PyObject *rs_module_screen_rows(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"snapshot", "screen", "arg", "sort", NULL};
    PyObject *snapshot;
    const char *screen, *sort = NULL;
    PyObject *arg = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os|Oz:_screen_rows", keywords, &snapshot, &screen, &arg, &sort))
        return NULL;
    /* A loaded dump gives its stored snapshot: the screens as `refscope open` shows them. */
    rs_snapshot *s = PyObject_TypeCheck(snapshot, &rs_snapshot_type) ? rs_snapshot_of(snapshot) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "_screen_rows() takes a Snapshot, not %s",
                         Py_TYPE(snapshot)->tp_name);
        return NULL;
    }
    /* An object argument names its node (object, retained screens). */
    uint64_t value = 0;
    if (arg != NULL && PyLong_Check(arg))
        value = PyLong_AsUnsignedLongLong(arg);
    else if (arg != NULL && (value = rs_node_of(s, arg)) == RS_NONE)
        return NULL;
    if (PyErr_Occurred())
        return NULL;
    if (rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    return rs_view_rows(s, screen, value, sort);
}

PyObject *rs_module_open_dump(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"dump", "tty", "diff", NULL};
    PyObject *dump_arg, *tty = Py_None, *diff = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:_open_dump", keywords, &dump_arg, &tty, &diff))
        return NULL;
    /* A loaded dump (refscope.load()) stays open while we run (the caller
     * holds it); a path is ours. */
    rs_dump *opened_dump = NULL;
    rs_snapshot *s;
    if (PyObject_TypeCheck(dump_arg, &rs_snapshot_type)) {
        s = rs_snapshot_of(dump_arg);
        if (s != NULL && !rs_snapshot_is_stored(s)) {
            PyErr_SetString(rs_error, "_open_dump() takes a dump: refscope.load(FILE) or a path; browse() a live snapshot");
            s = NULL;
        }
    } else {
        PyObject *path = NULL;
        if (!PyUnicode_FSConverter(dump_arg, &path))
            return NULL;
        opened_dump = rs_dump_open(PyBytes_AS_STRING(path));
        Py_DECREF(path);
        s = opened_dump ? opened_dump->snap : NULL;
    }
    if (s == NULL)
        return NULL;
    int opened;
    int fd = tty_fd_of(tty, &opened);
    int r = -1;
    if (fd != -2) {
        rs_browser_options options = {.tty_fd = fd, .stored = s, .diff = diff == Py_None ? NULL : diff};
        r = rs_browser_run(&options);
        if (opened)
            close(fd);
    }
    rs_dump_close(opened_dump);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

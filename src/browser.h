/*
 * The browser's entry point, shared by refscope.browse(), the hotkey
 * signal and the attach listener (trigger.c).  Implemented by the views
 * layer (browser.c); only ui.c calls curses.
 */
#ifndef REFSCOPE_BROWSER_H
#define REFSCOPE_BROWSER_H

#include <Python.h>

typedef struct rs_browser_options {
    PyObject *focus;        /* object to open on its object screen, or NULL */
    int tty_fd;             /* terminal to run on; -1 = open /dev/tty */
    const char *term;       /* TERM for that terminal, or NULL = $TERM */
    PyObject *eval_globals; /* namespace for :eval (borrowed), or NULL */
    PyObject *eval_locals;  /* (borrowed), or NULL */
    PyObject *caller_frame; /* frame that opened the browser, marked on the
                               threads screen (borrowed), or NULL */
    PyObject *own_call;     /* refscope's own argument tuple that holds the
                               caller's objects (the hotkey's), hidden from
                               the snapshot, or NULL */
    struct rs_snapshot *stored; /* browse this snapshot read back from a heap
                                   dump (borrowed) instead of taking one;
                                   what needs live objects is refused */
    PyObject *diff;             /* with stored: (title, holder rows, type rows)
                                   against an older dump, shown first on the
                                   diff screen (borrowed), or NULL */
} rs_browser_options;

/* Takes a snapshot (or shows options->stored) and runs the browser until
 * the user quits.  Needs the
 * GIL (released while waiting for keys).  Returns 0, or -1 with a Python
 * exception set (refscope.Error when there is no usable terminal).  The
 * terminal is restored on every path. */
int rs_browser_run(const rs_browser_options *options);

/* Benchmark: runs the browser on an off-screen 100x30 pty, on the
 * instances of type `target` (a str) or the object screen of `target`, and
 * times `keys` cursor keys, each one handled and drawn.  Returns a new list
 * of seconds per key, or NULL with an exception set.  With target None it
 * opens the summary, as the browser's first screen, and returns a tuple
 * (CPU seconds from the start to the first screen drawn, progress screens
 * drawn on the way, the list of seconds per key). */
PyObject *rs_browser_bench(PyObject *target, int keys);

/* The key table as a new list of (key, help) tuples, for tests and docs;
 * NULL with MemoryError set. */
PyObject *rs_browser_key_table(void);

/* For tests: the rows screen_name ("summary", "types", "garbage", "cycle",
 * "retained", "threads", "growth", "object", "cycles", "closures", "value"
 * or "allocation" (wrapped at 80 columns), "instances" (arg: one of them,
 * for their type); arg as the screen takes it)
 * shows for snapshot s, formatted as on a terminal without UTF-8, without
 * a terminal.  New list of str, or NULL with an exception set. */
struct rs_snapshot;
PyObject *rs_view_rows(struct rs_snapshot *s, const char *screen_name, uint64_t arg, const char *sort);

/* refscope.browse(), refscope._bench_keypress() and refscope._key_table()
 * (module_browser.c), for module.c's method table. */
PyObject *rs_module_browse(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *rs_module_bench_keypress(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *rs_module_key_table(PyObject *module, PyObject *unused);
PyObject *rs_module_screen_rows(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *rs_module_open_dump(PyObject *module, PyObject *args, PyObject *kwargs);

#define RS_BROWSER_METHODS                                                                                  \
    {"browse", (PyCFunction)(void (*)(void))rs_module_browse, METH_FASTCALL | METH_KEYWORDS,                \
     "browse(obj=None, tty=None): the interactive browser on the terminal (obj opens on its object screen; " \
     "tty: a terminal fd, file or path, default /dev/tty).  refscope.Error when there is no terminal."},     \
    {"_bench_keypress", (PyCFunction)(void (*)(void))rs_module_bench_keypress, METH_VARARGS | METH_KEYWORDS, \
     "_bench_keypress(target, n_keys=1000) -> [seconds per key]: keypress-to-redraw on an off-screen pty, " \
     "on the instances of type name `target` or the object screen of object `target`; target None: the "  \
     "summary, returning (seconds to the first screen, progress screens drawn, [seconds per key])."},      \
    {"_key_table", rs_module_key_table, METH_NOARGS, "_key_table() -> [(key, help)]: the browser's keys."},   \
    {"_screen_rows", (PyCFunction)(void (*)(void))rs_module_screen_rows, METH_VARARGS | METH_KEYWORDS,      \
     "_screen_rows(snapshot, screen, arg=0) -> [str]: the rows a screen shows for snapshot, for tests."},  \
    {"_open_dump", (PyCFunction)(void (*)(void))rs_module_open_dump, METH_VARARGS | METH_KEYWORDS,          \
     "_open_dump(dump, tty=None, diff=None): the browser on a heap dump (a path or a DumpFile; "        \
     "`refscope open FILE`), diff: (title, holders, types) from refscope.dumpreport.diff_nodes()."},

#endif

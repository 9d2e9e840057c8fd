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
} rs_browser_options;

/* Takes a snapshot and runs the browser until the user quits.  Needs the
 * GIL (released while waiting for keys).  Returns 0, or -1 with a Python
 * exception set (refscope.Error when there is no usable terminal).  The
 * terminal is restored on every path. */
int rs_browser_run(const rs_browser_options *options);

#endif

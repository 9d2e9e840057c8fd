/*
 * The ways into the browser from outside the program's own code
 * (DESIGN.md section 8): refscope.install() sets a hotkey signal and
 * starts the attach listener; refscope.uninstall() undoes both.
 */
#ifndef REFSCOPE_TRIGGER_H
#define REFSCOPE_TRIGGER_H

#include <Python.h>

/* refscope.install(signum=signal.SIGUSR1): installs the hotkey handler with
 * signal.signal() and starts the attach listener; returns the socket path,
 * or NULL with refscope.Error set (nothing is left installed then). */
PyObject *rs_trigger_install(PyObject *module, PyObject *args, PyObject *kwargs);

/* refscope.uninstall(): stops the listener, removes the socket, and puts
 * back the handler that install() replaced.  Returns None, NULL on error. */
PyObject *rs_trigger_uninstall(PyObject *module, PyObject *ignored);

/* The entries for the module's method table. */
#define RS_TRIGGER_METHODS                                                                               \
    {"install", (PyCFunction)(void (*)(void))rs_trigger_install, METH_VARARGS | METH_KEYWORDS,          \
     "install(signum=signal.SIGUSR1) -> socket path.  The signal opens the browser on the controlling " \
     "terminal in the main thread, and `refscope attach PID` opens it on another terminal."},           \
        {"uninstall", rs_trigger_uninstall, METH_NOARGS,                                                 \
         "Stop listening for `refscope attach` and put back the signal handler install() replaced."},

#endif

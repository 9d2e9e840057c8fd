/*
 * The one test runner.  Python is initialised once here, before Check forks
 * a child per test, so each test gets a private copy of a ready interpreter
 * (no threads exist before the fork; tests that start threads do so in the
 * child).  Engine tests import the built `refscope` package from build/lib.
 */
#include <Python.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

static char rs_str_buf[65536];

static void fail_with_python_error(const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    char msg[8192] = "";
    PyObject *tbmod = PyImport_ImportModule("traceback");
    PyObject *lines = tbmod ? PyObject_CallMethod(tbmod, "format_exception", "OOO",
                                                  type ? type : Py_None, value ? value : Py_None,
                                                  tb ? tb : Py_None)
                            : NULL;
    PyObject *sep = PyUnicode_FromString("");
    PyObject *joined = (lines && sep) ? PyUnicode_Join(sep, lines) : NULL;
    const char *text = joined ? PyUnicode_AsUTF8(joined) : "(no traceback)";
    snprintf(msg, sizeof msg, "%s raised:\n%s", what, text ? text : "?");
    Py_XDECREF(joined);
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(tbmod);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
    ck_abort_msg("%s", msg);
}

static PyObject *main_dict(void)
{
    return PyModule_GetDict(PyImport_AddModule("__main__"));
}

void rs_py_run(const char *code)
{
    PyObject *d = main_dict();
    PyObject *r = PyRun_String(code, Py_file_input, d, d);
    if (r == NULL)
        fail_with_python_error(code);
    Py_DECREF(r);
}

static PyObject *eval(const char *expr)
{
    PyObject *d = main_dict();
    PyObject *r = PyRun_String(expr, Py_eval_input, d, d);
    if (r == NULL)
        fail_with_python_error(expr);
    return r;
}

long rs_py_long(const char *expr)
{
    PyObject *r = eval(expr);
    long v = PyLong_AsLong(r);
    Py_DECREF(r);
    if (v == -1 && PyErr_Occurred())
        fail_with_python_error(expr);
    return v;
}

const char *rs_py_str(const char *expr)
{
    PyObject *r = eval(expr);
    PyObject *s = PyObject_Str(r);
    Py_DECREF(r);
    if (s == NULL)
        fail_with_python_error(expr);
    const char *u = PyUnicode_AsUTF8(s);
    if (u == NULL)
        fail_with_python_error(expr);
    snprintf(rs_str_buf, sizeof rs_str_buf, "%s", u);
    Py_DECREF(s);
    return rs_str_buf;
}

static int init_python(void)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    /* Program name = the interpreter the module was built for, so the
     * embedded interpreter finds the same stdlib. */
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, RS_PYTHON_EXE);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fprintf(stderr, "refscope-tests: cannot initialise Python: %s\n",
                status.err_msg ? status.err_msg : "?");
        return -1;
    }
    PyObject *d = main_dict();
    PyObject *r = PyRun_String("import sys\nsys.path.insert(0, " "'" RS_BUILD_LIB "'" ")\n"
                               "sys.path.insert(1, '" RS_SOURCE_DIR "/tests')\n"
                               "import refscope\n",
                               Py_file_input, d, d);
    if (r == NULL) {
        PyErr_Print();
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (init_python() < 0)
        return 2;
    SRunner *runner = NULL;
#define RS_ADD_SUITE(name)                           \
    if (runner == NULL)                              \
        runner = srunner_create(suite_##name());     \
    else                                             \
        srunner_add_suite(runner, suite_##name());
    RS_TEST_SUITES(RS_ADD_SUITE)
#undef RS_ADD_SUITE
    /* `refscope-tests SUITE` runs one suite (CK_RUN_SUITE works too). */
    if (argc > 1)
        setenv("CK_RUN_SUITE", argv[1], 1);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

/*
 * The closures screen: every function with closure cells, one row per
 * captured variable: function, variable name, the value and the size the
 * value retains, biggest first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>

#include "view.h"

typedef struct closures_data {
    rs_closure_var *rows;
    size_t count;
} closures_data;

enum { COL_RETAINED, COL_SIZE };
static const char *const columns[] = {"retained", "size"};

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    const rs_closure_var *x = &((closures_data *)v->data)->rows[a], *y = &((closures_data *)v->data)->rows[b];
    rs_graph *g = v->browser->snap->graph;
    uint64_t kx = column == COL_SIZE ? rs_graph_size(g, x->value) : x->retained;
    uint64_t ky = column == COL_SIZE ? rs_graph_size(g, y->value) : y->retained;
    return (kx > ky) - (kx < ky);
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = 2,
};

static int closures_open(rs_view *v)
{
    closures_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows = rs_closures(v->browser->snap, &d->count);
    if (d->rows == NULL)
        return -1;
    /* The compiler's __class__ cells (for super()) are never a leak. */
    size_t kept = 0;
    for (size_t i = 0; i < d->count; i++) {
        PyObject *name = rs_closure_var_name(v->browser->snap, &d->rows[i]);
        if (name == NULL)
            return -1;
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "__class__") != 0)
            d->rows[kept++] = d->rows[i];
        Py_DECREF(name);
    }
    d->count = kept;
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void closures_close(rs_view *v)
{
    closures_data *d = v->data;
    if (d != NULL)
        rs_free(d->rows);
    free(d);
    v->data = NULL;
}

static void closures_draw_header(rs_view *v, int row, int width)
{
    char line[200];
    snprintf(line, sizeof line, "%zu captured variables in closures, biggest first (super()'s __class__ left out)",
             ((closures_data *)v->data)->count);
    ui_text(row, 0, width, UI_HEADING, line);
}

static const char *closures_columns(rs_view *v)
{
    (void)v;
    return "variable in function                                flag type                      size retained  value";
}

static int closures_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    const rs_closure_var *r = &((closures_data *)v->data)->rows[row];
    rs_snapshot *s = v->browser->snap;
    PyObject *f = rs_snapshot_object(s, r->function);
    PyObject *qualname = PyFunction_Check(f) ? ((PyFunctionObject *)f)->func_qualname : NULL;
    PyObject *name = rs_closure_var_name(s, r);
    if (name == NULL)
        return -1;
    PyObject *label = PyUnicode_FromFormat("'%S' in %S()", name, qualname ? qualname : Py_None);
    Py_DECREF(name);
    if (label == NULL)
        return -1;
    char text[600];
    rs_fmt_str(label, text, sizeof text);
    Py_DECREF(label);
    rs_fmt_object_row(v->browser, r->value, text, 52, buf, len);
    *style = UI_NORMAL;
    return 0;
}

static rs_idx closures_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    return row == SIZE_MAX ? RS_NONE : ((closures_data *)v->data)->rows[row].value;
}

const rs_view_class rs_view_closures = {
    .screen = RS_SCREEN_CLOSURES,
    .title = "closures",
    .source = &source,
    .open = closures_open,
    .close = closures_close,
    .header_height = rs_view_header_one_line,
    .draw_header = closures_draw_header,
    .columns = closures_columns,
    .format_row = closures_format,
    .selected_node = closures_selected,
};

/*
 * The diff screen of `refscope open NEW --diff OLD`: what grew since the
 * older dump, first by holder (the containers whose retained size grew the
 * most, named by their path in this dump, MAT's "compare dominator trees"),
 * then by type (objects matched by address and type).  The rows are the
 * ones `refscope diff` prints (dumpreport.diff_nodes() computes them and
 * hands them over in rs_browser.diff); Enter on a holder opens it, on a
 * type its instances.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "view.h"

enum diff_row_kind { ROW_HOLDERS, ROW_HOLDER, ROW_TYPES, ROW_TYPE };

typedef struct diff_row {
    enum diff_row_kind kind;
    Py_ssize_t item; /* index into the holders or types list */
} diff_row;

typedef struct diff_data {
    PyObject *holders; /* [(node, path, grown, objects, type)] (borrowed from the browser) */
    PyObject *types;   /* [(type, delta_count, delta_size, new)] */
    diff_row *rows;
    size_t count;
} diff_data;

static const vm_source source = {.matches = rs_view_row_matches};

/* The diff the browser was given: (title, holders, types), checked. */
static int diff_lists(rs_browser *b, PyObject **holders, PyObject **types)
{
    if (b->diff == NULL) {
        PyErr_SetString(rs_error, "no older dump to compare with: open the newer one with refscope open NEW "
                                  "--diff OLD");
        return -1;
    }
    if (!PyTuple_Check(b->diff) || PyTuple_GET_SIZE(b->diff) != 3 || !PyList_Check(PyTuple_GET_ITEM(b->diff, 1)) ||
        !PyList_Check(PyTuple_GET_ITEM(b->diff, 2))) {
        PyErr_SetString(PyExc_TypeError, "diff must be (title, [holder rows], [type rows])");
        return -1;
    }
    *holders = PyTuple_GET_ITEM(b->diff, 1);
    *types = PyTuple_GET_ITEM(b->diff, 2);
    return 0;
}

static int diff_open(rs_view *v)
{
    diff_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    if (diff_lists(v->browser, &d->holders, &d->types) < 0)
        return -1;
    Py_ssize_t holders = PyList_GET_SIZE(d->holders), types = PyList_GET_SIZE(d->types);
    d->rows = malloc((size_t)(holders + types + 2) * sizeof *d->rows);
    if (d->rows == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    d->rows[d->count++] = (diff_row){ROW_HOLDERS, 0};
    for (Py_ssize_t i = 0; i < holders; i++)
        d->rows[d->count++] = (diff_row){ROW_HOLDER, i};
    d->rows[d->count++] = (diff_row){ROW_TYPES, 0};
    for (Py_ssize_t i = 0; i < types; i++)
        d->rows[d->count++] = (diff_row){ROW_TYPE, i};
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void diff_close(rs_view *v)
{
    diff_data *d = v->data;
    if (d != NULL)
        free(d->rows);
    free(d);
    v->data = NULL;
}

static const char *diff_header_text(rs_view *v, char *buf, size_t len)
{
    PyObject *title = PyTuple_GET_ITEM(v->browser->diff, 0);
    const char *text = PyUnicode_Check(title) ? PyUnicode_AsUTF8(title) : NULL;
    if (text == NULL)
        PyErr_Clear();
    snprintf(buf, len, "Growth %s: the holders whose retained size grew the most, by their path in this dump, "
             "then the types (Enter opens a holder or lists a type's objects)", text ? text : "");
    return buf;
}

/* "+1.2M" / "-512B" for a signed byte count. */
static const char *signed_size(long long bytes, char *buf)
{
    char size[16];
    snprintf(buf, 20, "%c%s", bytes < 0 ? '-' : '+', rs_fmt_size((uint64_t)(bytes < 0 ? -bytes : bytes), size));
    return buf;
}

static int diff_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    diff_data *d = v->data;
    const diff_row *r = &d->rows[row];
    *style = UI_NORMAL;
    char size[20];
    long long grown, objects, count;
    Py_ssize_t node;
    const char *path, *type;
    switch (r->kind) {
    case ROW_HOLDERS:
        snprintf(buf, len, "Growth by holder: retained  objects  path (type)%s",
                 PyList_GET_SIZE(d->holders) ? "" : ": nothing retains more than before");
        *style = UI_HEADING;
        return 0;
    case ROW_TYPES:
        snprintf(buf, len, "Growth by type:       size    objects        new  type");
        *style = UI_HEADING;
        return 0;
    case ROW_HOLDER:
        if (!PyArg_ParseTuple(PyList_GET_ITEM(d->holders, r->item), "nsLLs", &node, &path, &grown,
                              &objects, &type))
            return -1;
        snprintf(buf, len, "  %9s %+9lld  %s (%s)", signed_size(grown, size), objects, path, type);
        return 0;
    case ROW_TYPE:
        if (!PyArg_ParseTuple(PyList_GET_ITEM(d->types, r->item), "sLLL", &type, &count, &grown, &objects))
            return -1;
        snprintf(buf, len, "  %18s %+10lld %10lld  %s", signed_size(grown, size), count, objects, type);
        return 0;
    }
    return 0;
}

static rs_idx diff_selected(rs_view *v)
{
    diff_data *d = v->data;
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX || d->rows[row].kind != ROW_HOLDER)
        return RS_NONE;
    Py_ssize_t node = PyLong_AsSsize_t(PyTuple_GET_ITEM(PyList_GET_ITEM(d->holders, d->rows[row].item), 0));
    if (node < 0 || (size_t)node >= rs_graph_node_count(v->browser->snap->graph)) {
        PyErr_Clear();
        return RS_NONE;
    }
    return (rs_idx)node;
}

/* Enter on a type row lists that type's objects (holder rows open as any object row). */
static int diff_key(rs_view *v, enum rs_action action)
{
    diff_data *d = v->data;
    size_t row = vm_list_selected(&v->list);
    if (action != RS_ACTION_FOLLOW || row == SIZE_MAX || d->rows[row].kind != ROW_TYPE)
        return RS_REACT_UNHANDLED;
    PyObject *name = PyTuple_GET_ITEM(PyList_GET_ITEM(d->types, d->rows[row].item), 0);
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    int64_t t = text ? rs_snapshot_type_lookup(v->browser->snap, text) : -1;
    PyErr_Clear();
    if (t < 0)
        rs_browser_error(v->browser, "no %s objects are left in this dump", text ? text : "such");
    else
        rs_browser_open(v->browser, RS_SCREEN_INSTANCES, (uint64_t)t, 0);
    return RS_REACT_REDRAW;
}

const rs_view_class rs_view_diff = {
    .screen = RS_SCREEN_DIFF,
    .title = "diff",
    .source = &source,
    .open = diff_open,
    .close = diff_close,
    .header_height = rs_view_header_wrapped,
    .draw_header = rs_view_draw_header_wrapped,
    .header_text = diff_header_text,
    .format_row = diff_format,
    .selected_node = diff_selected,
    .key = diff_key,
};

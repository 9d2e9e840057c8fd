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
    rs_grouping groups;   /* first (see rs_grouping_compare): one def's variable holding one type */
    rs_closure_var *rows; /* the items: one captured variable each */
    size_t count;
    size_t hidden;        /* the standard library's, left out */
} closures_data;

static const char *const columns[] = {"retained", "size"}; /* as rs_grouping_compare() numbers them */

/* The function's code object: one per def, shared by every closure a def
 * made (2000 on_done()s from one handle()). */
static rs_idx code_of(rs_snapshot *s, const rs_closure_var *cv)
{
    rs_idx code = rs_node_function_code(s, cv->function);
    return code == RS_NONE ? cv->function : code;
}

/* Same group: the same def's same variable holding the same type. */
static int same_key(void *ctx, size_t a, size_t b)
{
    rs_view *v = ctx;
    closures_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    const rs_closure_var *x = &d->rows[a], *y = &d->rows[b];
    rs_idx cx = code_of(s, x), cy = code_of(s, y);
    if (cx != cy)
        return cx < cy ? -1 : 1;
    if (x->var != y->var)
        return x->var < y->var ? -1 : 1;
    uint32_t tx = rs_graph_type_id(s->graph, x->value), ty = rs_graph_type_id(s->graph, y->value);
    return (tx > ty) - (tx < ty);
}

static uint64_t item_size(void *ctx, size_t item)
{
    return rs_graph_size(((rs_view *)ctx)->browser->snap->graph, ((closures_data *)((rs_view *)ctx)->data)->rows[item].value);
}

static uint64_t item_retained(void *ctx, size_t item)
{
    return ((closures_data *)((rs_view *)ctx)->data)->rows[item].retained;
}

static const vm_source source = {
    .compare = rs_grouping_compare,
    .matches = rs_view_row_matches,
    .parent = rs_grouping_parent_of,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int closures_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    closures_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows = rs_closures(s, &d->count);
    if (d->rows == NULL)
        return -1;
    /* The compiler's __class__ cells (for super()) are never a leak; the
     * standard library's closures are left out unless asked for. */
    size_t kept = 0;
    for (size_t i = 0; i < d->count; i++) {
        PyObject *name = rs_closure_var_name(s, &d->rows[i]);
        if (name == NULL)
            return -1;
        bool super_cell = PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "__class__") == 0;
        Py_DECREF(name);
        if (super_cell)
            continue;
        int stdlib = v->browser->show_stdlib ? 0 : rs_code_in_stdlib(rs_node_live_object(s, code_of(s, &d->rows[i])));
        if (stdlib < 0)
            return -1;
        if (stdlib)
            d->hidden++;
        else
            d->rows[kept++] = d->rows[i];
    }
    d->count = kept;
    if (rs_grouping_build(&d->groups, d->count, same_key, item_retained, item_size, v) < 0)
        return -1;
    rs_grouping_unfold(&d->groups, v->place.unfolded);
    vm_list_init(&v->list, &source, v, d->groups.row_count);
    return 0;
}

static void closures_close(rs_view *v)
{
    closures_data *d = v->data;
    if (d != NULL) {
        rs_free(d->rows);
        rs_grouping_free(&d->groups);
    }
    free(d);
    v->data = NULL;
}

static const char *header_text(rs_view *v, char *line, size_t len)
{
    closures_data *d = v->data;
    snprintf(line, len,
             "%zu captured variables in %zu group%s, biggest first (Enter unfolds a group). Standard library "
             "closures: %zu %s (%s)",
             d->count, d->groups.group_count, d->groups.group_count == 1 ? "" : "s", d->hidden,
             v->browser->show_stdlib ? "shown" : "hidden", rs_key_name(RS_ACTION_STDLIB));
    return line;
}

static const char *closures_columns(rs_view *v)
{
    (void)v;
    return "variable in function                                flag type                      size retained  value";
}

/* "'payload' in handle.<locals>.on_done()" for item i, into text. */
static int item_label(rs_view *v, size_t i, char *text, size_t len)
{
    const rs_closure_var *r = &((closures_data *)v->data)->rows[i];
    rs_snapshot *s = v->browser->snap;
    PyObject *qualname = rs_node_function_name(s, r->function);
    PyObject *name = qualname ? rs_closure_var_name(s, r) : NULL;
    if (name == NULL) {
        Py_XDECREF(qualname);
        return -1;
    }
    PyObject *label = PyUnicode_FromFormat("'%S' in %S()", name, qualname);
    Py_DECREF(name);
    Py_DECREF(qualname);
    if (label == NULL)
        return -1;
    rs_fmt_str(label, text, len);
    Py_DECREF(label);
    return 0;
}

#define LABEL_WIDTH 52

/* The label column's width: a longer label pushes the other columns right
 * instead of being cut. */
static int label_width(const char *label)
{
    return ui_text_width(label) > LABEL_WIDTH ? -1 : LABEL_WIDTH;
}

static int closures_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    closures_data *d = v->data;
    const rs_group_row *gr = &d->groups.rows[row];
    const rs_group *grp = &d->groups.groups[gr->group];
    size_t first = d->groups.items[grp->first];
    size_t item = rs_grouping_item(&d->groups, row);
    char label[600], text[640];
    *style = UI_NORMAL;
    if (item_label(v, item == SIZE_MAX ? first : item, label, sizeof label) < 0)
        return -1;
    if (item != SIZE_MAX) {
        snprintf(text, sizeof text, "%s%s", gr->parent != SIZE_MAX ? "  " : "", label);
        rs_fmt_object_row(v->browser, d->rows[item].value, text, label_width(text), buf, len);
        return 0;
    }
    /* A group: how many, their type, their sizes added up. */
    snprintf(text, sizeof text, "%zu x %s", grp->count, label);
    rs_fmt_group_row(v->browser, grp, d->rows[first].value, text, label_width(text), NULL, buf, len);
    *style = UI_HEADING;
    return 0;
}

static rs_idx closures_selected(rs_view *v)
{
    closures_data *d = v->data;
    size_t item = rs_grouping_selected(v, &d->groups);
    return item == SIZE_MAX ? RS_NONE : d->rows[item].value;
}

static int closures_key(rs_view *v, enum rs_action action)
{
    if (action == RS_ACTION_FOLLOW)
        return rs_grouping_toggle(v, &((closures_data *)v->data)->groups, 0);
    return RS_REACT_UNHANDLED;
}

const rs_view_class rs_view_closures = {
    .screen = RS_SCREEN_CLOSURES,
    .title = "closures",
    .source = &source,
    .open = closures_open,
    .close = closures_close,
    .header_height = rs_view_header_wrapped,
    .draw_header = rs_view_draw_header_wrapped,
    .header_text = header_text,
    .columns = closures_columns,
    .format_row = closures_format,
    .selected_node = closures_selected,
    .key = closures_key,
    .folds = true,
};

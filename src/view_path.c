/*
 * The path screen: why an object is alive.  The shortest path from a root
 * (modules first, then thread frames, then objects held by C), one row per
 * step with its edge label, and the whole path as one Python expression.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

typedef struct path_data {
    rs_idx *nodes; /* from the root's target to the object */
    size_t len;
    const rs_root *root;
    char *expression; /* UTF-8, escaped */
} path_data;

static const vm_source source = {.matches = rs_view_row_matches};

static int path_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    path_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    int r = rs_path_find(s, (rs_idx)v->place.arg, &d->nodes, &d->len, &d->root);
    if (r < 0)
        return -1;
    if (r == 1) {
        PyObject *e = rs_path_expression(s, d->nodes, d->len, d->root);
        if (e == NULL)
            return -1;
        char text[4096];
        d->expression = strdup(rs_fmt_str(e, text, sizeof text));
        Py_DECREF(e);
        if (d->expression == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    } else {
        d->nodes = NULL;
        d->len = 0;
    }
    vm_list_init(&v->list, &source, v, d->len);
    /* The interesting end is the object itself: start there. */
    vm_list_move_to(&v->list, d->len ? d->len - 1 : 0);
    return 0;
}

static void path_close(rs_view *v)
{
    path_data *d = v->data;
    if (d != NULL) {
        rs_free(d->nodes);
        free(d->expression);
    }
    free(d);
    v->data = NULL;
}

static int path_header_height(rs_view *v, int width)
{
    path_data *d = v->data;
    if (d->expression == NULL)
        return 2;
    int w = ui_text_width(d->expression) + 12;
    return 1 + (w + width - 1) / (width > 0 ? width : 1);
}

static void path_draw_header(rs_view *v, int row, int width)
{
    path_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    char line[300];
    snprintf(line, sizeof line, "why is this %s alive?", rs_snapshot_type_name(s, (rs_idx)v->place.arg));
    ui_text(row, 0, width, UI_HEADING, line);
    if (d->expression == NULL) {
        char line[160];
        snprintf(line, sizeof line, "not reachable from any root: cyclic garbage waiting for the collector (%s shows garbage)",
                 rs_key_name(RS_ACTION_GARBAGE));
        ui_text(row + 1, 0, width, UI_ERROR, line);
        return;
    }
    /* The expression, wrapped over as many lines as it needs. */
    const char *p = d->expression;
    int r = row + 1;
    int x = ui_text(r, 0, width, UI_DIM, "alive via: ");
    while (*p) {
        size_t fit = ui_text_fit(p, width - x);
        if (fit == 0)
            break;
        char chunk[1024];
        size_t n = fit < sizeof chunk - 1 ? fit : sizeof chunk - 1;
        memcpy(chunk, p, n);
        chunk[n] = '\0';
        ui_text(r++, x, width - x, UI_NORMAL, chunk);
        p += n;
        x = 0;
    }
}

static const char *path_columns(rs_view *v)
{
    (void)v;
    return "step                                   flag type                      size retained  repr";
}

static int path_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    path_data *d = v->data;
    PyObject *label = rs_path_step_label(v->browser->snap, d->nodes, row, d->root);
    if (label == NULL)
        return -1;
    char text[300];
    rs_fmt_object_row(v->browser, d->nodes[row], rs_fmt_str(label, text, sizeof text), 38, buf, len);
    Py_DECREF(label);
    *style = row + 1 == d->len ? UI_HEADING : UI_NORMAL;
    return 0;
}

static rs_idx path_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    return row == SIZE_MAX ? RS_NONE : ((path_data *)v->data)->nodes[row];
}

const rs_view_class rs_view_path = {
    .screen = RS_SCREEN_PATH,
    .title = "path",
    .source = &source,
    .open = path_open,
    .close = path_close,
    .header_height = path_header_height,
    .draw_header = path_draw_header,
    .columns = path_columns,
    .format_row = path_format,
    .selected_node = path_selected,
};

/*
 * The retained set: everything the object dominates, i.e. what freeing it
 * would free, biggest retained size first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>

#include "refscope/dom.h"
#include "view.h"

typedef struct retained_data {
    rs_node_rows rows; /* first: see rs_node_rows_compare() */
    uint64_t total; /* their sizes: what freeing the object frees */
} retained_data;

enum { COL_RETAINED, COL_SIZE };
static const char *const columns[] = {"retained", "size"};
static const rs_node_key column_keys[] = {RS_KEY_RETAINED, RS_KEY_SIZE};

static const vm_source source = {
    .compare = rs_node_rows_compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int retained_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    rs_idx n = (rs_idx)v->place.arg;
    retained_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows.keys = column_keys;
    d->rows.nodes = rs_retained_set(s, n, &d->rows.count);
    if (d->rows.nodes == NULL)
        return -1;
    d->total = rs_retained_set_size(s, d->rows.nodes, d->rows.count);
    vm_list_init(&v->list, &source, v, d->rows.count);
    return vm_list_sort(&v->list, COL_RETAINED, true) < 0 ? (PyErr_NoMemory(), -1) : 0;
}

static void retained_close(rs_view *v)
{
    retained_data *d = v->data;
    if (d != NULL)
        rs_free(d->rows.nodes);
    free(d);
    v->data = NULL;
}

static void retained_draw_header(rs_view *v, int row, int width)
{
    retained_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    rs_idx n = (rs_idx)v->place.arg;
    char line[300], size[16];
    if (rs_dom_reachable(s->dom, n))
        snprintf(line, sizeof line, "freeing this %s would free %zu objects, %s", rs_snapshot_type_name(s, n),
                 d->rows.count, rs_fmt_size(d->total, size));
    else
        snprintf(line, sizeof line, "garbage: the collection that frees this %s frees %zu objects, %s",
                 rs_snapshot_type_name(s, n), d->rows.count, rs_fmt_size(d->total, size));
    ui_text(row, 0, width, UI_HEADING, line);
}

static const char *retained_columns(rs_view *v)
{
    (void)v;
    return "flag type                      size retained  repr";
}

static int retained_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    rs_fmt_object_row(v->browser, ((retained_data *)v->data)->rows.nodes[row], NULL, 0, buf, len);
    *style = UI_NORMAL;
    return 0;
}

static rs_idx retained_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    return row == SIZE_MAX ? RS_NONE : ((retained_data *)v->data)->rows.nodes[row];
}

const rs_view_class rs_view_retained = {
    .screen = RS_SCREEN_RETAINED,
    .title = "retained set",
    .source = &source,
    .open = retained_open,
    .close = retained_close,
    .header_height = rs_view_header_one_line,
    .draw_header = retained_draw_header,
    .columns = retained_columns,
    .format_row = retained_format,
    .selected_node = retained_selected,
};

/*
 * The instances screen: every object of one type (or only those new since
 * the mark).  The list is virtual: a million instances open at once, and
 * reprs are computed only for the rows on screen.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>

#include "refscope/dom.h"
#include "view.h"

typedef struct instances_data {
    rs_node_rows rows; /* first: see rs_node_rows_compare() */
    uint64_t total_size;
} instances_data;

static const char *const columns[] = {"size", "retained", "address"};
static const rs_node_key column_keys[] = {RS_KEY_SIZE, RS_KEY_RETAINED, RS_KEY_ADDRESS};

static const vm_source source = {
    .compare = rs_node_rows_compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int instances_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    if (v->place.arg >= s->type_count) {
        PyErr_SetString(PyExc_IndexError, "no such type in this snapshot");
        return -1;
    }
    instances_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows.keys = column_keys;
    d->rows.nodes = rs_census_instances(s, (uint32_t)v->place.arg, &d->rows.count);
    if (d->rows.nodes == NULL)
        return -1;
    if (v->place.arg2) { /* only what is new since the mark */
        size_t kept = 0;
        for (size_t i = 0; i < d->rows.count; i++)
            if (rs_growth_is_new(s, d->rows.nodes[i]))
                d->rows.nodes[kept++] = d->rows.nodes[i];
        d->rows.count = kept;
    }
    for (size_t i = 0; i < d->rows.count; i++)
        d->total_size += rs_graph_size(s->graph, d->rows.nodes[i]);
    vm_list_init(&v->list, &source, v, d->rows.count);
    return 0;
}

static void instances_close(rs_view *v)
{
    instances_data *d = v->data;
    if (d != NULL)
        rs_free(d->rows.nodes);
    free(d);
    v->data = NULL;
}

static void instances_draw_header(rs_view *v, int row, int width)
{
    instances_data *d = v->data;
    char line[400], size[16];
    snprintf(line, sizeof line, "%zu %sobjects of type %s, %s in all", d->rows.count,
             v->place.arg2 ? "new (since the mark) " : "", v->browser->snap->types[v->place.arg].name,
             rs_fmt_size(d->total_size, size));
    ui_text(row, 0, width, UI_HEADING, line);
}

static const char *instances_columns(rs_view *v)
{
    (void)v;
    return "address         flag type                      size retained  repr";
}

static int instances_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    instances_data *d = v->data;
    rs_idx n = d->rows.nodes[row];
    char address[32];
    snprintf(address, sizeof address, "0x%012llx",
             (unsigned long long)rs_graph_addr(v->browser->snap->graph, n));
    rs_fmt_object_row(v->browser, n, address, 15, buf, len);
    *style = UI_NORMAL;
    return 0;
}

static rs_idx instances_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    return row == SIZE_MAX ? RS_NONE : ((instances_data *)v->data)->rows.nodes[row];
}

const rs_view_class rs_view_instances = {
    .screen = RS_SCREEN_INSTANCES,
    .title = "instances",
    .source = &source,
    .open = instances_open,
    .close = instances_close,
    .header_height = rs_view_header_one_line,
    .draw_header = instances_draw_header,
    .columns = instances_columns,
    .format_row = instances_format,
    .selected_node = instances_selected,
};

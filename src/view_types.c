/*
 * The types screen: the census, one row per type (count, size, retained
 * size without double counting, as census() and the report give it);
 * Enter lists the type's instances.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suspects.h"
#include "view.h"

typedef struct types_data {
    rs_census_row *rows;
    size_t count;
} types_data;

enum { COL_SIZE, COL_COUNT, COL_RETAINED, COL_NAME };
static const char *const columns[] = {"size", "count", "retained", "name"};

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    types_data *d = v->data;
    const rs_census_row *x = &d->rows[a], *y = &d->rows[b];
    switch (column) {
    case COL_SIZE: return (x->size > y->size) - (x->size < y->size);
    case COL_COUNT: return (x->count > y->count) - (x->count < y->count);
    case COL_RETAINED: return (x->retained > y->retained) - (x->retained < y->retained);
    default:
        /* Names read best A..Z, so "descending" shows them A first. */
        return strcmp(v->browser->snap->types[y->type_id].name, v->browser->snap->types[x->type_id].name);
    }
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int types_open(rs_view *v)
{
    types_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows = rs_suspect_census(v->browser->snap, &d->count);
    if (d->rows == NULL)
        return -1;
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void types_close(rs_view *v)
{
    types_data *d = v->data;
    if (d != NULL)
        rs_free(d->rows);
    free(d);
    v->data = NULL;
}

static void types_draw_header(rs_view *v, int row, int width)
{
    (void)v;
    ui_text(row, 0, width, UI_DIM,
            "retained: freed with all the type's instances (one inside another counted once; modules, types, code 0)");
}

static const char *types_columns(rs_view *v)
{
    (void)v;
    return "     size      count   retained  type";
}

static int types_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    types_data *d = v->data;
    const rs_census_row *r = &d->rows[row];
    char size[16], retained[16];
    snprintf(buf, len, "%9s %10zu %10s  %s", rs_fmt_size(r->size, size), r->count, rs_fmt_size(r->retained, retained),
             v->browser->snap->types[r->type_id].name);
    *style = UI_NORMAL;
    return 0;
}

static int types_key(rs_view *v, enum rs_action action)
{
    if (action != RS_ACTION_FOLLOW)
        return RS_REACT_UNHANDLED;
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX)
        return RS_REACT_NONE;
    rs_browser_open(v->browser, RS_SCREEN_INSTANCES, ((types_data *)v->data)->rows[row].type_id, 0);
    return RS_REACT_REDRAW;
}

static rs_idx types_selected(rs_view *v)
{
    (void)v;
    return RS_NONE;
}

const rs_view_class rs_view_types = {
    .screen = RS_SCREEN_TYPES,
    .title = "types",
    .source = &source,
    .open = types_open,
    .close = types_close,
    .header_height = rs_view_header_one_line,
    .draw_header = types_draw_header,
    .columns = types_columns,
    .format_row = types_format,
    .selected_node = types_selected,
    .key = types_key,
};

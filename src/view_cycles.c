/*
 * The cycles screen: every reference cycle among data objects (strongly
 * connected components over data edges), biggest retained first.  Enter opens the
 * cycle explorer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refscope/scc.h"
#include "view.h"

typedef struct cycles_data {
    rs_cycle *rows;
    size_t count;
} cycles_data;

enum { COL_RETAINED, COL_SIZE, COL_MEMBERS };
static const char *const columns[] = {"retained", "size", "members"};

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    const rs_cycle *x = &((cycles_data *)v->data)->rows[a], *y = &((cycles_data *)v->data)->rows[b];
    uint64_t kx = column == COL_RETAINED ? x->retained : column == COL_SIZE ? x->size : x->member_count;
    uint64_t ky = column == COL_RETAINED ? y->retained : column == COL_SIZE ? y->size : y->member_count;
    return (kx > ky) - (kx < ky);
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = 3,
};

static int cycles_open(rs_view *v)
{
    cycles_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows = rs_cycles(v->browser->snap, &d->count);
    if (d->rows == NULL)
        return -1;
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void cycles_close(rs_view *v)
{
    cycles_data *d = v->data;
    if (d != NULL)
        rs_free(d->rows);
    free(d);
    v->data = NULL;
}

static void cycles_draw_header(rs_view *v, int row, int width)
{
    char line[200];
    snprintf(line, sizeof line, "%zu reference cycles among data objects (Enter explores one)",
             ((cycles_data *)v->data)->count);
    ui_text(row, 0, width, UI_HEADING, line);
}

static const char *cycles_columns(rs_view *v)
{
    (void)v;
    return "retained     size  members  types (most common first)";
}

static int cycles_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    rs_snapshot *s = v->browser->snap;
    const rs_cycle *r = &((cycles_data *)v->data)->rows[row];
    size_t count = r->member_count;
    const rs_idx *members = r->members;
    const char *names[3] = {NULL, NULL, NULL};
    size_t counts[3] = {0, 0, 0};
    for (size_t i = 0; i < count && i < 10000; i++) {
        const char *name = rs_snapshot_type_name(s, members[i]);
        for (int k = 0; k < 3; k++)
            if (names[k] == NULL || strcmp(names[k], name) == 0) {
                names[k] = name;
                counts[k]++;
                break;
            }
    }
    char size[16], retained[16];
    size_t pos = (size_t)snprintf(buf, len, "%8s %8s %8zu  ", rs_fmt_size(r->retained, retained),
                                  rs_fmt_size(r->size, size), r->member_count);
    for (int k = 0; k < 3 && names[k] != NULL && pos < len; k++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s x%zu", k ? ", " : "", names[k], counts[k]);
    *style = UI_NORMAL;
    return 0;
}

static int cycles_key(rs_view *v, enum rs_action action)
{
    size_t row = vm_list_selected(&v->list);
    if ((action != RS_ACTION_FOLLOW && action != RS_ACTION_CYCLE) || row == SIZE_MAX)
        return RS_REACT_UNHANDLED;
    rs_browser_open(v->browser, RS_SCREEN_CYCLE, ((cycles_data *)v->data)->rows[row].number, 0);
    return RS_REACT_REDRAW;
}

static rs_idx cycles_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX)
        return RS_NONE;
    const rs_cycle *c = &((cycles_data *)v->data)->rows[row];
    return c->member_count ? c->members[0] : RS_NONE;
}

const rs_view_class rs_view_cycles = {
    .screen = RS_SCREEN_CYCLES,
    .title = "cycles",
    .source = &source,
    .open = cycles_open,
    .close = cycles_close,
    .header_height = rs_view_header_one_line,
    .draw_header = cycles_draw_header,
    .columns = cycles_columns,
    .format_row = cycles_format,
    .selected_node = cycles_selected,
    .key = cycles_key,
};

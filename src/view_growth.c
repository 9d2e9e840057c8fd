/*
 * Growth: the current snapshot against the mark (:mark or refscope.mark(),
 * growth.c keeps it for the process, so it spans browser sessions: mark,
 * leave, let the program run, come back, press 7), per type, biggest
 * growth first; Enter lists the new objects of a type.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

typedef struct growth_data {
    rs_growth_result result;
    bool computed;
} growth_data;

enum { COL_DELTA_SIZE, COL_DELTA_COUNT, COL_NEW };
static const char *const columns[] = {"size growth", "count growth", "new objects"};

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    const rs_growth_row *x = &((growth_data *)v->data)->result.rows[a];
    const rs_growth_row *y = &((growth_data *)v->data)->result.rows[b];
    int64_t kx = column == COL_DELTA_SIZE ? x->delta_size : column == COL_DELTA_COUNT ? x->delta_count : (int64_t)x->new_count;
    int64_t ky = column == COL_DELTA_SIZE ? y->delta_size : column == COL_DELTA_COUNT ? y->delta_count : (int64_t)y->new_count;
    return (kx > ky) - (kx < ky);
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int growth_open(rs_view *v)
{
    growth_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    if (rs_growth_has_mark() || v->browser->snap->stored != NULL) { /* a dump: rs_growth() says why not */
        if (rs_growth(v->browser->snap, &d->result) < 0)
            return -1;
        d->computed = true;
    }
    vm_list_init(&v->list, &source, v, d->result.row_count);
    return 0;
}

static void growth_close(rs_view *v)
{
    growth_data *d = v->data;
    if (d != NULL && d->computed)
        rs_growth_result_free(&d->result);
    free(d);
    v->data = NULL;
}

static void growth_draw_header(rs_view *v, int row, int width)
{
    char line[200];
    growth_data *d = v->data;
    if (!d->computed)
        snprintf(line, sizeof line, "no mark yet: :mark remembers every object; later :growth shows what is new");
    else
        snprintf(line, sizeof line, "%zu types changed since the mark %.0f s ago, %zu new objects; Enter lists them",
                 d->result.row_count, rs_growth_mark_age(), d->result.new_total);
    ui_text(row, 0, width, UI_HEADING, line);
}

static const char *growth_columns(rs_view *v)
{
    (void)v;
    return "size growth  count growth      new  type";
}

static int growth_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    const rs_growth_row *r = &((growth_data *)v->data)->result.rows[row];
    char size[16];
    rs_fmt_size((uint64_t)(r->delta_size < 0 ? -r->delta_size : r->delta_size), size);
    snprintf(buf, len, "%c%10s %+13lld %8zu  %s", r->delta_size < 0 ? '-' : '+', size, (long long)r->delta_count,
             r->new_count, r->type_name);
    *style = UI_NORMAL;
    return 0;
}

static int growth_key(rs_view *v, enum rs_action action)
{
    size_t row = vm_list_selected(&v->list);
    if (action != RS_ACTION_FOLLOW || row == SIZE_MAX)
        return RS_REACT_UNHANDLED;
    const rs_growth_row *r = &((growth_data *)v->data)->result.rows[row];
    if (r->type_id == UINT32_MAX || r->new_count == 0)
        rs_browser_error(v->browser, "no new %s objects to list", r->type_name);
    else
        rs_browser_open(v->browser, RS_SCREEN_INSTANCES, (uint64_t)r->type_id, 1);
    return RS_REACT_REDRAW;
}

static rs_idx growth_selected(rs_view *v)
{
    (void)v;
    return RS_NONE;
}

const rs_view_class rs_view_growth = {
    .screen = RS_SCREEN_GROWTH,
    .title = "growth since :mark",
    .source = &source,
    .open = growth_open,
    .close = growth_close,
    .header_height = rs_view_header_one_line,
    .draw_header = growth_draw_header,
    .columns = growth_columns,
    .format_row = growth_format,
    .selected_node = growth_selected,
    .key = growth_key,
};

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
#include "suspects.h"
#include "view.h"

typedef struct cycles_data {
    rs_grouping groups; /* first (see rs_grouping_compare): cycles of one shape */
    rs_cycle *rows;     /* the items: one cycle each */
    size_t count;
    rs_cycle_shapes shapes;
} cycles_data;

enum { COL_RETAINED, COL_SIZE, COL_MEMBERS };
static const char *const columns[] = {"retained", "size", "members"};

/* Same group: as many members, of the same types. */
static int same_shape(void *ctx, size_t a, size_t b)
{
    return rs_cycle_shape_compare(&((cycles_data *)((rs_view *)ctx)->data)->shapes, a, b);
}

static uint64_t item_size(void *ctx, size_t item)
{
    return ((cycles_data *)((rs_view *)ctx)->data)->rows[item].size;
}

static uint64_t item_retained(void *ctx, size_t item)
{
    return ((cycles_data *)((rs_view *)ctx)->data)->rows[item].retained;
}

/* Sorting moves whole groups by their totals, or by members per cycle. */
static int compare(void *ctx, size_t a, size_t b, int column)
{
    if (column != COL_MEMBERS)
        return rs_grouping_compare(ctx, a, b, column);
    cycles_data *d = ((rs_view *)ctx)->data;
    const rs_group *x = &d->groups.groups[d->groups.rows[a].group], *y = &d->groups.groups[d->groups.rows[b].group];
    size_t kx = d->rows[d->groups.items[x->first]].member_count, ky = d->rows[d->groups.items[y->first]].member_count;
    return x == y ? 0 : (kx > ky) - (kx < ky);
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .parent = rs_grouping_parent_of,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int cycles_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    cycles_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows = rs_cycles(s, &d->count);
    if (d->rows == NULL)
        return -1;
    if (rs_cycle_shapes_init(&d->shapes, s, d->rows, d->count) < 0)
        return -1;
    if (rs_grouping_build(&d->groups, d->count, same_shape, item_retained, item_size, v) < 0)
        return -1;
    rs_grouping_unfold(&d->groups, v->place.unfolded);
    vm_list_init(&v->list, &source, v, d->groups.row_count);
    return 0;
}

static void cycles_close(rs_view *v)
{
    cycles_data *d = v->data;
    if (d != NULL) {
        rs_free(d->rows);
        rs_cycle_shapes_free(&d->shapes);
        rs_grouping_free(&d->groups);
    }
    free(d);
    v->data = NULL;
}

static void cycles_draw_header(rs_view *v, int row, int width)
{
    char line[200];
    cycles_data *d = v->data;
    snprintf(line, sizeof line, "%zu reference cycles among data objects in %zu shapes (Enter explores one or "
             "lists the cycles of a shape)", d->count, d->groups.group_count);
    ui_text(row, 0, width, UI_HEADING, line);
}

static const char *cycles_columns(rs_view *v)
{
    (void)v;
    return "retained     size  members  types (most common first)";
}

/* "Session x1, SessionState x1": the most common member types. */
static void member_types(rs_snapshot *s, const rs_cycle *r, char *buf, size_t len)
{
    const char *names[3] = {NULL, NULL, NULL};
    size_t counts[3] = {0, 0, 0};
    for (size_t i = 0; i < r->member_count && i < 10000; i++) {
        const char *name = rs_snapshot_type_name(s, r->members[i]);
        for (int k = 0; k < 3; k++)
            if (names[k] == NULL || strcmp(names[k], name) == 0) {
                names[k] = name;
                counts[k]++;
                break;
            }
    }
    size_t pos = 0;
    buf[0] = '\0';
    for (int k = 0; k < 3 && names[k] != NULL && pos < len; k++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s x%zu", k ? ", " : "", names[k], counts[k]);
}

static int cycles_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    rs_snapshot *s = v->browser->snap;
    cycles_data *d = v->data;
    const rs_group_row *gr = &d->groups.rows[row];
    const rs_group *grp = &d->groups.groups[gr->group];
    size_t item = rs_grouping_item(&d->groups, row);
    const rs_cycle *r = &d->rows[item == SIZE_MAX ? d->groups.items[grp->first] : item];
    char size[16], retained[16], types[400];
    member_types(s, r, types, sizeof types);
    *style = UI_NORMAL;
    if (item != SIZE_MAX) {
        snprintf(buf, len, "%8s %8s %8zu  %s%s", rs_fmt_size(r->retained, retained), rs_fmt_size(r->size, size),
                 r->member_count, gr->parent != SIZE_MAX ? "  " : "", types);
        return 0;
    }
    snprintf(buf, len, "%8s %8s %8zu  %zu x cycle of %zu: %s (in all; Enter %s)", rs_fmt_size(grp->retained, retained),
             rs_fmt_size(grp->size, size), r->member_count, grp->count, r->member_count, types,
             grp->open ? "folds them" : "lists them");
    *style = UI_HEADING;
    return 0;
}

/* The cycle a row shows (a group's row: its biggest), or SIZE_MAX. */
static size_t row_cycle(rs_view *v, size_t row)
{
    cycles_data *d = v->data;
    if (row == SIZE_MAX)
        return SIZE_MAX;
    return rs_grouping_item_or_first(&d->groups, row);
}

static int cycles_key(rs_view *v, enum rs_action action)
{
    cycles_data *d = v->data;
    size_t row = vm_list_selected(&v->list);
    if ((action != RS_ACTION_FOLLOW && action != RS_ACTION_CYCLE) || row == SIZE_MAX)
        return RS_REACT_UNHANDLED;
    if (action == RS_ACTION_FOLLOW && rs_grouping_item(&d->groups, row) == SIZE_MAX)
        return rs_grouping_toggle(v, &d->groups, 0);
    rs_browser_open(v->browser, RS_SCREEN_CYCLE, d->rows[row_cycle(v, row)].number, 0);
    return RS_REACT_REDRAW;
}

static rs_idx cycles_selected(rs_view *v)
{
    size_t c = row_cycle(v, vm_list_selected(&v->list));
    if (c == SIZE_MAX)
        return RS_NONE;
    const rs_cycle *r = &((cycles_data *)v->data)->rows[c];
    return r->member_count ? r->members[0] : RS_NONE;
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
    .folds = true,
};

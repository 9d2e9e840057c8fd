/*
 * The garbage screen: what sits in gc.garbage, objects with finalizers in
 * reference cycles, and cyclic garbage awaiting collection (objects no
 * root reaches), each with the reason.  Since PEP 442 (Python 3.4) the
 * collector frees cycles with __del__ too; gc.garbage fills only under
 * gc.DEBUG_SAVEALL or with legacy tp_del types, and the header says so.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>

#include "suspects.h"
#include "view.h"

typedef struct garbage_data {
    rs_garbage_entry *rows;
    size_t count;
    rs_garbage_totals totals; /* the summary's figures */
} garbage_data;

enum { COL_SIZE, COL_RETAINED, COL_REASON };
static const char *const columns[] = {"size", "retained", "reason"};

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    garbage_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    if (column == COL_REASON)
        return (int)d->rows[b].kind - (int)d->rows[a].kind;
    if (column == COL_RETAINED)
        return rs_compare_nodes(s, d->rows[a].node, d->rows[b].node, RS_KEY_RETAINED);
    uint64_t x = rs_graph_size(s->graph, d->rows[a].node), y = rs_graph_size(s->graph, d->rows[b].node);
    return (x > y) - (x < y);
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

static int garbage_open(rs_view *v)
{
    garbage_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->rows = rs_suspect_garbage(v->browser->snap, &d->count);
    if (d->rows == NULL)
        return -1;
    rs_garbage_totals_of(v->browser->snap, d->rows, d->count, &d->totals);
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void garbage_close(rs_view *v)
{
    garbage_data *d = v->data;
    if (d != NULL)
        rs_free(d->rows);
    free(d);
    v->data = NULL;
}

#define WHY_ROWS_MAX 4

/* The header's three parts: the totals, the note on gc.garbage, and why
 * the selected object is listed (in the analysis layer's words; "" when
 * nothing is selected). */
static void header_parts(rs_view *v, char *totals, size_t len, char *why, size_t why_len)
{
    garbage_data *d = v->data;
    const rs_garbage_totals *g = &d->totals;
    char stuck[16];
    snprintf(totals, len,
             "%zu objects: %zu in gc.garbage, %zu with finalizers in live cycles, %zu unreachable in cycles, %zu held "
             "by them (%s stuck)",
             d->count, g->count[RS_GARBAGE_GC_LIST], g->count[RS_GARBAGE_FINALIZER_CYCLE],
             g->count[RS_GARBAGE_UNREACHABLE_CYCLE], g->count[RS_GARBAGE_UNREACHABLE], rs_fmt_size(g->stuck, stuck));
    why[0] = '\0';
    size_t selected = vm_list_selected(&v->list);
    if (selected == SIZE_MAX)
        return;
    PyObject *reason = rs_garbage_reason(v->browser->snap, &d->rows[selected]);
    char text[2400]; /* rs_fmt_str keeps a quarter of it: 600 characters */
    rs_fmt_str(reason, text, sizeof text);
    Py_XDECREF(reason);
    snprintf(why, why_len, "why: %s", text);
}

static const char note[] = "Since Python 3.4 (PEP 442) gc frees cycles with __del__; gc.garbage fills only with "
                           "gc.DEBUG_SAVEALL or legacy tp_del types.";

static int why_rows(const char *why, int width)
{
    int rows = why[0] ? rs_wrapped_rows(why, width) : 0;
    return rows > WHY_ROWS_MAX ? WHY_ROWS_MAX : rows;
}

/* Every part wrapped to the width: nothing is cut. */
static int garbage_header_height(rs_view *v, int width)
{
    char totals[700], why[2500];
    header_parts(v, totals, sizeof totals, why, sizeof why);
    return rs_wrapped_rows(totals, width) + rs_wrapped_rows(note, width) + why_rows(why, width);
}

static void garbage_draw_header(rs_view *v, int row, int width)
{
    char totals[700], why[2500];
    header_parts(v, totals, sizeof totals, why, sizeof why);
    row += rs_draw_wrapped(row, width, rs_wrapped_rows(totals, width), UI_HEADING, totals);
    row += rs_draw_wrapped(row, width, rs_wrapped_rows(note, width), UI_DIM, note);
    rs_draw_wrapped(row, width, why_rows(why, width), UI_FLAG, why);
}

static const char *garbage_columns(rs_view *v)
{
    (void)v;
    return "reason                  flag type                      size retained  repr";
}

static int garbage_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    const rs_garbage_entry *r = &((garbage_data *)v->data)->rows[row];
    rs_fmt_object_row(v->browser, r->node, rs_garbage_kind_name(r->kind), 23, buf, len);
    *style = UI_NORMAL;
    return 0;
}

static rs_idx garbage_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    return row == SIZE_MAX ? RS_NONE : ((garbage_data *)v->data)->rows[row].node;
}

const rs_view_class rs_view_garbage = {
    .screen = RS_SCREEN_GARBAGE,
    .title = "garbage",
    .source = &source,
    .open = garbage_open,
    .close = garbage_close,
    .header_height = garbage_header_height,
    .draw_header = garbage_draw_header,
    .columns = garbage_columns,
    .format_row = garbage_format,
    .selected_node = garbage_selected,
};

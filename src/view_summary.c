/*
 * The summary (home) screen: the leak suspects at a glance, as suspects.c
 * defines them (the report shows the same rows with the same figures).
 * The objects retaining the most that hang directly off a module, a frame
 * or C code, each with its why-alive expression and what it accumulates,
 * the biggest types, growth since the mark, the biggest cycles, garbage,
 * unexplained references and the largest strings.  Enter on a row opens
 * what it names.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refscope/dom.h"
#include "refscope/scc.h"
#include "suspects.h"
#include "view.h"

#define TOP_SUSPECTS 6
#define TOP_TYPES 5
#define TOP_CYCLES 3
#define TOP_UNEXPLAINED 3
#define TOP_STRINGS 3
#define TOP_GROWTH 3

enum row_kind { ROW_HEADING, ROW_NOTE, ROW_SUSPECT, ROW_TYPE, ROW_GROWTH, ROW_CYCLE, ROW_GARBAGE, ROW_UNEXPLAINED,
                ROW_STRING };

typedef struct summary_row {
    enum row_kind kind;
    rs_idx node;
    uint64_t value; /* retained / size / unexplained count */
    uint64_t aux;   /* type id, cycle number, member count */
    char *text;     /* heading text, path expression */
} summary_row;

typedef struct summary_data {
    summary_row *rows;
    size_t count, cap;
    uint64_t stuck; /* bytes in unreachable objects: not in "reachable" */
} summary_data;

static int add_row(summary_data *d, enum row_kind kind, rs_idx node, uint64_t value, uint64_t aux, const char *text)
{
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        summary_row *rows = realloc(d->rows, cap * sizeof *rows);
        if (rows == NULL)
            goto nomem;
        d->rows = rows;
        d->cap = cap;
    }
    char *copy = text ? strdup(text) : NULL;
    if (text != NULL && copy == NULL)
        goto nomem;
    d->rows[d->count++] = (summary_row){kind, node, value, aux, copy};
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* "PATH  holds 3000 x app.Order (94%)" for suspect x, into text. */
static int suspect_text(rs_snapshot *s, const rs_suspect *x, char *text, size_t len)
{
    char path[400] = "(not reachable from a root: garbage)", holds[300];
    PyObject *e = rs_path_text(s, x->node);
    if (e == NULL)
        return -1;
    if (e != Py_None)
        rs_fmt_str(e, path, sizeof path);
    Py_DECREF(e);
    PyObject *a = rs_suspect_accumulation_text(s, x);
    if (a == NULL)
        return -1;
    rs_fmt_str(a, holds, sizeof holds);
    Py_DECREF(a);
    snprintf(text, len, "%s%s%s", path, *holds ? "  " : "", holds);
    return 0;
}

static int add_suspects(summary_data *d, rs_snapshot *s)
{
    size_t count;
    rs_suspect *top = rs_suspects(s, TOP_SUSPECTS, &count);
    if (top == NULL)
        return -1;
    int r = add_row(d, ROW_HEADING, RS_NONE, 0, 0, "Top suspects: what retains the most (Enter opens, p shows the path)");
    for (size_t i = 0; r == 0 && i < count; i++) {
        char text[800];
        r = suspect_text(s, &top[i], text, sizeof text);
        if (r == 0)
            r = add_row(d, ROW_SUSPECT, top[i].node, top[i].retained, 0, text);
    }
    rs_free(top);
    return r;
}

static int add_types(summary_data *d, rs_snapshot *s)
{
    size_t count;
    rs_census_row *rows = rs_suspect_census_counts(s, &count);
    if (rows == NULL)
        return -1;
    char heading[80];
    snprintf(heading, sizeof heading, "Types by size (%s lists them all)", rs_key_name(RS_ACTION_TYPES));
    int r = add_row(d, ROW_HEADING, RS_NONE, 0, 0, heading);
    for (size_t i = 0; r == 0 && i < count && i < TOP_TYPES; i++)
        r = add_row(d, ROW_TYPE, (rs_idx)rows[i].count, rows[i].size, rows[i].type_id, NULL);
    rs_free(rows);
    return r;
}

/* The types that grew most since the mark, when there is one. */
static int add_growth(summary_data *d, rs_snapshot *s)
{
    if (!rs_growth_has_mark())
        return 0;
    rs_growth_result g;
    if (rs_growth(s, &g) < 0)
        return -1;
    char text[300];
    snprintf(text, sizeof text, "Growth since the mark %.0f s ago (%s shows it all)", rs_growth_mark_age(),
             rs_key_name(RS_ACTION_GROWTH));
    int r = add_row(d, ROW_HEADING, RS_NONE, 0, 0, text);
    for (size_t i = 0; r == 0 && i < g.row_count && i < TOP_GROWTH; i++) {
        const rs_growth_row *row = &g.rows[i];
        char size[16];
        rs_fmt_size((uint64_t)(row->delta_size < 0 ? -row->delta_size : row->delta_size), size);
        snprintf(text, sizeof text, "  %c%7s %+9lld  %s", row->delta_size < 0 ? '-' : '+', size,
                 (long long)row->delta_count, row->type_name);
        r = add_row(d, ROW_GROWTH, RS_NONE, 0, 0, text);
    }
    if (r == 0 && g.row_count == 0)
        r = add_row(d, ROW_NOTE, RS_NONE, 0, 0, "  nothing changed");
    rs_growth_result_free(&g);
    return r;
}

static int add_cycles(summary_data *d, rs_snapshot *s)
{
    size_t count, total, unreachable;
    rs_cycle *cycles;
    rs_cycle_fold *folds = rs_suspect_cycle_folds(s, TOP_CYCLES, &cycles, &count, &total, &unreachable);
    if (folds == NULL)
        return -1;
    char text[300];
    snprintf(text, sizeof text, "Biggest cycles by retained size (%zu in all, %zu unreachable; %s lists them)", total,
             unreachable, rs_key_name(RS_ACTION_CYCLES));
    int r = add_row(d, ROW_HEADING, RS_NONE, 0, 0, text);
    if (r == 0 && total == 0)
        r = add_row(d, ROW_NOTE, RS_NONE, 0, 0, "  no reference cycles among data objects");
    for (size_t i = 0; r == 0 && i < count; i++) {
        const rs_cycle *c = &cycles[folds[i].first];
        uint32_t types[3];
        uint64_t counts[3];
        size_t named = rs_cycle_member_types(s, c, types, counts, 3);
        size_t pos = 0;
        if (folds[i].count > 1)
            pos = (size_t)snprintf(text, sizeof text, "%zu x ", folds[i].count);
        pos += (size_t)snprintf(text + pos, sizeof text - pos, "cycle of %zu objects%s", c->member_count,
                                folds[i].garbage ? " (garbage)" : "");
        for (size_t k = 0; k < named && pos < sizeof text; k++)
            pos += (size_t)snprintf(text + pos, sizeof text - pos, "%s%s", k ? ", " : ": ", s->types[types[k]].name);
        r = add_row(d, ROW_CYCLE, (rs_idx)c->member_count, folds[i].retained, c->number, text);
    }
    rs_free(folds);
    rs_free(cycles);
    return r;
}

static int add_garbage(summary_data *d, rs_snapshot *s)
{
    rs_garbage_totals g;
    if (rs_suspect_garbage_totals(s, &g) < 0)
        return -1;
    char text[300], stuck[16];
    snprintf(text, sizeof text,
             "  %zu in gc.garbage, %zu unreachable in cycles, %zu held by them (%s stuck), %zu with finalizers in "
             "live cycles (Enter: %s)",
             g.count[RS_GARBAGE_GC_LIST], g.count[RS_GARBAGE_UNREACHABLE_CYCLE], g.count[RS_GARBAGE_UNREACHABLE],
             rs_fmt_size(g.stuck, stuck), g.count[RS_GARBAGE_FINALIZER_CYCLE], rs_key_name(RS_ACTION_GARBAGE));
    d->stuck = g.stuck;
    if (add_row(d, ROW_HEADING, RS_NONE, 0, 0, "Garbage") < 0)
        return -1;
    return add_row(d, ROW_GARBAGE, RS_NONE, 0, 0, text);
}

static int add_nodes(summary_data *d, enum row_kind kind, rs_snapshot *s, rs_idx *nodes, size_t count)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < count; i++) {
        uint64_t value = kind == ROW_UNEXPLAINED ? (uint64_t)rs_snapshot_unexplained(s, nodes[i])
                                                 : rs_graph_size(s->graph, nodes[i]);
        r = add_row(d, kind, nodes[i], value, 0, NULL);
    }
    rs_free(nodes);
    return r;
}

static int add_unexplained(summary_data *d, rs_snapshot *s)
{
    size_t count;
    rs_idx *nodes = rs_suspect_unexplained(s, TOP_UNEXPLAINED, &count);
    if (nodes == NULL)
        return -1;
    if (add_row(d, ROW_HEADING, RS_NONE, 0, 0, "Unexplained references (held by C code: a leaky extension?)") < 0 ||
        (count == 0 && add_row(d, ROW_NOTE, RS_NONE, 0, 0, "  none") < 0)) {
        rs_free(nodes);
        return -1;
    }
    return add_nodes(d, ROW_UNEXPLAINED, s, nodes, count);
}

static int add_strings(summary_data *d, rs_snapshot *s)
{
    size_t count;
    rs_idx *nodes = rs_suspect_strings(s, TOP_STRINGS, &count);
    if (nodes == NULL)
        return -1;
    if (add_row(d, ROW_HEADING, RS_NONE, 0, 0, "Largest strings") < 0) {
        rs_free(nodes);
        return -1;
    }
    return add_nodes(d, ROW_STRING, s, nodes, count);
}

static bool selectable(void *ctx, size_t row)
{
    rs_view *v = ctx;
    enum row_kind k = ((summary_data *)v->data)->rows[row].kind;
    return k != ROW_HEADING && k != ROW_NOTE;
}

static const vm_source source = {.matches = rs_view_row_matches, .selectable = selectable};

static void summary_close(rs_view *v)
{
    summary_data *d = v->data;
    if (d != NULL) {
        for (size_t i = 0; i < d->count; i++)
            free(d->rows[i].text);
        free(d->rows);
    }
    free(d);
    v->data = NULL;
}

static int summary_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    summary_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    if (add_suspects(d, s) < 0 || add_types(d, s) < 0 || add_growth(d, s) < 0 || add_cycles(d, s) < 0 ||
        add_garbage(d, s) < 0 ||
        add_unexplained(d, s) < 0 || add_strings(d, s) < 0)
        return -1;
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

#define DETAIL_ROWS_MAX 4

/* The whole text of row (a suspect's type, path and what it accumulates;
 * a cycle's or garbage row's text), which the list cuts at the edge of a
 * narrow terminal; NULL for rows without one. */
static const char *row_detail(rs_view *v, size_t row, char *buf, size_t len)
{
    const summary_row *r = &((summary_data *)v->data)->rows[row];
    if (r->kind == ROW_SUSPECT) {
        snprintf(buf, len, "%s %s", rs_snapshot_type_name(v->browser->snap, r->node), r->text);
        return buf;
    }
    if (r->kind == ROW_HEADING || r->text == NULL)
        return NULL;
    const char *text = r->text;
    while (*text == ' ')
        text++;
    snprintf(buf, len, "%s", text);
    return buf;
}

/* Rows of the detail pane at this width: as many as the longest row
 * detail needs (up to DETAIL_ROWS_MAX), so the list does not move when
 * the cursor does. */
static int detail_rows(rs_view *v, int width)
{
    summary_data *d = v->data;
    int rows = 1;
    for (size_t i = 0; i < d->count; i++) {
        char text[1000];
        if (row_detail(v, i, text, sizeof text) != NULL) {
            int n = rs_wrapped_rows(text, width);
            rows = n > rows ? n : rows;
        }
    }
    return rows > DETAIL_ROWS_MAX ? DETAIL_ROWS_MAX : rows;
}

/* The totals line, into line. */
static const char *totals_text(rs_view *v, char *line, size_t len)
{
    rs_snapshot *s = v->browser->snap;
    char size[16], stuck[16];
    uint64_t total = rs_dom_retained(s->dom, RS_DOM_SUPER_ROOT);
    snprintf(line, len, "%zu objects, %zu references, %s reachable (+%s unreachable garbage); snapshot took %.2f s",
             s->visible_count, rs_graph_edge_count(s->graph), rs_fmt_size(total, size),
             rs_fmt_size(((summary_data *)v->data)->stuck, stuck), s->seconds);
    return line;
}

static int summary_header_height(rs_view *v, int width)
{
    char line[256];
    return rs_wrapped_rows(totals_text(v, line, sizeof line), width) + detail_rows(v, width);
}

/* The totals, then the selected row's whole text wrapped: nothing a
 * suspect row says is cut at 80 columns. */
static void summary_draw_header(rs_view *v, int row, int width)
{
    char line[256];
    totals_text(v, line, sizeof line);
    row += rs_draw_wrapped(row, width, rs_wrapped_rows(line, width), UI_DIM, line);
    size_t selected = vm_list_selected(&v->list);
    char text[1000];
    const char *detail = selected == SIZE_MAX ? NULL : row_detail(v, selected, text, sizeof text);
    if (detail == NULL) {
        snprintf(text, sizeof text, "(Enter opens the selected row; %s shows its whole value)",
                 rs_key_name(RS_ACTION_VALUE));
        detail = text;
    }
    rs_draw_wrapped(row, width, detail_rows(v, width), UI_FLAG, detail);
}

static int summary_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    summary_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    const summary_row *r = &d->rows[row];
    char size[16], repr[300], flags[32];
    *style = UI_NORMAL;
    switch (r->kind) {
    case ROW_HEADING:
        *style = UI_HEADING;
        snprintf(buf, len, "%s", r->text);
        break;
    case ROW_NOTE:
    case ROW_GROWTH:
    case ROW_GARBAGE:
        *style = r->kind == ROW_NOTE ? UI_DIM : UI_NORMAL;
        snprintf(buf, len, "%s", r->text);
        break;
    case ROW_SUSPECT:
        snprintf(buf, len, "  %8s %s %-16s %s", rs_fmt_size(r->value, size), rs_fmt_flags(v->browser, r->node, flags),
                 rs_snapshot_type_name(s, r->node), r->text);
        break;
    case ROW_TYPE: /* node holds the count */
        snprintf(buf, len, "  %8s %9u  %s", rs_fmt_size(r->value, size), r->node, s->types[r->aux].name);
        break;
    case ROW_CYCLE:
        snprintf(buf, len, "  %8s  %s", rs_fmt_size(r->value, size), r->text);
        break;
    case ROW_UNEXPLAINED:
        snprintf(buf, len, "  %+8lld refs %-16s %s", (long long)r->value, rs_snapshot_type_name(s, r->node),
                 rs_fmt_node_repr(s, r->node, repr, sizeof repr));
        break;
    case ROW_STRING:
        snprintf(buf, len, "  %8s %-10s %s", rs_fmt_size(r->value, size), rs_snapshot_type_name(s, r->node),
                 rs_fmt_node_repr(s, r->node, repr, sizeof repr));
        break;
    }
    return 0;
}

static rs_idx summary_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX)
        return RS_NONE;
    const summary_row *r = &((summary_data *)v->data)->rows[row];
    if (r->kind == ROW_SUSPECT || r->kind == ROW_UNEXPLAINED || r->kind == ROW_STRING)
        return r->node;
    if (r->kind == ROW_CYCLE) {
        size_t count;
        const rs_idx *members = rs_scc_cycle_members(v->browser->snap->scc, r->aux, &count);
        return count ? members[0] : RS_NONE;
    }
    return RS_NONE;
}

static int summary_key(rs_view *v, enum rs_action action)
{
    size_t row = vm_list_selected(&v->list);
    if (action != RS_ACTION_FOLLOW || row == SIZE_MAX)
        return RS_REACT_UNHANDLED;
    const summary_row *r = &((summary_data *)v->data)->rows[row];
    switch (r->kind) {
    case ROW_TYPE: rs_browser_open(v->browser, RS_SCREEN_INSTANCES, r->aux, 0); return RS_REACT_REDRAW;
    case ROW_CYCLE: rs_browser_open(v->browser, RS_SCREEN_CYCLE, r->aux, 0); return RS_REACT_REDRAW;
    case ROW_GARBAGE: rs_browser_open(v->browser, RS_SCREEN_GARBAGE, 0, 0); return RS_REACT_REDRAW;
    case ROW_GROWTH: rs_browser_open(v->browser, RS_SCREEN_GROWTH, 0, 0); return RS_REACT_REDRAW;
    default: return RS_REACT_UNHANDLED;
    }
}

/* The breadcrumb of a suspect: the last step of its path ("CACHE"). */
static bool summary_row_crumb(rs_view *v, char *buf, size_t len)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX)
        return false;
    const summary_row *r = &((summary_data *)v->data)->rows[row];
    if (r->kind != ROW_SUSPECT || r->text == NULL || r->text[0] == '(')
        return false;
    const char *end = strstr(r->text, "  ");
    size_t n = end ? (size_t)(end - r->text) : strlen(r->text);
    /* The last '.' or '[' outside brackets and quotes starts the step. */
    size_t start = 0;
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char c = r->text[i];
        if (quote) {
            quote = c == quote ? 0 : quote;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '[') {
            if (depth++ == 0)
                start = i;
        } else if (c == ']') {
            depth--;
        } else if (c == '.' && depth == 0) {
            start = i + 1;
        }
    }
    snprintf(buf, len, "%.*s", (int)(n - start), r->text + start);
    return true;
}

const rs_view_class rs_view_summary = {
    .screen = RS_SCREEN_SUMMARY,
    .title = "summary: leak suspects",
    .source = &source,
    .open = summary_open,
    .close = summary_close,
    .header_height = summary_header_height,
    .draw_header = summary_draw_header,
    .format_row = summary_format,
    .selected_node = summary_selected,
    .key = summary_key,
    .row_crumb = summary_row_crumb,
};

/*
 * The cycle explorer: one reference cycle, its edges ranked as the edge to
 * break with a one-line suggestion each (the analysis layer's ranking:
 * back-references such as .parent first, then edges whose removal frees
 * the most), and a walk through the cycle edge by edge (Enter follows an
 * edge inside the cycle; Backspace walks back).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refscope/scc.h"
#include "view.h"

#define MAX_BREAK_EDGES 256
#define MAX_KINDS_SHOWN 6

typedef struct cycle_data {
    rs_cycle cycle;
    rs_break_edge *breaks; /* ranked edges, as the analysis gives them */
    size_t break_total;
    size_t shown[MAX_KINDS_SHOWN]; /* best edge of each pair of types */
    size_t same[MAX_KINDS_SHOWN];  /* how many edges of the cycle join those types */
    size_t break_count;            /* kinds shown */
    rs_idx at;             /* the walk's current node */
    size_t *walk;          /* referent indexes of `at` that stay in the cycle */
    size_t walk_count;
} cycle_data;

static bool in_cycle(const cycle_data *d, rs_snapshot *s, rs_idx n)
{
    return rs_scc_cycle_of(s->scc, n) == d->cycle.number;
}

/* true when edges a and b join objects of the same two types. */
static bool same_types(rs_snapshot *s, const rs_edge_ref *a, const rs_edge_ref *b)
{
    return rs_graph_type_id(s->graph, a->from) == rs_graph_type_id(s->graph, b->from) &&
           rs_graph_type_id(s->graph, a->to) == rs_graph_type_id(s->graph, b->to);
}

static size_t walk_start(const cycle_data *d)
{
    return 2 + d->break_count;
}

static bool selectable(void *ctx, size_t row)
{
    const cycle_data *d = ((rs_view *)ctx)->data;
    return row != 0 && row != 1 + d->break_count;
}

static const vm_source source = {.matches = rs_view_row_matches, .selectable = selectable};

static int cycle_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    if (v->place.arg >= rs_scc_cycle_count(s->scc)) {
        PyErr_SetString(PyExc_IndexError, "no such cycle in this snapshot");
        return -1;
    }
    cycle_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    if (rs_cycle_get(s, (uint32_t)v->place.arg, &d->cycle) < 0)
        return -1;
    d->breaks = rs_cycle_break_edges(s, &d->cycle, MAX_BREAK_EDGES, &d->break_total);
    if (d->breaks == NULL)
        return -1;
    /* A tree has one .parent edge per node: show each pair of types once,
     * with its best-ranked edge. */
    for (size_t i = 0; i < d->break_total && d->break_count < MAX_KINDS_SHOWN; i++) {
        const rs_break_edge *e = &d->breaks[i];
        size_t k = 0;
        while (k < d->break_count && !same_types(s, &e->edge, &d->breaks[d->shown[k]].edge))
            k++;
        if (k == d->break_count)
            d->shown[d->break_count++] = i;
    }
    /* xN counts every edge of the cycle between those types (cycle.edges),
     * not only the ranked ones. */
    size_t edge_count;
    rs_edge_ref *edges = rs_cycle_edges(s, &d->cycle, &edge_count);
    if (edges == NULL)
        return -1;
    for (size_t i = 0; i < edge_count; i++)
        for (size_t k = 0; k < d->break_count; k++)
            d->same[k] += same_types(s, &edges[i], &d->breaks[d->shown[k]].edge);
    rs_free(edges);
    d->at = v->place.arg2 ? (rs_idx)(v->place.arg2 - 1) : d->cycle.members[0];
    if (!in_cycle(d, s, d->at))
        d->at = d->cycle.members[0];
    size_t count;
    const rs_idx *to = rs_graph_referents(s->graph, d->at, &count);
    d->walk = malloc((count ? count : 1) * sizeof *d->walk);
    if (d->walk == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t k = 0; k < count; k++)
        if (in_cycle(d, s, to[k]) && !(rs_graph_flags(s->graph, to[k]) & RS_NODE_NOT_DATA))
            d->walk[d->walk_count++] = k;
    vm_list_init(&v->list, &source, v, walk_start(d) + d->walk_count);
    /* Walking along: start on the edges; arriving fresh: on the best edge. */
    if (v->place.arg2)
        vm_list_move_to(&v->list, walk_start(d));
    return 0;
}

static void cycle_close(rs_view *v)
{
    cycle_data *d = v->data;
    if (d != NULL) {
        if (d->breaks != NULL)
            rs_break_edges_free(d->breaks, d->break_total);
        free(d->walk);
    }
    free(d);
    v->data = NULL;
}

#define ADVICE_ROWS_MAX 4

/* The advice the header shows: for the edge under the cursor when it is
 * on one of the edges to break, else for the best one.  "" without one. */
static const char *advice_text(rs_view *v, char *line, size_t len)
{
    cycle_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    line[0] = '\0';
    if (d->break_count == 0)
        return line;
    size_t row = vm_list_selected(&v->list);
    size_t k = row != SIZE_MAX && row >= 1 && row <= d->break_count ? row - 1 : 0;
    const rs_break_edge *e = &d->breaks[d->shown[k]];
    char label[200], advice[2000];
    snprintf(line, len, "%s: %s (%s -> %s): %s", k == 0 ? "edge to break" : "this edge",
             rs_fmt_str(e->label, label, sizeof label), rs_snapshot_type_name(s, e->edge.from),
             rs_snapshot_type_name(s, e->edge.to), rs_fmt_str(e->suggestion, advice, sizeof advice));
    return line;
}

/* One line about the cycle, then the advice wrapped to be read whole. */
static int cycle_header_height(rs_view *v, int width)
{
    char line[2400];
    const char *advice = advice_text(v, line, sizeof line);
    if (!advice[0])
        return 1;
    int rows = rs_wrapped_rows(advice, width);
    return 1 + (rows > ADVICE_ROWS_MAX ? ADVICE_ROWS_MAX : rows);
}

static void cycle_draw_header(rs_view *v, int row, int width)
{
    cycle_data *d = v->data;
    char line[2400], size[16], retained[16];
    snprintf(line, sizeof line, "cycle of %zu objects, %s, retaining %s%s", d->cycle.member_count,
             rs_fmt_size(d->cycle.size, size), rs_fmt_size(d->cycle.retained, retained),
             d->cycle.garbage ? "; unreachable: garbage awaiting collection" : "");
    ui_text(row, 0, width, UI_HEADING, line);
    rs_draw_wrapped(row + 1, width, ADVICE_ROWS_MAX, UI_FLAG, advice_text(v, line, sizeof line));
}

static const char *const break_kinds[] = {"back-reference", "frees memory", "plain edge", "structural"};

static int cycle_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    cycle_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    *style = UI_NORMAL;
    if (row == 0) {
        snprintf(buf, len, "edges to break, best first (Enter opens the holder)");
        *style = UI_HEADING;
        return 0;
    }
    if (row <= d->break_count) {
        const rs_break_edge *e = &d->breaks[d->shown[row - 1]];
        char label[100], advice[300], what[160], freed[16];
        snprintf(what, sizeof what, "%s -> %s", rs_snapshot_type_name(s, e->edge.from),
                 rs_snapshot_type_name(s, e->edge.to));
        snprintf(buf, len, "  %-12s %-30s x%-4zu %-14s %6s  %s", rs_fmt_str(e->label, label, sizeof label), what,
                 d->same[row - 1], e->kind < 4 ? break_kinds[e->kind] : "?",
                 e->freed ? rs_fmt_size(e->freed, freed) : "", rs_fmt_str(e->suggestion, advice, sizeof advice));
        return 0;
    }
    if (row == 1 + d->break_count) {
        char repr[200];
        snprintf(buf, len, "walk: at %s %s - its edges inside the cycle (Enter follows, Backspace returns)",
                 rs_snapshot_type_name(s, d->at), rs_fmt_node_repr(s, d->at, repr, sizeof repr));
        *style = UI_HEADING;
        return 0;
    }
    size_t k = d->walk[row - walk_start(d)];
    size_t count;
    const rs_idx *to = rs_graph_referents(s->graph, d->at, &count);
    PyObject *label = rs_label_referent(s, d->at, k);
    if (label == NULL)
        return -1;
    char text[200];
    rs_fmt_object_row(v->browser, to[k], rs_fmt_str(label, text, sizeof text), 24, buf, len);
    Py_DECREF(label);
    return 0;
}

static rs_idx cycle_selected(rs_view *v)
{
    cycle_data *d = v->data;
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX || row == 0 || row == 1 + d->break_count)
        return RS_NONE;
    if (row <= d->break_count)
        return d->breaks[d->shown[row - 1]].edge.from;
    size_t count;
    const rs_idx *to = rs_graph_referents(v->browser->snap->graph, d->at, &count);
    return to[d->walk[row - walk_start(d)]];
}

static int cycle_key(rs_view *v, enum rs_action action)
{
    cycle_data *d = v->data;
    size_t row = vm_list_selected(&v->list);
    if (action != RS_ACTION_FOLLOW || row == SIZE_MAX || row < walk_start(d))
        return RS_REACT_UNHANDLED;
    rs_browser_open(v->browser, RS_SCREEN_CYCLE, d->cycle.number, (uint64_t)cycle_selected(v) + 1);
    return RS_REACT_REDRAW;
}

const rs_view_class rs_view_cycle = {
    .screen = RS_SCREEN_CYCLE,
    .title = "cycle explorer",
    .source = &source,
    .open = cycle_open,
    .close = cycle_close,
    .header_height = cycle_header_height,
    .draw_header = cycle_draw_header,
    .format_row = cycle_format,
    .selected_node = cycle_selected,
    .key = cycle_key,
};

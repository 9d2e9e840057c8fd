/*
 * The instances screen: every object of one type (or only those new since
 * the mark).  The list is virtual: a million instances open at once, and
 * reprs are computed only for the rows on screen.
 *
 * Instances fold by their immediate dominator (Eclipse MAT's "immediate
 * dominators" query): the one object whose release frees them all.  Of
 * the groupings a leak hunter could ask for, this one names the thing to
 * fix, "1000 x Session kept alive by dict 0x... (SESSIONS)", at the cost
 * of one lookup per instance; the shape of each why-alive path would cost
 * a path search per instance and still leave the holder to be found.
 * Those held straight from the roots and the garbage make a group each.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>

#include "refscope/dom.h"
#include "view.h"

typedef struct instances_data {
    rs_node_rows rows; /* first: see rs_node_rows_compare() */
    rs_grouping groups; /* by immediate dominator, when grouped */
    bool grouped;
    uint64_t total_size;
} instances_data;

static const char *const columns[] = {"size", "retained", "address"};
static const rs_node_key column_keys[] = {RS_KEY_SIZE, RS_KEY_RETAINED, RS_KEY_ADDRESS};

static rs_idx item_node(rs_view *v, size_t item)
{
    return ((instances_data *)v->data)->rows.nodes[item];
}

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    instances_data *d = v->data;
    if (!d->grouped)
        return rs_node_rows_compare(ctx, a, b, column);
    return rs_grouping_compare_nodes(v, &d->groups, a, b, column_keys[column], item_node);
}

static size_t parent_of(void *ctx, size_t row)
{
    instances_data *d = ((rs_view *)ctx)->data;
    return d->grouped ? d->groups.rows[row].parent : SIZE_MAX;
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .parent = parent_of,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

/* The holder an instance's group is named by: its immediate dominator,
 * RS_DOM_SUPER_ROOT when held straight from the roots, RS_NONE for
 * garbage. */
static rs_idx holder_of(rs_view *v, size_t item)
{
    return rs_dom_idom(v->browser->snap->dom, item_node(v, item));
}

static uint32_t holder_key(void *ctx, size_t item)
{
    return holder_of(ctx, item);
}

static rs_idx node_of_item(void *ctx, size_t item)
{
    return item_node(ctx, item);
}

static int group_instances(rs_view *v)
{
    instances_data *d = v->data;
    if (rs_grouping_build_keyed(&d->groups, d->rows.count, holder_key, NULL, NULL, NULL, v) < 0 ||
        rs_grouping_count_nodes(&d->groups, v->browser->snap, node_of_item, v) < 0)
        return -1;
    rs_grouping_unfold(&d->groups, v->place.unfolded);
    d->grouped = true;
    return 0;
}

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
    if (!v->browser->ungrouped && (rs_analysis_ensure_dominators(s) < 0 || group_instances(v) < 0))
        return -1;
    vm_list_init(&v->list, &source, v, d->grouped ? d->groups.row_count : d->rows.count);
    return 0;
}

static void instances_close(rs_view *v)
{
    instances_data *d = v->data;
    if (d != NULL) {
        rs_free(d->rows.nodes);
        rs_grouping_free(&d->groups);
    }
    free(d);
    v->data = NULL;
}

static const char *header_text(rs_view *v, char *line, size_t len)
{
    instances_data *d = v->data;
    char size[16], groups[160] = "";
    if (d->grouped)
        snprintf(groups, sizeof groups, "; in %zu group%s by what keeps them alive (Enter unfolds, %s lists all)",
                 d->groups.group_count, d->groups.group_count == 1 ? "" : "s", rs_key_name(RS_ACTION_GROUP));
    snprintf(line, len, "%zu %sobjects of type %s, %s in all%s", d->rows.count,
             v->place.arg2 ? "new (since the mark) " : "", v->browser->snap->types[v->place.arg].name,
             rs_fmt_size(d->total_size, size), groups);
    return line;
}

#define ADDRESS_WIDTH 16 /* "  0x7f0123456789" under a group */

static const char *instances_columns(rs_view *v)
{
    (void)v;
    return "address          flag type                      size retained  repr";
}

/* "kept alive by dict 0x7f...: {...}" for a group's holder, into buf. */
static const char *holder_note(rs_view *v, rs_idx holder, char *buf, size_t len)
{
    rs_snapshot *s = v->browser->snap;
    if (holder == RS_DOM_SUPER_ROOT)
        return "held straight from the roots (modules, frames, C code)";
    if (holder == RS_NONE)
        return "garbage: no root reaches them (retained: what collecting them frees)";
    char repr[120];
    snprintf(buf, len, "kept alive by %s 0x%llx %s", rs_snapshot_type_name(s, holder),
             (unsigned long long)rs_graph_addr(s->graph, holder),
             rs_fmt_node_repr(s, holder, repr, sizeof repr));
    return buf;
}

static int instances_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    instances_data *d = v->data;
    size_t item = d->grouped ? rs_grouping_item(&d->groups, row) : row;
    *style = UI_NORMAL;
    if (item == SIZE_MAX) {
        const rs_group *grp = &d->groups.groups[d->groups.rows[row].group];
        char count[32], note[300];
        snprintf(count, sizeof count, "%zu x", grp->count);
        size_t first = d->groups.items[grp->first];
        rs_fmt_group_row(v->browser, grp, item_node(v, first), count, ADDRESS_WIDTH, holder_note(v, holder_of(v, first), note, sizeof note),
                         buf, len);
        *style = UI_HEADING;
        return 0;
    }
    rs_idx n = d->rows.nodes[item];
    char address[32];
    snprintf(address, sizeof address, "%s0x%012llx", d->grouped && d->groups.rows[row].parent != SIZE_MAX ? "  " : "",
             (unsigned long long)rs_graph_addr(v->browser->snap->graph, n));
    rs_fmt_object_row(v->browser, n, address, ADDRESS_WIDTH, buf, len);
    return 0;
}

static rs_idx instances_selected(rs_view *v)
{
    instances_data *d = v->data;
    size_t item = rs_grouping_selected(v, d->grouped ? &d->groups : NULL);
    return item == SIZE_MAX ? RS_NONE : d->rows.nodes[item];
}

static int instances_key(rs_view *v, enum rs_action action)
{
    instances_data *d = v->data;
    if (action == RS_ACTION_FOLLOW && d->grouped)
        return rs_grouping_toggle(v, &d->groups, 0);
    return RS_REACT_UNHANDLED;
}

const rs_view_class rs_view_instances = {
    .screen = RS_SCREEN_INSTANCES,
    .title = "instances",
    .source = &source,
    .open = instances_open,
    .close = instances_close,
    .header_height = rs_view_header_wrapped,
    .draw_header = rs_view_draw_header_wrapped,
    .header_text = header_text,
    .columns = instances_columns,
    .format_row = instances_format,
    .selected_node = instances_selected,
    .key = instances_key,
    .folds = true,
};

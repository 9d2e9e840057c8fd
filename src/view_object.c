/*
 * The object screen: a header (type, address, size, retained size,
 * refcount, unexplained references, flags, repr), then what holds the
 * object (roots and referrers) and what it holds (referents), each row
 * with its edge label.  Rows are virtual: a dict with a million items
 * opens at once; labels and reprs are made for the rows on screen only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refscope/dom.h"
#include "refscope/scc.h"
#include "pyinternal.h"
#include "view.h"

#define LABEL_WIDTH 26

typedef struct object_data {
    rs_idx node;
    const rs_root **roots; /* roots into the node */
    size_t root_count;
    const rs_idx *referrers;
    size_t referrer_count;
    const rs_idx *referents;
    size_t referent_count;
    bool items_reversed; /* a list or tuple: see referent_edge() */
    /* Folded rows (when the browser groups): what it holds by (type,
     * label), items the places i of referent_edge(); what holds it by
     * (holder type, label), items the referrer indexes. */
    bool grouped;
    rs_grouping holds, held_by;
    PyObject **labels[2]; /* per item of holds / held_by: its label, NULL when the holder is a container */
    char repr[600]; /* made once: the header is drawn on every frame */
    uint64_t retained; /* rs_retained_size(): garbage too */
} object_data;

/* What the object holds comes first (a leak hunter goes down the graph);
 * what holds it is a key away. */
enum row_kind { ROW_HOLDS_HEADING, ROW_REFERENT, ROW_HELD_HEADING, ROW_ROOT, ROW_REFERRER };

enum { SECTION_HOLDS, SECTION_HELD_BY };

/* Rows the referents and the referrers take: a row per edge, or per
 * group and unfolded item. */
static size_t holds_rows(const object_data *d)
{
    return d->grouped ? d->holds.row_count : d->referent_count;
}

static size_t held_rows(const object_data *d)
{
    return d->grouped ? d->held_by.row_count : d->referrer_count;
}

/* What row is, and its row inside its section (a referent's or a
 * referrer's row, a root's index). */
static enum row_kind row_kind(const object_data *d, size_t row, size_t *index)
{
    if (row == 0)
        return ROW_HOLDS_HEADING;
    row--;
    if (row < holds_rows(d)) {
        *index = row;
        return ROW_REFERENT;
    }
    row -= holds_rows(d);
    if (row == 0)
        return ROW_HELD_HEADING;
    row--;
    if (row < d->root_count) {
        *index = row;
        return ROW_ROOT;
    }
    *index = row - d->root_count;
    return ROW_REFERRER;
}

/* The grouping of a referent or referrer row's section, or NULL when the
 * rows are not grouped. */
static rs_grouping *section_groups(object_data *d, enum row_kind kind)
{
    if (!d->grouped)
        return NULL;
    return kind == ROW_REFERENT ? &d->holds : &d->held_by;
}

/* The view row of a section's first row. */
static size_t section_offset(const object_data *d, enum row_kind kind)
{
    return kind == ROW_REFERENT ? 1 : 2 + holds_rows(d) + d->root_count;
}

/* The item a referent or referrer row shows (a place for referent_edge(),
 * a referrer index), or SIZE_MAX for a group's own row. */
static size_t section_item(object_data *d, enum row_kind kind, size_t srow)
{
    rs_grouping *g = section_groups(d, kind);
    return g ? rs_grouping_item(g, srow) : srow;
}

/* section_item(), a group's row standing for its first item. */
static size_t section_first_item(object_data *d, enum row_kind kind, size_t srow)
{
    rs_grouping *g = section_groups(d, kind);
    if (g == NULL)
        return srow;
    size_t item = rs_grouping_item(g, srow);
    return item != SIZE_MAX ? item : g->items[g->groups[g->rows[srow].group].first];
}

/* The referent edge shown at place i: a list or tuple traverses its items
 * last to first, and shows them first to last, [0] on top. */
static size_t referent_edge(const object_data *d, size_t i)
{
    return d->items_reversed ? d->referent_count - 1 - i : i;
}

static rs_idx holds_node(rs_view *v, size_t item)
{
    object_data *d = v->data;
    return d->referents[referent_edge(d, item)];
}

static rs_idx held_by_node(rs_view *v, size_t item)
{
    return ((object_data *)v->data)->referrers[item];
}

/* The node a row shows (a group's first item's), or RS_NONE for
 * headings. */
static rs_idx row_node(object_data *d, size_t row)
{
    size_t i = 0;
    enum row_kind kind = row_kind(d, row, &i);
    switch (kind) {
    case ROW_ROOT: return d->roots[i]->target;
    case ROW_REFERRER: return d->referrers[section_first_item(d, kind, i)];
    case ROW_REFERENT: return d->referents[referent_edge(d, section_first_item(d, kind, i))];
    default: return RS_NONE;
    }
}

static bool selectable(void *ctx, size_t row)
{
    rs_view *v = ctx;
    size_t i;
    enum row_kind k = row_kind(v->data, row, &i);
    return k != ROW_HELD_HEADING && k != ROW_HOLDS_HEADING;
}

static const char *const columns[] = {"size", "retained", "type"};
static const rs_node_key column_keys[] = {RS_KEY_SIZE, RS_KEY_RETAINED, RS_KEY_TYPE};

static int compare(void *ctx, size_t a, size_t b, int column)
{
    rs_view *v = ctx;
    object_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    size_t ia, ib;
    enum row_kind ka = row_kind(d, a, &ia), kb = row_kind(d, b, &ib);
    /* Sections stay in place (descending order flips this, so compare on
     * a key that the flip restores). */
    int sa = ka >= ROW_HELD_HEADING, sb = kb >= ROW_HELD_HEADING;
    bool desc = v->list.sort_descending;
    if (sa != sb)
        return desc ? sb - sa : sa - sb;
    bool ha = ka == ROW_HELD_HEADING || ka == ROW_HOLDS_HEADING, hb = kb == ROW_HELD_HEADING || kb == ROW_HOLDS_HEADING;
    if (ha != hb)
        return desc ? (int)ha - (int)hb : (int)hb - (int)ha;
    if (ka == ROW_ROOT && kb != ROW_ROOT)
        return desc ? 1 : -1;
    if (kb == ROW_ROOT && ka != ROW_ROOT)
        return desc ? -1 : 1;
    rs_grouping *g = ka == kb ? section_groups(d, ka) : NULL;
    if (g != NULL && ka != ROW_ROOT)
        return ia == ib ? 0 : rs_grouping_compare_nodes(v, g, ia, ib, column_keys[column],
                                                        ka == ROW_REFERENT ? holds_node : held_by_node);
    rs_idx x = row_node(d, a), y = row_node(d, b);
    if (x == RS_NONE || y == RS_NONE)
        return 0;
    return rs_compare_nodes(s, x, y, column_keys[column]);
}

/* An unfolded item's parent: its group's row. */
static size_t parent_of(void *ctx, size_t row)
{
    object_data *d = ((rs_view *)ctx)->data;
    size_t i = 0;
    enum row_kind kind = row_kind(d, row, &i);
    rs_grouping *g = kind == ROW_REFERENT || kind == ROW_REFERRER ? section_groups(d, kind) : NULL;
    if (g == NULL || g->rows[i].parent == SIZE_MAX)
        return SIZE_MAX;
    return section_offset(d, kind) + g->rows[i].parent;
}

static const vm_source source = {
    .compare = compare,
    .matches = rs_view_row_matches,
    .selectable = selectable,
    .parent = parent_of,
    .columns = columns,
    .column_count = (int)(sizeof columns / sizeof columns[0]),
};

/* true when node n is a built-in container, whose items' labels differ
 * only by index or key: its edges group by type alone. */
static bool is_container(rs_snapshot *s, rs_idx n)
{
    enum rs_node_kind k = rs_node_kind(s, n);
    return (k == RS_KIND_LIST || k == RS_KIND_TUPLE || k == RS_KIND_DICT || k == RS_KIND_SET) &&
           rs_node_kind_exact(s, n);
}

/* Labels compared for grouping at most this many edges a section; past
 * that the section groups by type alone (each label is a Python str). */
#define GROUP_LABELS_MAX 100000

typedef struct group_ctx {
    rs_view *v;
    int section;
} group_ctx;

static rs_idx item_node(const group_ctx *c, size_t item)
{
    return c->section == SECTION_HOLDS ? holds_node(c->v, item) : held_by_node(c->v, item);
}

/* An item's key: its type. */
static uint32_t type_key(void *ctx, size_t item)
{
    const group_ctx *c = ctx;
    return rs_graph_type_id(c->v->browser->snap->graph, item_node(c, item));
}

/* Items of one type: the same group when their labels are the same. */
static int same_label(void *ctx, size_t a, size_t b)
{
    const group_ctx *c = ctx;
    PyObject **labels = ((object_data *)c->v->data)->labels[c->section];
    PyObject *la = labels[a], *lb = labels[b];
    if (la == NULL || lb == NULL)
        return (la != NULL) - (lb != NULL);
    int r = PyUnicode_Compare(la, lb);
    if (r == -1 && PyErr_Occurred())
        PyErr_Clear();
    return r;
}

static rs_idx node_of_item(void *ctx, size_t item)
{
    return item_node(ctx, item);
}

/* The label of every item of a section whose holder is not a container
 * (for same_key), when there are not too many.  0, or -1 with an
 * exception set. */
static int label_section(rs_view *v, int section, size_t count)
{
    object_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    bool any = false;
    for (size_t i = 0; i < count && !any; i++)
        any = !is_container(s, section == SECTION_HOLDS ? d->node : d->referrers[i]);
    if (!any || count > GROUP_LABELS_MAX)
        return 0;
    if (rs_label_prepare(s, d->node, section == SECTION_HOLDS) < 0)
        return -1;
    d->labels[section] = calloc(count ? count : 1, sizeof *d->labels[section]);
    if (d->labels[section] == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (is_container(s, section == SECTION_HOLDS ? d->node : d->referrers[i]))
            continue;
        d->labels[section][i] = section == SECTION_HOLDS ? rs_label_referent(s, d->node, referent_edge(d, i))
                                                         : rs_label_referrer(s, d->node, i);
        if (d->labels[section][i] == NULL)
            return -1;
    }
    return 0;
}

/* The place a group unfolded when the view was left: its group + 1 in
 * the low bits, the section above them. */
#define UNFOLDED_HELD_BY ((uint64_t)1 << 40)

static int group_sections(rs_view *v)
{
    object_data *d = v->data;
    group_ctx holds = {v, SECTION_HOLDS}, held_by = {v, SECTION_HELD_BY};
    if (label_section(v, SECTION_HOLDS, d->referent_count) < 0 ||
        label_section(v, SECTION_HELD_BY, d->referrer_count) < 0 ||
        rs_grouping_build_keyed(&d->holds, d->referent_count, type_key, d->labels[SECTION_HOLDS] ? same_label : NULL,
                                NULL, NULL, &holds) < 0 ||
        rs_grouping_build_keyed(&d->held_by, d->referrer_count, type_key,
                                d->labels[SECTION_HELD_BY] ? same_label : NULL, NULL, NULL, &held_by) < 0 ||
        rs_grouping_count_nodes(&d->holds, v->browser->snap, node_of_item, &holds) < 0 ||
        rs_grouping_count_nodes(&d->held_by, v->browser->snap, node_of_item, &held_by) < 0)
        return -1;
    /* Rows stay where the edges are (s sorts by size when asked). */
    if (rs_grouping_keep_order(&d->holds) < 0 || rs_grouping_keep_order(&d->held_by) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t unfolded = v->place.unfolded;
    if (unfolded == RS_UNFOLDED_ALL) {
        rs_grouping_unfold(&d->holds, unfolded);
        rs_grouping_unfold(&d->held_by, unfolded);
    } else {
        rs_grouping_unfold(unfolded & UNFOLDED_HELD_BY ? &d->held_by : &d->holds, unfolded & (UNFOLDED_HELD_BY - 1));
    }
    d->grouped = true;
    return 0;
}

static int object_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    rs_idx n = (rs_idx)v->place.arg;
    if (v->place.arg >= rs_graph_node_count(s->graph)) {
        PyErr_SetString(PyExc_IndexError, "no such object in this snapshot");
        return -1;
    }
    object_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    d->node = n;
    d->referrers = rs_graph_referrers(s->graph, n, &d->referrer_count);
    d->referents = rs_graph_referents(s->graph, n, &d->referent_count);
    /* CPython's list and tuple traverse their items last to first; check
     * rather than assume, so another order shows as it is. */
    d->items_reversed = rs_node_items_reversed(s, n);
    rs_fmt_node_repr(s, n, d->repr, sizeof d->repr);
    if (rs_retained_size(s, n, &d->retained) < 0)
        return -1;
    if (rs_graph_flags(s->graph, n) & RS_NODE_ROOT) {
        size_t count;
        const rs_root *roots = rs_graph_roots(s->graph, &count);
        for (size_t i = 0; i < count; i++)
            d->root_count += roots[i].target == n;
        d->roots = malloc((d->root_count ? d->root_count : 1) * sizeof *d->roots);
        if (d->roots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->root_count = 0;
        for (size_t i = 0; i < count; i++)
            if (roots[i].target == n)
                d->roots[d->root_count++] = &roots[i];
    }
    if (!v->browser->ungrouped && group_sections(v) < 0)
        return -1;
    vm_list_init(&v->list, &source, v, 2 + d->root_count + holds_rows(d) + held_rows(d));
    return 0;
}

static void object_close(rs_view *v)
{
    object_data *d = v->data;
    if (d != NULL) {
        free(d->roots);
        rs_grouping_free(&d->holds);
        rs_grouping_free(&d->held_by);
        size_t counts[2] = {d->referent_count, d->referrer_count};
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; d->labels[k] != NULL && i < counts[k]; i++)
                Py_XDECREF(d->labels[k][i]);
            free(d->labels[k]);
        }
    }
    free(d);
    v->data = NULL;
}

static int object_header_height(rs_view *v, int width)
{
    (void)width;
    return rs_graph_flags(v->browser->snap->graph, ((object_data *)v->data)->node) & RS_NODE_WEAKREF ? 5 : 4;
}

/* The keys that act on the object this screen shows, named in its header. */
static const enum rs_action hinted[] = {RS_ACTION_PATH,  RS_ACTION_CYCLE,        RS_ACTION_RETAINED,
                                        RS_ACTION_ALLOCATION, RS_ACTION_VALUE, RS_ACTION_OTHER_SECTION,
                                        RS_ACTION_COPY_PATH};

static void object_draw_header(rs_view *v, int row, int width)
{
    object_data *d = v->data;
    rs_browser *b = v->browser;
    rs_snapshot *s = b->snap;
    rs_idx n = d->node;
    char line[1024], size[16], retained[16];
    snprintf(line, sizeof line, "%s at 0x%llx  size %s  retained %s  refcount %u  unexplained %ld",
             rs_snapshot_type_name(s, n), (unsigned long long)rs_graph_addr(s->graph, n),
             rs_fmt_size(rs_graph_size(s->graph, n), size), rs_fmt_size(d->retained, retained),
             rs_graph_refcount(s->graph, n), rs_snapshot_unexplained(s, n));
    ui_text(row, 0, width, UI_HEADING, line);
    bool cycle = rs_scc_in_cycle(s->scc, n), finalizer = rs_graph_flags(s->graph, n) & RS_NODE_FINALIZER;
    bool closure = rs_node_in_closure(s, n), garbage = rs_node_is_garbage(s, n);
    snprintf(line, sizeof line, "flags:%s%s%s%s%s", cycle ? (b->unicode ? " ⟳ in a cycle (c explores it)" : " C in a cycle (c explores it)") : "",
             finalizer ? (b->unicode ? "  † has a finalizer" : "  F has a finalizer") : "",
             closure ? (b->unicode ? "  ◆ closure cell" : "  L closure cell") : "",
             garbage ? (b->unicode ? "  ✗ garbage" : "  G garbage") : "",
             cycle || finalizer || closure || garbage ? "" : " none");
    ui_text(row + 1, 0, width, UI_FLAG, line);
    char repr[600];
    snprintf(line, sizeof line, "repr: %s", d->repr);
    ui_text(row + 2, 0, width, UI_NORMAL, line);
    rs_key_hint(hinted, sizeof hinted / sizeof hinted[0], repr, sizeof repr);
    ui_text(row + 3, 0, width, UI_DIM, repr);
    row++;
    PyObject *weak = rs_node_weakref_text(s, n, 200);
    if (weak != NULL)
        ui_text(row + 3, 0, width, UI_DIM, rs_fmt_str(weak, line, sizeof line));
    Py_XDECREF(weak);
    PyErr_Clear();
}

static const char *object_columns(rs_view *v)
{
    (void)v;
    return "edge label                 flag type                      size retained  repr";
}

/* The label of a referent (item: its place) or referrer (its index)
 * edge; a new str, NULL with an exception set. */
static PyObject *edge_label(rs_view *v, enum row_kind kind, size_t item)
{
    object_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    return kind == ROW_REFERRER ? rs_label_referrer(s, d->node, item)
                                : rs_label_referent(s, d->node, referent_edge(d, item));
}

/* A group's row: "2000 x [0] .. [1999]" (a container's items) or
 * "1000 x .config" (one label), then the first item's type and flags and
 * the group's totals. */
static int format_group(rs_view *v, enum row_kind kind, size_t srow, char *buf, size_t len)
{
    object_data *d = v->data;
    rs_grouping *g = section_groups(d, kind);
    const rs_group *grp = &g->groups[g->rows[srow].group];
    size_t first = g->items[grp->first], last = g->items[grp->first + grp->count - 1];
    PyObject **labels = d->labels[kind == ROW_REFERENT ? SECTION_HOLDS : SECTION_HELD_BY];
    bool shared = labels != NULL && labels[first] != NULL;
    PyObject *a = edge_label(v, kind, first), *z = a && !shared ? edge_label(v, kind, last) : NULL;
    if (a == NULL || (!shared && z == NULL)) {
        Py_XDECREF(a);
        return -1;
    }
    char ta[100], tz[100], text[220];
    if (shared)
        snprintf(text, sizeof text, "%zu x %s", grp->count, rs_fmt_str(a, ta, sizeof ta));
    else
        snprintf(text, sizeof text, "%zu x %s .. %s", grp->count, rs_fmt_str(a, ta, sizeof ta),
                 rs_fmt_str(z, tz, sizeof tz));
    Py_DECREF(a);
    Py_XDECREF(z);
    rs_idx node = kind == ROW_REFERENT ? holds_node(v, first) : held_by_node(v, first);
    rs_fmt_group_row(v->browser, grp, node, text, LABEL_WIDTH, NULL, buf, len);
    return 0;
}

static int object_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    object_data *d = v->data;
    rs_browser *b = v->browser;
    rs_snapshot *s = b->snap;
    size_t i = 0;
    enum row_kind kind = row_kind(d, row, &i);
    PyObject *label = NULL;
    *style = UI_NORMAL;
    switch (kind) {
    case ROW_HELD_HEADING:
        snprintf(buf, len, "held by: %zu referrer%s%s", d->referrer_count, d->referrer_count == 1 ? "" : "s",
                 d->root_count ? " and roots" : (d->referrer_count ? "" : " (only C code or the interpreter)"));
        *style = UI_HEADING;
        return 0;
    case ROW_HOLDS_HEADING:
        snprintf(buf, len, "holds: %zu referent%s%s", d->referent_count, d->referent_count == 1 ? "" : "s",
                 d->items_reversed ? " (items in index order)" : "");
        *style = UI_HEADING;
        return 0;
    case ROW_ROOT:
        label = rs_label_root(s, d->roots[i]);
        if (label == NULL)
            return -1;
        {
            char text[400];
            snprintf(buf, len, "root: %s", rs_fmt_str(label, text, sizeof text));
        }
        *style = UI_DIM;
        Py_DECREF(label);
        return 0;
    case ROW_REFERRER:
    case ROW_REFERENT:
        break;
    }
    size_t item = section_item(d, kind, i);
    if (item == SIZE_MAX) {
        *style = UI_HEADING;
        return format_group(v, kind, i, buf, len);
    }
    label = edge_label(v, kind, item);
    if (label == NULL)
        return -1;
    char text[200], indented[210];
    rs_grouping *g = section_groups(d, kind);
    snprintf(indented, sizeof indented, "%s%s", g && g->rows[i].parent != SIZE_MAX ? "  " : "",
             rs_fmt_str(label, text, sizeof text));
    rs_idx target = row_node(d, row);
    if (rs_graph_flags(s->graph, target) & RS_NODE_INTERNAL)
        snprintf(buf, len, "%s <refscope's own object>", indented);
    else
        rs_fmt_object_row(b, target, indented, LABEL_WIDTH, buf, len);
    Py_DECREF(label);
    return 0;
}

static rs_idx object_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX)
        return RS_NONE;
    rs_idx n = row_node(v->data, row);
    if (n != RS_NONE && (rs_graph_flags(v->browser->snap->graph, n) & RS_NODE_INTERNAL))
        return RS_NONE;
    return n;
}

/* Moves the cursor to the first row of the other section (holds <->
 * held by). */
static void other_section(rs_view *v)
{
    object_data *d = v->data;
    size_t row = vm_list_selected(&v->list), i = 0;
    bool in_holds = row == SIZE_MAX || row_kind(d, row, &i) <= ROW_REFERENT;
    size_t first = in_holds ? holds_rows(d) + 2 : 1;
    size_t end = in_holds ? v->list.total : holds_rows(d) + 1;
    if (first >= end) {
        rs_browser_info(v->browser, in_holds ? "nothing holds this object but C code or the interpreter"
                                             : "this object holds nothing");
        return;
    }
    if (!vm_list_select_row(&v->list, first))
        rs_browser_info(v->browser, "the filter hides that section (/ then Enter on an empty line shows all)");
}

static int object_key(rs_view *v, enum rs_action action)
{
    object_data *d = v->data;
    size_t row = vm_list_selected(&v->list), i;
    if (action == RS_ACTION_OTHER_SECTION) {
        other_section(v);
        return RS_REACT_REDRAW;
    }
    enum row_kind kind = row == SIZE_MAX ? ROW_HOLDS_HEADING : row_kind(d, row, &i);
    if (action == RS_ACTION_FOLLOW && (kind == ROW_REFERENT || kind == ROW_REFERRER) &&
        section_item(d, kind, i) == SIZE_MAX) {
        int r = rs_grouping_toggle(v, section_groups(d, kind), section_offset(d, kind));
        if (v->place.unfolded && v->place.unfolded != RS_UNFOLDED_ALL && kind == ROW_REFERRER)
            v->place.unfolded |= UNFOLDED_HELD_BY;
        return r;
    }
    if (action == RS_ACTION_FOLLOW && kind == ROW_ROOT) {
        rs_browser_info(v->browser, "a root: this object is held from outside the heap (p shows the path)");
        return RS_REACT_REDRAW;
    }
    /* On this screen p, c and r are about the object it shows. */
    if (action != RS_ACTION_PATH && action != RS_ACTION_RETAINED && action != RS_ACTION_CYCLE)
        return RS_REACT_UNHANDLED;
    rs_snapshot *s = v->browser->snap;
    if (action == RS_ACTION_CYCLE) {
        uint32_t cycle = rs_scc_cycle_of(s->scc, d->node);
        if (cycle == RS_SCC_NO_CYCLE)
            rs_browser_error(v->browser, "this %s is not in a reference cycle (%s lists every cycle)",
                             rs_snapshot_type_name(s, d->node), rs_key_name(RS_ACTION_CYCLES));
        else
            rs_browser_open(v->browser, RS_SCREEN_CYCLE, cycle, (uint64_t)d->node + 1);
    } else {
        rs_browser_open(v->browser, action == RS_ACTION_PATH ? RS_SCREEN_PATH : RS_SCREEN_RETAINED, d->node, 0);
    }
    return RS_REACT_REDRAW;
}

/* The breadcrumb of the object Enter opens: the edge label going down
 * (".lines", "[12]"), "^" and the holder's type going up. */
static bool object_row_crumb(rs_view *v, char *buf, size_t len)
{
    object_data *d = v->data;
    rs_snapshot *s = v->browser->snap;
    size_t row = vm_list_selected(&v->list), i = 0;
    if (row == SIZE_MAX)
        return false;
    enum row_kind kind = row_kind(d, row, &i);
    if (kind == ROW_REFERRER || kind == ROW_REFERENT)
        i = section_first_item(d, kind, i);
    if (kind == ROW_REFERRER) {
        const char *name = rs_snapshot_type_name(s, d->referrers[i]);
        const char *dot = strrchr(name, '.');
        snprintf(buf, len, "^%s", dot ? dot + 1 : name);
        return true;
    }
    if (kind != ROW_REFERENT)
        return false;
    PyObject *label = rs_label_referent(s, d->node, referent_edge(d, i));
    if (label == NULL) {
        PyErr_Clear();
        return false;
    }
    rs_fmt_str(label, buf, len);
    Py_DECREF(label);
    return true;
}

/* What it holds on the left, what holds it on the right: the position of
 * the "held by" heading (sections keep their place when sorted). */
static size_t object_split(rs_view *v)
{
    object_data *d = v->data;
    size_t lo = 0, hi = v->list.count, i;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (row_kind(d, vm_list_row(&v->list, mid), &i) >= ROW_HELD_HEADING)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

const rs_view_class rs_view_object = {
    .screen = RS_SCREEN_OBJECT,
    .title = "object",
    .source = &source,
    .open = object_open,
    .close = object_close,
    .header_height = object_header_height,
    .draw_header = object_draw_header,
    .columns = object_columns,
    .format_row = object_format,
    .selected_node = object_selected,
    .key = object_key,
    .row_crumb = object_row_crumb,
    .split = object_split,
    .folds = true,
};

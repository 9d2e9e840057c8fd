/*
 * Grouping for list screens (Chrome DevTools' "constructor" view, Eclipse
 * MAT's "group by"): items that share a key fold into one row with their
 * count and total retained size, biggest group first; Enter on a group
 * row unfolds its items under it.  A view gives a comparison that is 0
 * for items of one group and the retained size of an item; it keeps its
 * own items and asks the grouping what each row is.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "refscope/dom.h"
#include "view.h"

typedef struct sort_ctx {
    int (*same_key)(void *ctx, size_t a, size_t b);
    void *ctx;
} sort_ctx;

static int by_key(const void *x, const void *y, void *arg)
{
    const sort_ctx *c = arg;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int r = c->same_key(c->ctx, a, b);
    if (r != 0)
        return r;
    return a < b ? -1 : a > b; /* a group's items in the view's order */
}

static int by_total(const void *x, const void *y)
{
    const rs_group *a = x, *b = y;
    if (a->retained != b->retained)
        return a->retained < b->retained ? 1 : -1;
    return a->first < b->first ? -1 : a->first > b->first; /* the view's order between equals */
}

/* What tells two items apart (items sorted so that a group's are
 * together): a key each, a comparison, or both. */
typedef struct split_ctx {
    const uint32_t *keys; /* per item, or NULL */
    int (*same_key)(void *ctx, size_t a, size_t b); /* or NULL */
    void *ctx;
} split_ctx;

static bool differ(const split_ctx *c, size_t a, size_t b)
{
    if (c->keys != NULL && c->keys[a] != c->keys[b])
        return true;
    return c->same_key != NULL && c->same_key(c->ctx, a, b) != 0;
}

/* Makes the groups of g->items (sorted; n of them) and lays out the rows.
 * 0 or -1 (memory). */
static int split_groups(rs_grouping *g, size_t n, const split_ctx *c, uint64_t (*retained)(void *ctx, size_t item),
                        uint64_t (*size)(void *ctx, size_t item))
{
    /* Counted first: a million items in a few groups take a few groups'
     * memory. */
    size_t groups = 0;
    for (size_t i = 0; i < n; i++)
        groups += i == 0 || differ(c, g->items[i - 1], g->items[i]);
    g->groups = malloc((groups ? groups : 1) * sizeof *g->groups);
    if (g->groups == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || differ(c, g->items[i - 1], g->items[i]))
            g->groups[g->group_count++] = (rs_group){.first = i};
        rs_group *last = &g->groups[g->group_count - 1];
        last->count++;
        if (retained != NULL)
            last->retained += retained(c->ctx, g->items[i]);
        if (size != NULL)
            last->size += size(c->ctx, g->items[i]);
    }
    qsort(g->groups, g->group_count, sizeof *g->groups, by_total);
    g->item_count = n;
    return rs_grouping_layout(g);
}

static size_t *identity(size_t n)
{
    size_t *items = malloc((n ? n : 1) * sizeof *items);
    for (size_t i = 0; items != NULL && i < n; i++)
        items[i] = i;
    return items;
}

int rs_grouping_build(rs_grouping *g, size_t n, int (*same_key)(void *ctx, size_t a, size_t b),
                      uint64_t (*retained)(void *ctx, size_t item), uint64_t (*size)(void *ctx, size_t item), void *ctx)
{
    memset(g, 0, sizeof *g);
    g->items = identity(n);
    if (g->items == NULL)
        goto nomem;
    sort_ctx c = {same_key, ctx};
    qsort_r(g->items, n, sizeof *g->items, by_key, &c);
    split_ctx split = {NULL, same_key, ctx};
    if (split_groups(g, n, &split, retained, size) < 0)
        goto nomem;
    return 0;
nomem:
    rs_grouping_free(g);
    PyErr_NoMemory();
    return -1;
}

/* Sorts items by keys, stably (two passes of a radix sort on 16 bits):
 * linear, where a comparison sort of a million items costs seconds of
 * callbacks.  0 or -1 (memory). */
static int radix_sort(size_t *items, size_t n, const uint32_t *keys)
{
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    size_t *count = malloc(65537 * sizeof *count);
    if (tmp == NULL || count == NULL) {
        free(tmp);
        free(count);
        return -1;
    }
    size_t *from = items, *to = tmp;
    for (int shift = 0; shift < 32; shift += 16) {
        memset(count, 0, 65537 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[((keys[from[i]] >> shift) & 0xFFFF) + 1]++;
        for (size_t b = 0; b < 65536; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            to[count[(keys[from[i]] >> shift) & 0xFFFF]++] = from[i];
        size_t *swap = from;
        from = to;
        to = swap;
    }
    /* An even number of passes: the items are back in items. */
    free(tmp);
    free(count);
    return 0;
}

int rs_grouping_build_keyed(rs_grouping *g, size_t n, uint32_t (*key_of)(void *ctx, size_t item),
                            int (*same_key)(void *ctx, size_t a, size_t b), uint64_t (*retained)(void *ctx, size_t item),
                            uint64_t (*size)(void *ctx, size_t item), void *ctx)
{
    memset(g, 0, sizeof *g);
    uint32_t *keys = malloc((n ? n : 1) * sizeof *keys);
    g->items = identity(n);
    if (keys == NULL || g->items == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        keys[i] = key_of(ctx, i);
    if (radix_sort(g->items, n, keys) < 0)
        goto nomem;
    /* Items of one key stand in the view's order; the comparison sorts
     * each run of them apart. */
    sort_ctx c = {same_key, ctx};
    for (size_t i = 0, j; same_key != NULL && i < n; i = j) {
        for (j = i + 1; j < n && keys[g->items[j]] == keys[g->items[i]]; j++)
            ;
        if (j - i > 1)
            qsort_r(g->items + i, j - i, sizeof *g->items, by_key, &c);
    }
    split_ctx split = {keys, same_key, ctx};
    if (split_groups(g, n, &split, retained, size) < 0)
        goto nomem;
    free(keys);
    return 0;
nomem:
    free(keys);
    rs_grouping_free(g);
    PyErr_NoMemory();
    return -1;
}

int rs_grouping_layout(rs_grouping *g)
{
    size_t rows = 0;
    for (size_t k = 0; k < g->group_count; k++)
        rows += g->groups[k].count == 1 ? 1 : 1 + (g->groups[k].open ? g->groups[k].count : 0);
    rs_group_row *layout = malloc((rows ? rows : 1) * sizeof *layout);
    if (layout == NULL)
        return -1;
    size_t r = 0;
    for (size_t k = 0; k < g->group_count; k++) {
        const rs_group *grp = &g->groups[k];
        if (grp->count == 1) {
            layout[r++] = (rs_group_row){k, 0, SIZE_MAX};
            continue;
        }
        size_t head = r;
        layout[r++] = (rs_group_row){k, SIZE_MAX, SIZE_MAX};
        for (size_t i = 0; grp->open && i < grp->count; i++)
            layout[r++] = (rs_group_row){k, i, head};
    }
    free(g->rows);
    g->rows = layout;
    g->row_count = rows;
    return 0;
}

static int by_first_item(const void *x, const void *y, void *arg)
{
    const rs_grouping *g = arg;
    size_t a = g->items[((const rs_group *)x)->first], b = g->items[((const rs_group *)y)->first];
    return a < b ? -1 : a > b;
}

int rs_grouping_keep_order(rs_grouping *g)
{
    qsort_r(g->groups, g->group_count, sizeof *g->groups, by_first_item, g);
    return rs_grouping_layout(g);
}

size_t rs_grouping_item(const rs_grouping *g, size_t row)
{
    const rs_group_row *r = &g->rows[row];
    if (r->member == SIZE_MAX)
        return SIZE_MAX;
    return g->items[g->groups[r->group].first + r->member];
}

size_t rs_grouping_item_or_first(const rs_grouping *g, size_t row)
{
    size_t item = rs_grouping_item(g, row);
    return item != SIZE_MAX ? item : g->items[g->groups[g->rows[row].group].first];
}

size_t rs_grouping_selected(rs_view *v, const rs_grouping *g)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX || g == NULL)
        return row;
    return rs_grouping_item_or_first(g, row);
}

size_t rs_grouping_head_row(const rs_grouping *g, size_t group)
{
    for (size_t r = 0; r < g->row_count; r++)
        if (g->rows[r].group == group)
            return r;
    return SIZE_MAX;
}

int rs_grouping_toggle(rs_view *v, rs_grouping *g, size_t offset)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX || row < offset || row - offset >= g->row_count || g->rows[row - offset].member != SIZE_MAX)
        return RS_REACT_UNHANDLED;
    size_t group = g->rows[row - offset].group, old_rows = g->row_count;
    g->groups[group].open = !g->groups[group].open;
    if (rs_grouping_layout(g) < 0) {
        g->groups[group].open = !g->groups[group].open;
        rs_browser_error(v->browser, "not enough memory to unfold the group");
        return RS_REACT_REDRAW;
    }
    /* Back comes to the same rows: the place remembers the group (under a
     * filter, every group stays unfolded for the filter to see). */
    if (v->place.unfolded != RS_UNFOLDED_ALL)
        v->place.unfolded = g->groups[group].open ? (uint64_t)group + 1 : 0;
    /* The rows changed under the list: rebuild it with its sort and
     * filter, the cursor staying on the group's row. */
    vm_place place;
    vm_place_save_list(&place, &v->list);
    size_t total = v->list.total - old_rows + g->row_count;
    vm_list_clear(&v->list);
    vm_list_init(&v->list, v->cls->source, v, total);
    place.cursor_row = offset + rs_grouping_head_row(g, group);
    rs_view_forget_rows(v);
    if (vm_place_restore_list(&place, &v->list) < 0)
        rs_browser_error(v->browser, "not enough memory to keep the sort and filter");
    return RS_REACT_REDRAW;
}

void rs_grouping_unfold(rs_grouping *g, uint64_t unfolded)
{
    if (unfolded == RS_UNFOLDED_ALL) {
        for (size_t k = 0; k < g->group_count; k++)
            g->groups[k].open = true;
        if (rs_grouping_layout(g) < 0)
            for (size_t k = 0; k < g->group_count; k++)
                g->groups[k].open = false;
        return;
    }
    if (unfolded == 0 || unfolded > g->group_count)
        return;
    g->groups[unfolded - 1].open = true;
    if (rs_grouping_layout(g) < 0)
        g->groups[unfolded - 1].open = false; /* folded, as it was */
}

void rs_fmt_group_row(rs_browser *b, const rs_group *grp, rs_idx first, const char *label, int label_width,
                      const char *note, char *buf, size_t len)
{
    char flags[32], size[16], retained[16], sizes[64];
    size_t pos = 0;
    buf[0] = '\0';
    rs_fmt_column(buf, len, &pos, label, label_width);
    rs_fmt_column(buf, len, &pos, " ", 1);
    rs_fmt_column(buf, len, &pos, rs_fmt_flags(b, first, flags), 4);
    rs_fmt_column(buf, len, &pos, " ", 1);
    rs_fmt_column(buf, len, &pos, rs_snapshot_type_name(b->snap, first), 22);
    snprintf(sizes, sizeof sizes, " %7s %8s  ", rs_fmt_size(grp->size, size), rs_fmt_size(grp->retained, retained));
    rs_fmt_column(buf, len, &pos, sizes, -1);
    if (note != NULL) {
        rs_fmt_column(buf, len, &pos, note, -1);
        rs_fmt_column(buf, len, &pos, " ", 1);
    }
    rs_fmt_column(buf, len, &pos, grp->open ? "(Enter folds them)" : "(in all; Enter lists them)", -1);
}

int rs_grouping_compare_nodes(rs_view *v, const rs_grouping *g, size_t a, size_t b, rs_node_key key,
                              rs_idx (*node_of)(rs_view *v, size_t item))
{
    const rs_group_row *ra = &g->rows[a], *rb = &g->rows[b];
    bool desc = v->list.sort_descending;
    rs_snapshot *s = v->browser->snap;
    if (ra->group != rb->group) {
        const rs_group *x = &g->groups[ra->group], *y = &g->groups[rb->group];
        if (key == RS_KEY_SIZE || key == RS_KEY_RETAINED) {
            uint64_t kx = key == RS_KEY_SIZE ? x->size : x->retained, ky = key == RS_KEY_SIZE ? y->size : y->retained;
            return (kx > ky) - (kx < ky);
        }
        return rs_compare_nodes(s, node_of(v, g->items[x->first]), node_of(v, g->items[y->first]), key);
    }
    /* One group: its own row first whichever the direction (the list
     * turns the result round when descending), then its items by key. */
    if (ra->member == SIZE_MAX || rb->member == SIZE_MAX)
        return (ra->member == SIZE_MAX) == desc ? 1 : -1;
    return rs_compare_nodes(s, node_of(v, rs_grouping_item(g, a)), node_of(v, rs_grouping_item(g, b)), key);
}

size_t rs_grouping_parent_of(void *view, size_t row)
{
    const rs_grouping *g = ((rs_view *)view)->data;
    return g->rows[row].parent;
}

int rs_grouping_compare(void *view, size_t a, size_t b, int column)
{
    const rs_grouping *g = ((rs_view *)view)->data;
    const rs_group *x = &g->groups[g->rows[a].group], *y = &g->groups[g->rows[b].group];
    if (x == y)
        return 0;
    uint64_t kx = column == 1 ? x->size : x->retained, ky = column == 1 ? y->size : y->retained;
    return (kx > ky) - (kx < ky);
}

int rs_grouping_count_nodes(rs_grouping *g, rs_snapshot *s, rs_idx (*node_of)(void *ctx, size_t item), void *ctx)
{
    size_t n = rs_graph_node_count(s->graph);
    uint8_t *seen = calloc(n + 1, 1);
    rs_idx *queue = NULL;
    if (seen == NULL)
        goto nomem;
    for (size_t k = 0; k < g->group_count; k++) {
        rs_group *grp = &g->groups[k];
        size_t count = 0;
        grp->size = grp->retained = 0;
        for (size_t i = 0; i < grp->count; i++) {
            rs_idx x = node_of(ctx, g->items[grp->first + i]);
            if (seen[x])
                continue; /* another edge to the same object */
            seen[x] = 1;
            grp->size += rs_graph_size(s->graph, x);
            if (rs_dom_reachable(s->dom, x)) {
                grp->retained += rs_dom_retained(s->dom, x);
                continue;
            }
            if (queue == NULL && (queue = malloc((n + 1) * sizeof *queue)) == NULL)
                goto nomem;
            queue[count++] = x;
        }
        /* The garbage among them and the unreachable objects it reaches,
         * breadth first; the queue is also the record of what to clear. */
        for (size_t i = 0; i < count; i++) {
            if (!(rs_graph_flags(s->graph, queue[i]) & RS_NODE_INTERNAL))
                grp->retained += rs_graph_size(s->graph, queue[i]);
            size_t refs;
            const rs_idx *targets = rs_graph_referents(s->graph, queue[i], &refs);
            for (size_t r = 0; r < refs; r++)
                if (!seen[targets[r]] && !rs_dom_reachable(s->dom, targets[r])) {
                    seen[targets[r]] = 1;
                    queue[count++] = targets[r];
                }
        }
        for (size_t i = 0; i < count; i++)
            seen[queue[i]] = 0;
        for (size_t i = 0; i < grp->count; i++)
            seen[node_of(ctx, g->items[grp->first + i])] = 0;
    }
    qsort(g->groups, g->group_count, sizeof *g->groups, by_total);
    free(seen);
    free(queue);
    if (rs_grouping_layout(g) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
nomem:
    free(seen);
    free(queue);
    PyErr_NoMemory();
    return -1;
}

void rs_grouping_free(rs_grouping *g)
{
    free(g->items);
    free(g->groups);
    free(g->rows);
    memset(g, 0, sizeof *g);
}

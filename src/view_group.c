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

int rs_grouping_build(rs_grouping *g, size_t n, int (*same_key)(void *ctx, size_t a, size_t b),
                      uint64_t (*retained)(void *ctx, size_t item), uint64_t (*size)(void *ctx, size_t item), void *ctx)
{
    memset(g, 0, sizeof *g);
    g->items = malloc((n ? n : 1) * sizeof *g->items);
    g->groups = malloc((n ? n : 1) * sizeof *g->groups);
    if (g->items == NULL || g->groups == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        g->items[i] = i;
    sort_ctx c = {same_key, ctx};
    qsort_r(g->items, n, sizeof *g->items, by_key, &c);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || same_key(ctx, g->items[i - 1], g->items[i]) != 0)
            g->groups[g->group_count++] = (rs_group){.first = i};
        rs_group *last = &g->groups[g->group_count - 1];
        last->count++;
        last->retained += retained(ctx, g->items[i]);
        last->size += size(ctx, g->items[i]);
    }
    qsort(g->groups, g->group_count, sizeof *g->groups, by_total);
    g->item_count = n;
    if (rs_grouping_layout(g) < 0)
        goto nomem;
    return 0;
nomem:
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

size_t rs_grouping_item(const rs_grouping *g, size_t row)
{
    const rs_group_row *r = &g->rows[row];
    if (r->member == SIZE_MAX)
        return SIZE_MAX;
    return g->items[g->groups[r->group].first + r->member];
}

int rs_grouping_toggle(rs_view *v, rs_grouping *g)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX || g->rows[row].member != SIZE_MAX)
        return RS_REACT_UNHANDLED;
    size_t group = g->rows[row].group;
    g->groups[group].open = !g->groups[group].open;
    if (rs_grouping_layout(g) < 0) {
        g->groups[group].open = !g->groups[group].open;
        rs_browser_error(v->browser, "not enough memory to unfold the group");
        return RS_REACT_REDRAW;
    }
    /* The rows changed under the list: rebuild it with its sort and
     * filter, the cursor staying on the group's row. */
    vm_place place;
    vm_place_save_list(&place, &v->list);
    vm_list_clear(&v->list);
    vm_list_init(&v->list, v->cls->source, v, g->row_count);
    for (size_t r = 0; r < g->row_count; r++)
        if (g->rows[r].group == group && g->rows[r].member == SIZE_MAX) {
            place.cursor_row = r;
            break;
        }
    rs_view_forget_rows(v);
    if (vm_place_restore_list(&place, &v->list) < 0)
        rs_browser_error(v->browser, "not enough memory to keep the sort and filter");
    return RS_REACT_REDRAW;
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

void rs_grouping_free(rs_grouping *g)
{
    free(g->items);
    free(g->groups);
    free(g->rows);
    memset(g, 0, sizeof *g);
}

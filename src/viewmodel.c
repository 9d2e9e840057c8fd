/*
 * The browser's view model: virtual lists and the history stack.  No
 * curses and no Python here (see viewmodel.h), so it is unit-tested alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewmodel.h"

static bool selectable(const vm_list *list, size_t pos)
{
    if (list->source == NULL || list->source->selectable == NULL)
        return true;
    return list->source->selectable(list->ctx, vm_list_row(list, pos));
}

/* Keeps the cursor inside the window: afterwards top <= cursor < top + height. */
static void keep_cursor_visible(vm_list *list)
{
    if (list->height == 0)
        list->height = 1;
    if (list->count == 0) {
        list->cursor = list->top = 0;
        return;
    }
    if (list->cursor >= list->count)
        list->cursor = list->count - 1;
    if (list->cursor < list->top)
        list->top = list->cursor;
    if (list->cursor >= list->top + list->height)
        list->top = list->cursor - list->height + 1;
    /* No empty space below the last row while rows above are hidden. */
    if (list->top + list->height > list->count)
        list->top = list->count > list->height ? list->count - list->height : 0;
}

/* Puts the cursor on the nearest selectable position from pos, searching
 * in direction dir first and then the other way. */
static void settle_cursor(vm_list *list, size_t pos, int dir)
{
    if (list->count == 0) {
        list->cursor = 0;
        return;
    }
    if (pos >= list->count)
        pos = list->count - 1;
    for (int pass = 0; pass < 2; pass++, dir = -dir) {
        size_t p = pos;
        for (;;) {
            if (selectable(list, p)) {
                list->cursor = p;
                keep_cursor_visible(list);
                return;
            }
            if (dir > 0 ? p + 1 >= list->count : p == 0)
                break;
            p = dir > 0 ? p + 1 : p - 1;
        }
    }
    list->cursor = pos;
    keep_cursor_visible(list);
}

void vm_list_init(vm_list *list, const vm_source *source, void *ctx, size_t total)
{
    memset(list, 0, sizeof *list);
    list->source = source;
    list->ctx = ctx;
    list->total = list->count = total;
    /* Until the view says how tall it is, everything "fits": the first
     * rows stay in view when the cursor starts below a heading. */
    list->height = SIZE_MAX / 2;
    list->sort_column = -1;
    settle_cursor(list, 0, 1);
}

void vm_list_clear(vm_list *list)
{
    free(list->order);
    list->order = NULL;
    list->total = list->count = list->cursor = list->top = 0;
}

size_t vm_list_row(const vm_list *list, size_t pos)
{
    return list->order != NULL ? list->order[pos] : pos;
}

size_t vm_list_selected(const vm_list *list)
{
    return list->count == 0 ? SIZE_MAX : vm_list_row(list, list->cursor);
}

void vm_list_set_height(vm_list *list, size_t height)
{
    list->height = height ? height : 1;
    keep_cursor_visible(list);
}

void vm_list_move(vm_list *list, long delta)
{
    if (list->count == 0 || delta == 0)
        return;
    size_t pos;
    if (delta < 0)
        pos = (size_t)-delta > list->cursor ? 0 : list->cursor - (size_t)-delta;
    else
        pos = (size_t)delta >= list->count - list->cursor ? list->count - 1 : list->cursor + (size_t)delta;
    settle_cursor(list, pos, delta < 0 ? -1 : 1);
}

void vm_list_move_to(vm_list *list, size_t pos)
{
    if (list->count == 0)
        return;
    settle_cursor(list, pos, pos >= list->cursor ? 1 : -1);
}

void vm_list_scroll(vm_list *list, long delta)
{
    if (list->count <= list->height || delta == 0)
        return;
    size_t max_top = list->count - list->height;
    if (delta < 0)
        list->top = (size_t)-delta > list->top ? 0 : list->top - (size_t)-delta;
    else
        list->top = (size_t)delta >= max_top - list->top ? max_top : list->top + (size_t)delta;
    if (list->cursor < list->top)
        settle_cursor(list, list->top, 1);
    else if (list->cursor >= list->top + list->height)
        settle_cursor(list, list->top + list->height - 1, -1);
    /* settle_cursor may have scrolled back; the window is what the user asked. */
}

bool vm_list_select_row(vm_list *list, size_t row)
{
    if (list->order == NULL) {
        if (row >= list->count)
            return false;
        list->cursor = row;
        keep_cursor_visible(list);
        return true;
    }
    for (size_t pos = 0; pos < list->count; pos++)
        if (vm_list_row(list, pos) == row) {
            list->cursor = pos;
            keep_cursor_visible(list);
            return true;
        }
    return false;
}

typedef struct sort_ctx {
    const vm_list *list;
    int column;
    bool descending;
} sort_ctx;

static int compare_rows(const void *a, const void *b, void *arg)
{
    const sort_ctx *c = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int r = c->list->source->compare(c->list->ctx, x, y, c->column);
    if (r != 0)
        return c->descending ? -r : r;
    return x < y ? -1 : x > y; /* stable: ties keep the view's order */
}

/* Sorts rows[0..count) by c (a stable merge sort, bottom up), calling
 * progress every VM_PROGRESS_ROWS rows merged with done and total in
 * rows (all passes counted as one walk over the rows).  0, -1 when memory
 * runs out, or 1 when progress asked to stop (rows then unchanged). */
static int sort_rows(size_t *rows, size_t count, const sort_ctx *c, vm_progress_fn progress, void *progress_ctx)
{
    if (count < 2)
        return 0;
    size_t *tmp = malloc(count * sizeof *tmp);
    if (tmp == NULL)
        return -1;
    size_t passes = 0;
    for (size_t width = 1; width < count; width *= 2)
        passes++;
    size_t *from = rows, *to = tmp, pass = 0, merged = 0;
    for (size_t width = 1; width < count; width *= 2, pass++) {
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = lo + width < count ? lo + width : count;
            size_t hi = mid + width < count ? mid + width : count;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                to[k++] = compare_rows(&from[j], &from[i], (void *)c) < 0 ? from[j++] : from[i++];
            while (i < mid)
                to[k++] = from[i++];
            while (j < hi)
                to[k++] = from[j++];
            merged += hi - lo;
            if (progress != NULL && merged >= VM_PROGRESS_ROWS) {
                merged = 0;
                size_t done = (pass * count + hi) / passes;
                if (progress(progress_ctx, done, count) != 0) {
                    free(tmp);
                    return 1;
                }
            }
        }
        size_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != rows)
        memcpy(rows, from, count * sizeof *rows);
    free(tmp);
    return 0;
}

/* Appends row to order, after those of its parents not in it yet: in a
 * view listed parent first, every parent missing from order comes after
 * the last row already there (a parent added earlier took its own
 * parents along), so order stays ascending. */
static void append_with_parents(const vm_list *list, size_t *order, size_t *count, size_t row)
{
    size_t last = *count ? order[*count - 1] : SIZE_MAX;
    if (list->source->parent != NULL) {
        size_t chain[64], depth = 0;
        for (size_t p = list->source->parent(list->ctx, row); p != SIZE_MAX && depth < 64;
             p = list->source->parent(list->ctx, p)) {
            if (last != SIZE_MAX && p <= last)
                break;
            chain[depth++] = p;
        }
        while (depth > 0)
            order[(*count)++] = chain[--depth];
    }
    order[(*count)++] = row;
}

/* Rebuilds the shown rows for (column, descending, pattern); keeps the
 * selected row selected when it still shows.  0, -1 with the list
 * unchanged, or 1 when progress stopped it (unchanged too). */
static int rebuild_progress(vm_list *list, int column, bool descending, const char *pattern, vm_progress_fn progress,
                            void *progress_ctx)
{
    const vm_source *src = list->source;
    if (src == NULL || src->compare == NULL || column >= src->column_count)
        column = -1;
    if (src == NULL || src->matches == NULL)
        pattern = "";
    size_t selected = vm_list_selected(list);
    size_t *order = NULL, count = list->total;
    if (column >= 0 || pattern[0] != '\0') {
        order = malloc((list->total ? list->total : 1) * sizeof *order);
        if (order == NULL)
            return -1;
        count = 0;
        for (size_t row = 0; row < list->total; row++) {
            if (progress != NULL && pattern[0] != '\0' && row % VM_PROGRESS_ROWS == 0 && row > 0 &&
                progress(progress_ctx, row, list->total) != 0) {
                free(order);
                return 1;
            }
            int m = pattern[0] == '\0' ? 1 : src->matches(list->ctx, row, pattern);
            if (m < 0) {
                free(order);
                return -1;
            }
            if (m && pattern[0] != '\0')
                append_with_parents(list, order, &count, row);
            else if (m)
                order[count++] = row;
        }
        if (column >= 0) {
            /* The source may read the direction (to keep sections in place). */
            int old_column = list->sort_column;
            bool old_descending = list->sort_descending;
            list->sort_column = column;
            list->sort_descending = descending;
            sort_ctx c = {list, column, descending};
            int r = sort_rows(order, count, &c, progress, progress_ctx);
            if (r != 0) {
                list->sort_column = old_column;
                list->sort_descending = old_descending;
                free(order);
                return r;
            }
        }
    }
    free(list->order);
    list->order = order;
    list->count = count;
    list->sort_column = column;
    list->sort_descending = descending;
    if (pattern != list->filter)
        snprintf(list->filter, sizeof list->filter, "%s", pattern);
    list->top = 0;
    list->cursor = 0;
    if (selected == SIZE_MAX || !vm_list_select_row(list, selected))
        settle_cursor(list, 0, 1);
    return 0;
}

static int rebuild(vm_list *list, int column, bool descending, const char *pattern)
{
    return rebuild_progress(list, column, descending, pattern, NULL, NULL);
}

int vm_list_sort(vm_list *list, int column, bool descending)
{
    char pattern[VM_FILTER_MAX];
    snprintf(pattern, sizeof pattern, "%s", list->filter);
    return rebuild(list, column, descending, pattern);
}

int vm_list_sort_progress(vm_list *list, int column, bool descending, vm_progress_fn progress, void *progress_ctx)
{
    char pattern[VM_FILTER_MAX];
    snprintf(pattern, sizeof pattern, "%s", list->filter);
    return rebuild_progress(list, column, descending, pattern, progress, progress_ctx);
}

int vm_list_next_sort_column(const vm_list *list)
{
    int n = list->source ? list->source->column_count : 0;
    int next = list->sort_column + 1;
    return next >= n ? -1 : next;
}

int vm_list_sort_next(vm_list *list)
{
    return vm_list_sort(list, vm_list_next_sort_column(list), true);
}

int vm_list_filter(vm_list *list, const char *pattern)
{
    char copy[VM_FILTER_MAX];
    snprintf(copy, sizeof copy, "%s", pattern ? pattern : "");
    return rebuild(list, list->sort_column, list->sort_descending, copy);
}

int vm_list_filter_progress(vm_list *list, const char *pattern, vm_progress_fn progress, void *progress_ctx)
{
    char copy[VM_FILTER_MAX];
    snprintf(copy, sizeof copy, "%s", pattern ? pattern : "");
    return rebuild_progress(list, list->sort_column, list->sort_descending, copy, progress, progress_ctx);
}

int vm_list_find(vm_list *list, const char *pattern, int direction)
{
    return vm_list_find_progress(list, pattern, direction, NULL, NULL);
}

int vm_list_find_progress(vm_list *list, const char *pattern, int direction, vm_progress_fn progress,
                          void *progress_ctx)
{
    if (list->count == 0 || list->source == NULL || list->source->matches == NULL || pattern[0] == '\0')
        return 0;
    size_t pos = list->cursor;
    for (size_t step = 0; step < list->count; step++) {
        if (progress != NULL && step > 0 && step % VM_PROGRESS_ROWS == 0 && progress(progress_ctx, step, list->count))
            return 2;
        pos = direction < 0 ? (pos == 0 ? list->count - 1 : pos - 1) : (pos + 1 == list->count ? 0 : pos + 1);
        if (!selectable(list, pos))
            continue;
        int m = list->source->matches(list->ctx, vm_list_row(list, pos), pattern);
        if (m < 0)
            return -1;
        if (m) {
            list->cursor = pos;
            keep_cursor_visible(list);
            return 1;
        }
    }
    return 0;
}

void vm_history_init(vm_history *h)
{
    h->first = h->depth = 0;
}

void vm_history_push(vm_history *h, const vm_place *place)
{
    if (h->depth == VM_HISTORY_MAX) {
        h->first = (h->first + 1) % VM_HISTORY_MAX;
        h->depth--;
    }
    h->places[(h->first + h->depth) % VM_HISTORY_MAX] = *place;
    h->depth++;
}

bool vm_history_pop(vm_history *h, vm_place *place)
{
    if (h->depth == 0)
        return false;
    h->depth--;
    *place = h->places[(h->first + h->depth) % VM_HISTORY_MAX];
    return true;
}

size_t vm_history_depth(const vm_history *h)
{
    return h->depth;
}

const vm_place *vm_history_at(const vm_history *h, size_t i)
{
    return &h->places[(h->first + i) % VM_HISTORY_MAX];
}

void vm_history_drop(vm_history *h, size_t n)
{
    h->depth = n >= h->depth ? 0 : h->depth - n;
}

void vm_place_save_list(vm_place *place, const vm_list *list)
{
    place->cursor_row = vm_list_selected(list);
    place->top = list->top;
    place->sort_column = list->sort_column;
    place->sort_descending = list->sort_descending;
    snprintf(place->filter, sizeof place->filter, "%s", list->filter);
}

int vm_place_restore_list(const vm_place *place, vm_list *list)
{
    int r = 0;
    if (place->sort_column >= 0 || place->filter[0] != '\0')
        r = rebuild(list, place->sort_column, place->sort_descending, place->filter);
    size_t top = place->top;
    if (place->cursor_row != SIZE_MAX)
        vm_list_select_row(list, place->cursor_row);
    /* Same scroll as before when the cursor is still inside that window. */
    if (top <= list->cursor && list->cursor < top + list->height) {
        list->top = top;
        keep_cursor_visible(list);
    }
    return r;
}

/*
 * The browser's view model: a virtual list (cursor, scrolling, sort order,
 * filter) and the history stack of places visited.  It knows ordering and
 * filtering but neither the screen nor Python: rows are plain indexes into
 * whatever the view shows, and a row's text is asked for only when the
 * filter needs it.  A list with no sort and no filter keeps no per-row
 * array at all, so a million rows cost nothing until they are sorted.
 */
#ifndef REFSCOPE_VIEWMODEL_H
#define REFSCOPE_VIEWMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_FILTER_MAX 128
#define VM_HISTORY_MAX 256
#define VM_CRUMB_MAX 48

/* What a view tells the list about its rows (all callbacks may be NULL). */
typedef struct vm_source {
    /* <0, 0, >0 like strcmp, comparing rows a and b by column (ascending). */
    int (*compare)(void *ctx, size_t a, size_t b, int column);
    /* 1 when row matches pattern (case-insensitive substring), 0 when not,
     * -1 on error (the filter is then abandoned). */
    int (*matches)(void *ctx, size_t row, const char *pattern);
    /* false for rows the cursor skips (section headings). */
    bool (*selectable)(void *ctx, size_t row);
    /* For tree-shaped views listed parent first: the row's parent row, or
     * SIZE_MAX for a top row.  A filter keeps the parents of the rows it
     * shows (the thread and frame of a matching local). */
    size_t (*parent)(void *ctx, size_t row);
    /* Column names for the sort key ("size", "count"...); sort cycles
     * through them. */
    const char *const *columns;
    int column_count;
} vm_source;

typedef struct vm_list {
    const vm_source *source;
    void *ctx;
    size_t total;   /* rows the view has */
    size_t *order;  /* shown rows in order, or NULL = all rows 0..total-1 */
    size_t count;   /* rows shown */
    size_t cursor;  /* position of the selected row among those shown */
    size_t top;     /* first position on screen */
    size_t height;  /* positions that fit on screen (>= 1) */
    int sort_column; /* -1 = the view's own order */
    bool sort_descending;
    char filter[VM_FILTER_MAX]; /* "" = no filter */
} vm_list;

/* Sets up list over total rows in the view's order, cursor on the first
 * selectable row.  Allocates nothing. */
void vm_list_init(vm_list *list, const vm_source *source, void *ctx, size_t total);

/* Frees the list's order array; the list is then empty. */
void vm_list_clear(vm_list *list);

/* The view's row shown at position pos (pos < list->count). */
size_t vm_list_row(const vm_list *list, size_t pos);

/* The selected row, or SIZE_MAX when nothing is shown. */
size_t vm_list_selected(const vm_list *list);

/* Tells the list how many positions fit on screen and keeps the cursor
 * visible. */
void vm_list_set_height(vm_list *list, size_t height);

/* Moves the cursor by delta positions (clamped), skipping unselectable
 * rows in the direction of travel. */
void vm_list_move(vm_list *list, long delta);

/* Moves the cursor to position pos (clamped), as a click does. */
void vm_list_move_to(vm_list *list, size_t pos);

/* Scrolls the window by delta positions without moving the cursor off
 * screen (the cursor follows when it would leave), as the wheel does. */
void vm_list_scroll(vm_list *list, long delta);

/* Selects the view's row `row` when it is shown; returns false otherwise. */
bool vm_list_select_row(vm_list *list, size_t row);

/* Sorts by column (ascending or not), or restores the view's order with
 * column -1; the selected row stays selected.  0, or -1 when memory runs
 * out (the list is left unchanged). */
int vm_list_sort(vm_list *list, int column, bool descending);

/* Advances the sort to the next column of the source (descending first),
 * wrapping back to the view's own order.  0 or -1 as vm_list_sort. */
int vm_list_sort_next(vm_list *list);

/* Shows only rows matching pattern ("" shows all again); the selected row
 * stays selected when it still shows.  0, -1 when memory runs out or the
 * source failed (the list is left unchanged). */
int vm_list_filter(vm_list *list, const char *pattern);

/* Called every VM_PROGRESS_ROWS rows while a filter runs: rows done and
 * in all; a nonzero return stops the filter (the list stays unchanged). */
typedef int (*vm_progress_fn)(void *ctx, size_t done, size_t total);
#define VM_PROGRESS_ROWS 256

/* vm_list_filter() reporting progress; returns 0, -1 as vm_list_filter,
 * or 1 when progress asked to stop (the list is left unchanged). */
int vm_list_filter_progress(vm_list *list, const char *pattern, vm_progress_fn progress, void *progress_ctx);

/* vm_list_sort() reporting progress as vm_list_filter_progress() does
 * (done and total in rows); 0, -1 as vm_list_sort, or 1 when progress
 * asked to stop (the list is left unchanged). */
int vm_list_sort_progress(vm_list *list, int column, bool descending, vm_progress_fn progress, void *progress_ctx);

/* The column vm_list_sort_next() sorts by: the next one, -1 after the
 * last. */
int vm_list_next_sort_column(const vm_list *list);

/* Moves the cursor to the next (direction 1) or previous (-1) shown row
 * matching pattern, wrapping around.  1 when found, 0 when none, -1 on a
 * source error. */
int vm_list_find(vm_list *list, const char *pattern, int direction);

/* vm_list_find() calling progress every VM_PROGRESS_ROWS rows looked at;
 * 2 when progress asked to stop (the cursor stays where it was). */
int vm_list_find_progress(vm_list *list, const char *pattern, int direction, vm_progress_fn progress,
                          void *progress_ctx);

/* A place in the browser: which screen, on what, and how the list stood. */
typedef struct vm_place {
    int screen;
    uint64_t arg;    /* the screen's subject (a node, a type id...) */
    uint64_t arg2;
    size_t cursor_row; /* the view's row under the cursor, SIZE_MAX = none */
    size_t top;
    int sort_column;
    bool sort_descending;
    char filter[VM_FILTER_MAX];
    char crumb[VM_CRUMB_MAX]; /* how the title names this place; "" = the screen's name */
    uint64_t unfolded; /* a grouped view's unfolded group + 1, 0 = none: Back finds the same rows */
} vm_place;

/* The back stack: the newest VM_HISTORY_MAX places, oldest dropped. */
typedef struct vm_history {
    vm_place places[VM_HISTORY_MAX];
    size_t first; /* ring start */
    size_t depth;
} vm_history;

/* Empties the history. */
void vm_history_init(vm_history *h);

/* Pushes a place, dropping the oldest when full. */
void vm_history_push(vm_history *h, const vm_place *place);

/* Pops the newest place into *place; false when the history is empty. */
bool vm_history_pop(vm_history *h, vm_place *place);

/* Number of places stored. */
size_t vm_history_depth(const vm_history *h);

/* The place stored i-th, oldest first (i < depth). */
const vm_place *vm_history_at(const vm_history *h, size_t i);

/* Forgets the newest n places (all of them when n >= depth). */
void vm_history_drop(vm_history *h, size_t n);

/* Records how list stands (cursor row, scroll, sort, filter) into place. */
void vm_place_save_list(vm_place *place, const vm_list *list);

/* Restores a list from place after its rows were rebuilt: sort, filter,
 * cursor on the same row, same scroll.  0, or -1 when memory runs out
 * (the list then stays in the view's order). */
int vm_place_restore_list(const vm_place *place, vm_list *list);

#endif

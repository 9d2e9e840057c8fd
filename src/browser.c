/*
 * The browser: the loop that reads a key, turns it into an action through
 * the key table, lets the current view or the defaults react, and draws a
 * frame.  Key handlers only change state and return reaction flags; the
 * frame is drawn here, in one place, through ui.h.  The snapshot is taken
 * after the terminal is open so that a progress bar can show.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "browser.h"
#include "clock.h"
#include "module.h"
#include "refscope/dom.h"
#include "refscope/scc.h"
#include "view.h"

#define KEY_TIMEOUT_MS 500
#define MIN_ROWS 10
#define MIN_COLS 40

static bool browser_running;

/* --- status line: the one error path --------------------------------------- */

void rs_browser_error(rs_browser *b, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(b->status, sizeof b->status, format, ap);
    va_end(ap);
    b->status_error = true;
}

void rs_browser_info(rs_browser *b, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(b->status, sizeof b->status, format, ap);
    va_end(ap);
    b->status_error = false;
}

void rs_browser_python_error(rs_browser *b, const char *prefix)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    const char *name = type ? ((PyTypeObject *)type)->tp_name : "error";
    const char *dot = strrchr(name, '.');
    char text[400] = "";
    PyObject *str = value ? PyObject_Str(value) : NULL;
    if (str == NULL)
        PyErr_Clear();
    else
        rs_fmt_str(str, text, sizeof text);
    Py_XDECREF(str);
    if (type != NULL && PyErr_GivenExceptionMatches(type, rs_error))
        rs_browser_error(b, "%s%s%s", prefix ? prefix : "", prefix ? ": " : "", text);
    else
        rs_browser_error(b, "%s%s%s%s%s", prefix ? prefix : "", prefix ? ": " : "", dot ? dot + 1 : name,
                         text[0] ? ": " : "", text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* --- analyses and snapshots ------------------------------------------------ */

/* Computes cycles and dominators for the snapshot once.  0 or -1 with
 * MemoryError set. */
static int ensure_analyses(rs_snapshot *s)
{
    if (rs_analysis_ensure_scc(s) < 0)
        return -1;
    return rs_analysis_ensure_dominators(s);
}

typedef struct progress_state {
    struct timespec last;
    const char *what;
} progress_state;

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Progress screens drawn since the module loaded (the benchmark reports
 * how often the bar moved before the first screen). */
static size_t progress_draws;

/* Draws "what... [#####     ] n objects" in the middle of the screen. */
static void draw_progress(const char *what, size_t done, size_t total)
{
    progress_draws++;
    int rows, cols;
    ui_size(&rows, &cols);
    ui_begin();
    char line[256];
    snprintf(line, sizeof line, "refscope: %s... %zu objects", what, done);
    ui_text(rows / 2 - 1, 2, cols - 4, UI_HEADING, line);
    int width = cols - 6 > 60 ? 60 : cols - 6;
    if (width > 2 && total > 0) {
        int filled = (int)((double)width * (double)done / (double)total);
        char bar[128];
        int i = 0;
        bar[i++] = '[';
        for (int k = 0; k < width - 2 && i < (int)sizeof bar - 2; k++)
            bar[i++] = k < filled - 1 ? '#' : ' ';
        bar[i++] = ']';
        bar[i] = '\0';
        ui_text(rows / 2, 2, cols - 4, UI_NORMAL, bar);
    }
    ui_end();
}

static void on_progress(void *ctx, size_t done, size_t total)
{
    progress_state *p = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (done < total && seconds_between(&p->last, &now) < 0.05)
        return;
    p->last = now;
    draw_progress(p->what, done, total);
}

/* A new snapshot with cycles and dominators, drawing progress; NULL with
 * an exception set. */
static rs_snapshot *take_snapshot(rs_browser *b, bool collect)
{
    progress_state p = {.what = "taking a snapshot"};
    rs_snapshot *s = rs_snapshot_take_for(collect, &b->caller, on_progress, &p);
    if (s == NULL)
        return NULL;
    size_t n = rs_graph_node_count(s->graph);
    draw_progress("finding cycles and dominators", n, n);
    if (ensure_analyses(s) < 0) {
        rs_snapshot_free(s);
        return NULL;
    }
    return s;
}

/* Progress of a long filter or sort: drawn over the screen every 50 ms
 * when there are more than FILTER_PROGRESS_ROWS rows, and then Esc or
 * Ctrl-C stops it (the keyboard is read every VM_PROGRESS_ROWS rows: a
 * read per row would cost more than many rows). */
#define FILTER_PROGRESS_ROWS 100000
static int long_list_progress(rs_browser *b, const char *what, size_t done, size_t total)
{
    if (total <= FILTER_PROGRESS_ROWS || b->bench)
        return 0;
    static struct timespec last;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (seconds_between(&last, &now) >= 0.05) {
        last = now;
        draw_progress(what, done, total);
    }
    /* One poll every VM_PROGRESS_ROWS rows, the GIL kept: Esc typed with
     * the key that started the work stops it at once. */
    if (!ui_input_pending())
        return 0;
    int key = ui_read_key(0);
    return key == UI_KEY_ESC || key == UI_KEY_CTRL_C;
}

int rs_browser_filter_progress(void *ctx, size_t done, size_t total)
{
    return long_list_progress(ctx, "filtering (Esc stops)", done, total);
}

int rs_browser_find_progress(void *ctx, size_t done, size_t total)
{
    return long_list_progress(ctx, "searching (Esc stops)", done, total);
}

/* The same for a sort of many rows. */
static int sort_progress(void *ctx, size_t done, size_t total)
{
    return long_list_progress(ctx, "sorting (Esc stops)", done, total);
}

/* Sorts the list by column, showing progress on a long list; says when
 * memory ran out or Esc stopped it (the list then stays as it was). */
static int sort_list(rs_browser *b, int column, bool descending)
{
    vm_list *list = &b->view->list;
    int r = vm_list_sort_progress(list, column, descending, sort_progress, b);
    if (r > 0)
        rs_browser_info(b, "sort stopped: the list is as it was");
    else if (r < 0)
        rs_browser_error(b, "not enough memory to sort %zu rows", list->total);
    else if (list->sort_column < 0)
        rs_browser_info(b, "unsorted: the screen's own order");
    return RS_REACT_REDRAW;
}

/* --- screens and history ----------------------------------------------------- */

/* A new view of (screen, arg, arg2) on b's snapshot; NULL with an
 * exception set. */
static rs_view *view_new(rs_browser *b, enum rs_screen screen, uint64_t arg, uint64_t arg2, uint64_t unfolded)
{
    const rs_view_class *cls = rs_view_class_of(screen);
    rs_view *v = calloc(1, sizeof *v);
    if (v == NULL || cls == NULL) {
        free(v);
        PyErr_NoMemory();
        return NULL;
    }
    v->cls = cls;
    v->browser = b;
    v->place.screen = (int)screen;
    v->place.arg = arg;
    v->place.arg2 = arg2;
    v->place.unfolded = unfolded;
    v->place.cursor_row = SIZE_MAX;
    v->place.sort_column = -1;
    for (size_t i = 0; i < RS_ROW_CACHE; i++)
        v->cache[i].row = SIZE_MAX;
    if (cls->open(v) < 0) {
        rs_view_destroy(v); /* close() frees whatever open() left */
        return NULL;
    }
    return v;
}

int rs_browser_open(rs_browser *b, enum rs_screen screen, uint64_t arg, uint64_t arg2)
{
    rs_view *v = view_new(b, screen, arg, arg2, 0);
    if (v == NULL) {
        rs_browser_python_error(b, rs_view_class_of(screen) ? rs_view_class_of(screen)->title : "open");
        return -1;
    }
    if (b->view != NULL) {
        vm_place_save_list(&b->view->place, &b->view->list);
        vm_history_push(&b->history, &b->view->place);
        rs_view_destroy(b->view);
    }
    b->view = v;
    return 0;
}

int rs_browser_replace(rs_browser *b, enum rs_screen screen, uint64_t arg, uint64_t arg2)
{
    rs_view *v = view_new(b, screen, arg, arg2, 0);
    if (v == NULL) {
        rs_browser_python_error(b, rs_view_class_of(screen) ? rs_view_class_of(screen)->title : "open");
        return -1;
    }
    rs_view_destroy(b->view);
    b->view = v;
    return 0;
}

int rs_browser_refold(rs_browser *b, uint64_t unfolded, const char *filter)
{
    rs_view *old = b->view;
    rs_view *v = view_new(b, (enum rs_screen)old->place.screen, old->place.arg, old->place.arg2, unfolded);
    if (v == NULL) {
        rs_browser_python_error(b, "filter");
        return -1;
    }
    snprintf(v->place.crumb, sizeof v->place.crumb, "%s", old->place.crumb);
    /* The sort as it was; the rows are others, so the cursor starts on top. */
    vm_place place;
    vm_place_save_list(&place, &old->list);
    place.cursor_row = SIZE_MAX;
    place.filter[0] = '\0';
    int r = vm_place_restore_list(&place, &v->list);
    if (r == 0)
        r = vm_list_filter_progress(&v->list, filter, rs_browser_filter_progress, b);
    if (r != 0) {
        if (r < 0 && !PyErr_Occurred())
            rs_browser_error(b, "not enough memory to filter %zu rows", v->list.total);
        else if (r < 0)
            rs_browser_python_error(b, "filter");
        rs_view_destroy(v);
        return r;
    }
    rs_view_destroy(old);
    b->view = v;
    return 0;
}

/* Goes back one place; false when there is none. */
static bool browser_back(rs_browser *b)
{
    vm_place place;
    while (vm_history_pop(&b->history, &place)) {
        rs_view *v = view_new(b, (enum rs_screen)place.screen, place.arg, place.arg2, place.unfolded);
        if (v == NULL) {
            rs_browser_python_error(b, "back");
            continue;
        }
        snprintf(v->place.crumb, sizeof v->place.crumb, "%s", place.crumb);
        if (vm_place_restore_list(&place, &v->list) < 0)
            rs_browser_error(b, "not enough memory to restore the sort and filter");
        rs_view_destroy(b->view);
        b->view = v;
        return true;
    }
    return false;
}

/* What a place is about, told without the snapshot's indexes so that it
 * can be found again in a new snapshot: an object by address and type, a
 * type by name. */
typedef struct place_subject {
    vm_place place;
    uintptr_t addr;         /* 0 = the screen has no object */
    PyTypeObject *type;     /* borrowed; compared only, never dereferenced */
    char type_name[256];    /* the instances screen's type */
} place_subject;

/* Records what p is about in snapshot s. */
static void subject_save(rs_snapshot *s, const vm_place *p, place_subject *out)
{
    memset(out, 0, sizeof *out);
    out->place = *p;
    rs_idx n = RS_NONE;
    switch ((enum rs_screen)p->screen) {
    case RS_SCREEN_OBJECT:
    case RS_SCREEN_PATH:
    case RS_SCREEN_RETAINED:
    case RS_SCREEN_TEXT: n = (rs_idx)p->arg; break;
    case RS_SCREEN_CYCLE: {
        size_t count;
        const rs_idx *members = rs_scc_cycle_members(s->scc, p->arg, &count);
        n = p->arg2 ? (rs_idx)(p->arg2 - 1) : count ? members[0] : RS_NONE;
        break;
    }
    case RS_SCREEN_INSTANCES:
        if (p->arg < s->type_count)
            snprintf(out->type_name, sizeof out->type_name, "%s", s->types[p->arg].name);
        return;
    default: return;
    }
    if (n != RS_NONE && n < rs_graph_node_count(s->graph)) {
        PyObject *obj = rs_snapshot_object(s, n);
        out->addr = (uintptr_t)obj;
        out->type = Py_TYPE(obj);
    }
}

/* Finds what saved is about in snapshot s and writes the place there into
 * *p; false when it is gone. */
static bool subject_find(rs_snapshot *s, const place_subject *saved, vm_place *p)
{
    *p = saved->place;
    if (saved->type_name[0]) {
        int64_t t = rs_snapshot_type_lookup(s, saved->type_name);
        PyErr_Clear();
        if (t < 0)
            return false;
        p->arg = (uint64_t)t;
        return true;
    }
    bool about_object = p->screen == RS_SCREEN_OBJECT || p->screen == RS_SCREEN_PATH ||
                        p->screen == RS_SCREEN_RETAINED || p->screen == RS_SCREEN_TEXT || p->screen == RS_SCREEN_CYCLE;
    if (!about_object)
        return true;
    rs_idx n = saved->addr ? rs_graph_find(s->graph, saved->addr) : RS_NONE;
    if (n == RS_NONE || Py_TYPE(rs_snapshot_object(s, n)) != saved->type ||
        (rs_graph_flags(s->graph, n) & RS_NODE_INTERNAL))
        return false;
    if (p->screen != RS_SCREEN_CYCLE) {
        p->arg = n;
        return true;
    }
    uint32_t cycle = rs_scc_cycle_of(s->scc, n);
    if (cycle == RS_SCC_NO_CYCLE)
        return false;
    p->arg = cycle;
    p->arg2 = saved->place.arg2 ? (uint64_t)n + 1 : 0;
    return true;
}

/* Takes a new snapshot (gc.collect() first when collect) and reopens the
 * current screen and the back stack on it: each place finds its object
 * again by address and type (holding a reference would show up as an
 * unexplained one in the new snapshot); places whose object is gone are
 * dropped.  0, or -1 with the exception set when no snapshot could be
 * taken. */
static int browser_refresh(rs_browser *b, bool collect)
{
    size_t depth = vm_history_depth(&b->history);
    place_subject *saved = calloc(depth + 1, sizeof *saved);
    if (saved == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < depth; i++)
        subject_save(b->snap, vm_history_at(&b->history, i), &saved[i]);
    bool had_view = b->view != NULL;
    if (had_view) {
        vm_place_save_list(&b->view->place, &b->view->list);
        subject_save(b->snap, &b->view->place, &saved[depth]);
    }
    rs_view_destroy(b->view);
    b->view = NULL;
    vm_history_init(&b->history);
    /* The old snapshot goes first: what it alone kept alive must not show up
     * in the new one. */
    rs_snapshot_free(b->snap);
    b->snap = take_snapshot(b, collect);
    if (b->snap == NULL) {
        free(saved);
        return -1;
    }
    size_t dropped = 0;
    for (size_t i = 0; i < depth; i++) {
        vm_place p;
        if (subject_find(b->snap, &saved[i], &p))
            vm_history_push(&b->history, &p);
        else
            dropped++;
    }
    vm_place current;
    bool found = had_view && subject_find(b->snap, &saved[depth], &current);
    rs_view *v = found ? view_new(b, (enum rs_screen)current.screen, current.arg, current.arg2, current.unfolded) : NULL;
    if (v != NULL) {
        snprintf(v->place.crumb, sizeof v->place.crumb, "%s", current.crumb);
        vm_place_restore_list(&current, &v->list);
        b->view = v;
    } else {
        PyErr_Clear();
        if (!browser_back(b) && rs_browser_replace(b, RS_SCREEN_SUMMARY, 0, 0) < 0) {
            free(saved);
            return -1;
        }
    }
    free(saved);
    rs_browser_info(b, "new snapshot: %zu objects, %zu edges in %.2f s%s%s", b->snap->visible_count,
                    rs_graph_edge_count(b->snap->graph), b->snap->seconds, collect ? " (after gc.collect())" : "",
                    had_view && !found ? "; the object shown before is gone"
                    : dropped ? "; places whose object is gone left the back stack" : "");
    return 0;
}

/* --- drawing ----------------------------------------------------------------- */

static void draw_too_small(int rows, int cols)
{
    const char *lines[] = {"terminal too small", "refscope needs 40x10;", "make it bigger (q leaves)"};
    char size[32];
    snprintf(size, sizeof size, "(now %dx%d)", cols, rows);
    for (int i = 0; i < 3 && i < rows; i++)
        ui_text(i, 0, cols, i == 0 ? UI_ERROR : UI_NORMAL, lines[i]);
    if (rows > 3)
        ui_text(3, 0, cols, UI_DIM, size);
}

/* The short name of node n's type ("Session" for "__main__.Session"). */
static const char *short_type_name(rs_snapshot *s, rs_idx n)
{
    const char *name = rs_snapshot_type_name(s, n);
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* How the title names place p: its crumb, the type of the object it
 * shows, or its screen's name up to a colon. */
static void place_crumb(rs_browser *b, const vm_place *p, char *buf, size_t len)
{
    const rs_view_class *cls = rs_view_class_of((enum rs_screen)p->screen);
    if (p->crumb[0]) {
        snprintf(buf, len, "%s", p->crumb);
    } else if (p->screen == RS_SCREEN_OBJECT && p->arg < rs_graph_node_count(b->snap->graph)) {
        snprintf(buf, len, "%s", short_type_name(b->snap, (rs_idx)p->arg));
    } else {
        const char *title = cls ? cls->title : "?";
        const char *colon = strchr(title, ':');
        snprintf(buf, len, "%.*s", colon ? (int)(colon - title) : (int)strlen(title), title);
    }
}

#define CRUMBS_SHOWN_MAX 24

/* "summary > CACHE > ['req-00042'] > .body": the places the back stack
 * holds, then this one; the oldest are left out to fit in width columns. */
static void format_crumbs(rs_browser *b, char *buf, size_t len, int width)
{
    size_t depth = vm_history_depth(&b->history);
    char crumb[VM_CRUMB_MAX + 8];
    /* No title shows more than a few dozen crumbs: bounded work per frame. */
    for (size_t skip = depth > CRUMBS_SHOWN_MAX ? depth - CRUMBS_SHOWN_MAX : 0; skip <= depth; skip++) {
        size_t pos = 0;
        buf[0] = '\0';
        if (skip > 0)
            pos += (size_t)snprintf(buf, len, "... > ");
        for (size_t i = skip; i <= depth && pos < len; i++) {
            if (i < depth)
                place_crumb(b, vm_history_at(&b->history, i), crumb, sizeof crumb);
            else
                place_crumb(b, &b->view->place, crumb, sizeof crumb);
            int n = snprintf(buf + pos, len - pos, "%s%s", i > skip ? " > " : "", crumb);
            if (n < 0)
                break;
            pos += (size_t)n;
        }
        if (ui_text_width(buf) <= width)
            return;
    }
}

static void draw_title(rs_browser *b, int cols)
{
    rs_view *v = b->view;
    char left[1280], right[128], crumbs[900] = "";
    /* The screen's title as always, then the way here when there is one. */
    const char *title = v ? v->cls->title : "";
    if (v != NULL && vm_history_depth(&b->history) > 0)
        format_crumbs(b, crumbs, sizeof crumbs,
                      cols * 2 / 3 - 16 - ui_text_width(title) - (rs_snapshot_is_stored(b->snap) ? 50 : 0));
    char origin[160];
    if (rs_snapshot_origin(b->snap, origin, sizeof origin) != NULL)
        snprintf(left, sizeof left, " refscope: %s | %s%s%s", origin, title, crumbs[0] ? " | " : "", crumbs);
    else
        snprintf(left, sizeof left, " refscope | %s%s%s", title, crumbs[0] ? " | " : "", crumbs);
    if (v != NULL && v->list.count > 0)
        snprintf(right, sizeof right, "%zu/%zu  %zu objects ", v->list.cursor + 1, v->list.count,
                 b->snap->visible_count);
    else
        snprintf(right, sizeof right, "%zu objects ", b->snap->visible_count);
    ui_fill(0, 0, cols, UI_TITLE);
    ui_text(0, 0, cols, UI_TITLE, left);
    int w = ui_text_width(right);
    if (w < cols - ui_text_width(left) - 1)
        ui_text(0, cols - w, w, UI_TITLE, right);
}

static void draw_bar(rs_browser *b, int row, int cols)
{
    int x = 0;
    b->bar_items = 0;
    for (size_t i = 0; i < rs_key_table_count && x < cols; i++) {
        const rs_key_binding *k = &rs_key_table[i];
        if (k->bar == NULL)
            continue;
        x += ui_text(row, x, cols - x, UI_BAR_KEY, k->key_name);
        x += ui_text(row, x, cols - x, UI_BAR_LABEL, k->bar);
        if (b->bar_items < (int)(sizeof b->bar_end / sizeof b->bar_end[0])) {
            b->bar_end[b->bar_items] = x;
            b->bar_action[b->bar_items++] = k->action;
        }
        if (x < cols)
            x += ui_text(row, x, 1, UI_NORMAL, " ");
    }
}

#define STATUS_ROWS_MAX 4

/* Rows the status message needs to be read in full (at most
 * STATUS_ROWS_MAX): a long message wraps instead of being cut. */
static int status_rows(rs_browser *b, int cols)
{
    if (!b->status[0] || cols <= 0)
        return 1;
    int rows = rs_wrapped_rows(b->status, cols);
    return rows > STATUS_ROWS_MAX ? STATUS_ROWS_MAX : rows;
}

static void draw_status(rs_browser *b, int row, int cols)
{
    if (b->status[0]) {
        rs_draw_wrapped(row, cols, status_rows(b, cols), b->status_error ? UI_ERROR : UI_STATUS, b->status);
        return;
    }
    rs_view *v = b->view;
    if (v == NULL)
        return;
    char line[300];
    const vm_source *src = v->cls->source;
    int used = 0;
    if (v->list.filter[0]) {
        snprintf(line, sizeof line, "filter '%s': %zu of %zu rows  ", v->list.filter, v->list.count, v->list.total);
        used = ui_text(row, 0, cols, UI_MATCH, line);
    }
    if (src != NULL && v->list.sort_column >= 0 && v->list.sort_column < src->column_count) {
        snprintf(line, sizeof line, "sorted by %s%s  ", src->columns[v->list.sort_column],
                 v->list.sort_descending ? " (biggest first)" : " (smallest first)");
        used += ui_text(row, used, cols - used, UI_DIM, line);
    }
    if (v->hscroll > 0) {
        snprintf(line, sizeof line, "rows scrolled %d columns right (%s scrolls back)", v->hscroll,
                 rs_key_name(RS_ACTION_SCROLL_LEFT));
        ui_text(row, used, cols - used, UI_DIM, line);
    }
}

/* Draws the whole frame for the current state. */
static void draw_frame(rs_browser *b)
{
    ui_size(&b->rows, &b->cols);
    ui_begin();
    if (b->rows < MIN_ROWS || b->cols < MIN_COLS) {
        draw_too_small(b->rows, b->cols);
        ui_end();
        return;
    }
    draw_title(b, b->cols);
    int status = status_rows(b, b->cols);
    if (b->view != NULL)
        rs_view_draw(b->view, 1, b->rows - 2 - status, b->cols);
    draw_status(b, b->rows - 1 - status, b->cols);
    if (b->prompt)
        rs_cmdline_draw(b, b->rows - 1, b->cols);
    else
        draw_bar(b, b->rows - 1, b->cols);
    ui_end();
}

/* --- keys -------------------------------------------------------------------- */

static int open_for_selected(rs_browser *b, enum rs_screen screen)
{
    rs_view *v = b->view;
    rs_idx n = v->cls->selected_node ? v->cls->selected_node(v) : RS_NONE;
    if (n == RS_NONE) {
        rs_browser_error(b, "no object selected here; move to a row that shows an object");
        return RS_REACT_REDRAW;
    }
    if (screen == RS_SCREEN_CYCLE) {
        uint32_t cycle = rs_scc_cycle_of(b->snap->scc, n);
        if (cycle == RS_SCC_NO_CYCLE) {
            rs_browser_error(b, "this %s is not in a reference cycle (%s lists every cycle)",
                             rs_snapshot_type_name(b->snap, n), rs_key_name(RS_ACTION_CYCLES));
            return RS_REACT_REDRAW;
        }
        rs_browser_open(b, RS_SCREEN_CYCLE, cycle, (uint64_t)n + 1);
        return RS_REACT_REDRAW;
    }
    char crumb[VM_CRUMB_MAX] = "";
    if (screen == RS_SCREEN_OBJECT && v->cls->row_crumb != NULL && !v->cls->row_crumb(v, crumb, sizeof crumb))
        crumb[0] = '\0';
    if (rs_browser_open(b, screen, n, 0) == 0 && crumb[0])
        rs_copy_text(b->view->place.crumb, sizeof b->view->place.crumb, crumb);
    return RS_REACT_REDRAW;
}

/* The selected object, or RS_NONE with the reason on the status line. */
static rs_idx selected_or_say(rs_browser *b)
{
    rs_view *v = b->view;
    rs_idx n = v->cls->selected_node ? v->cls->selected_node(v) : RS_NONE;
    if (n == RS_NONE)
        rs_browser_error(b, "no object selected here; move to a row that shows an object");
    return n;
}

/* Opens the text pane on the selected object (its value, or its
 * allocation traceback). */
static int open_text(rs_browser *b, int what)
{
    rs_idx n = selected_or_say(b);
    if (n != RS_NONE && rs_browser_open(b, RS_SCREEN_TEXT, n, (uint64_t)what) == 0)
        snprintf(b->view->place.crumb, sizeof b->view->place.crumb, "%s",
                 what == RS_TEXT_ALLOCATION ? "allocation" : "value");
    return RS_REACT_REDRAW;
}

/* y: the selected object's why-alive path to the terminal's clipboard
 * (OSC 52), and printed when the browser ends for terminals without one. */
static int copy_path(rs_browser *b)
{
    rs_idx n = selected_or_say(b);
    if (n == RS_NONE)
        return RS_REACT_REDRAW;
    PyObject *path = rs_path_text(b->snap, n);
    if (path == NULL) {
        rs_browser_python_error(b, "copy");
        return RS_REACT_REDRAW;
    }
    if (path == Py_None) {
        rs_browser_error(b, "this %s is not reachable from a root: no path to copy", rs_snapshot_type_name(b->snap, n));
    } else {
        const char *text = PyUnicode_AsUTF8(path);
        char line[1200];
        if (text == NULL) {
            rs_browser_python_error(b, "copy");
        } else {
            ui_clipboard(text);
            snprintf(line, sizeof line, "refscope: copied why-alive path: %s", text);
            ui_farewell(line);
            rs_browser_info(b, "copied to the clipboard (and printed on exit): %s", text);
        }
    }
    Py_DECREF(path);
    return RS_REACT_REDRAW;
}

/* b: numbers the breadcrumbs that can be jumped back to (1 the oldest)
 * on the status line; digits then pick one (see pick_crumb).  When they
 * do not all fit, the first and the newest show with "..." between: the
 * hidden ones are still reached by their number. */
#define CRUMB_PICK_WIDTH_ROWS 3
static void show_crumb_pick(rs_browser *b)
{
    size_t depth = vm_history_depth(&b->history);
    char typed[48] = "";
    if (b->crumb_typed)
        snprintf(typed, sizeof typed, "  [%zu, Enter goes]", b->crumb_typed);
    size_t budget = (size_t)(b->cols > 0 ? b->cols : 80) * CRUMB_PICK_WIDTH_ROWS;
    if (budget > sizeof b->status - 1)
        budget = sizeof b->status - 1;
    budget -= strlen("back to:") + strlen(typed) + strlen("  ...");
    /* Each crumb's entry ("  12 CACHE") is bounded; the newest that fit go
     * last, after the oldest two. */
    char entry[VM_CRUMB_MAX + 32], crumb[VM_CRUMB_MAX];
    size_t head = depth < 2 ? depth : 2, used = 0, tail_from = depth;
    for (size_t i = 0; i < head; i++) {
        place_crumb(b, vm_history_at(&b->history, i), crumb, sizeof crumb);
        used += (size_t)snprintf(entry, sizeof entry, "  %zu %s", i + 1, crumb);
    }
    while (tail_from > head) {
        place_crumb(b, vm_history_at(&b->history, tail_from - 1), crumb, sizeof crumb);
        size_t n = (size_t)snprintf(entry, sizeof entry, "  %zu %s", tail_from, crumb);
        if (used + n > budget)
            break;
        used += n;
        tail_from--;
    }
    size_t pos = (size_t)snprintf(b->status, sizeof b->status, "back to:");
    for (size_t i = 0; i < depth && pos < sizeof b->status; i++) {
        if (i >= head && i < tail_from) {
            pos += (size_t)snprintf(b->status + pos, sizeof b->status - pos, "  ...");
            i = tail_from - 1;
            continue;
        }
        place_crumb(b, vm_history_at(&b->history, i), crumb, sizeof crumb);
        pos += (size_t)snprintf(b->status + pos, sizeof b->status - pos, "  %zu %s", i + 1, crumb);
    }
    if (pos < sizeof b->status)
        snprintf(b->status + pos, sizeof b->status - pos, "%s", typed);
    b->status_error = false;
}

static int start_crumb_pick(rs_browser *b)
{
    if (vm_history_depth(&b->history) == 0) {
        rs_browser_info(b, "this is the first screen: no breadcrumb to go back to");
        return RS_REACT_REDRAW;
    }
    b->picking_crumb = true;
    b->crumb_typed = 0;
    show_crumb_pick(b);
    return RS_REACT_REDRAW;
}

/* Goes back to breadcrumb number n (1 the oldest). */
static int go_to_crumb(rs_browser *b, size_t n)
{
    b->picking_crumb = false;
    vm_history_drop(&b->history, vm_history_depth(&b->history) - n);
    return RS_REACT_BACK;
}

/* A key while picking: digits make the number, which goes at once when
 * no further digit could name a breadcrumb (so "b 2" goes with fewer
 * than 20), else on Enter; Backspace takes a digit back; any other key
 * cancels. */
static int pick_crumb(rs_browser *b, int key)
{
    size_t depth = vm_history_depth(&b->history);
    if (key >= '0' && key <= '9') {
        size_t n = b->crumb_typed * 10 + (size_t)(key - '0');
        if (n == 0 || n > depth) {
            b->picking_crumb = false;
            rs_browser_error(b, "no breadcrumb %zu here: b then 1 to %zu", n, depth);
            return RS_REACT_REDRAW;
        }
        if (n * 10 > depth)
            return go_to_crumb(b, n);
        b->crumb_typed = n;
    } else if (key == UI_KEY_ENTER && b->crumb_typed > 0) {
        return go_to_crumb(b, b->crumb_typed);
    } else if (key == UI_KEY_BACKSPACE && b->crumb_typed > 0) {
        b->crumb_typed /= 10;
    } else {
        b->picking_crumb = false;
        return RS_REACT_REDRAW;
    }
    show_crumb_pick(b);
    return RS_REACT_REDRAW;
}

static const enum rs_screen screen_of_action[RS_ACTION_COUNT] = {
    [RS_ACTION_SUMMARY] = RS_SCREEN_SUMMARY, [RS_ACTION_TYPES] = RS_SCREEN_TYPES,
    [RS_ACTION_CYCLES] = RS_SCREEN_CYCLES,   [RS_ACTION_GARBAGE] = RS_SCREEN_GARBAGE,
    [RS_ACTION_CLOSURES] = RS_SCREEN_CLOSURES, [RS_ACTION_THREADS] = RS_SCREEN_THREADS,
    [RS_ACTION_GROWTH] = RS_SCREEN_GROWTH,   [RS_ACTION_HELP] = RS_SCREEN_HELP,
};

/* What the browser does with an action the view left alone. */
static int default_action(rs_browser *b, enum rs_action action)
{
    rs_view *v = b->view;
    vm_list *list = &v->list;
    long page = (long)(list->height > 1 ? list->height - 1 : 1);
    switch (action) {
    case RS_ACTION_UP: vm_list_move(list, -1); return RS_REACT_REDRAW;
    case RS_ACTION_DOWN: vm_list_move(list, 1); return RS_REACT_REDRAW;
    case RS_ACTION_PAGE_UP: vm_list_move(list, -page); return RS_REACT_REDRAW;
    case RS_ACTION_PAGE_DOWN: vm_list_move(list, page); return RS_REACT_REDRAW;
    case RS_ACTION_HOME: vm_list_move_to(list, 0); return RS_REACT_REDRAW;
    case RS_ACTION_END: vm_list_move_to(list, list->count ? list->count - 1 : 0); return RS_REACT_REDRAW;
    case RS_ACTION_FOLLOW: return open_for_selected(b, RS_SCREEN_OBJECT);
    case RS_ACTION_PATH: return open_for_selected(b, RS_SCREEN_PATH);
    case RS_ACTION_CYCLE: return open_for_selected(b, RS_SCREEN_CYCLE);
    case RS_ACTION_RETAINED: return open_for_selected(b, RS_SCREEN_RETAINED);
    case RS_ACTION_ALLOCATION: return open_text(b, RS_TEXT_ALLOCATION);
    case RS_ACTION_VALUE: return open_text(b, RS_TEXT_VALUE);
    case RS_ACTION_COPY_PATH: return copy_path(b);
    case RS_ACTION_CRUMBS: return start_crumb_pick(b);
    case RS_ACTION_OTHER_SECTION:
        rs_browser_error(b, "Tab switches between what an object holds and what holds it, on the object screen");
        return RS_REACT_REDRAW;
    case RS_ACTION_SCROLL_LEFT:
    case RS_ACTION_SCROLL_RIGHT: {
        int step = b->cols > 20 ? b->cols / 2 : 10;
        v->hscroll += action == RS_ACTION_SCROLL_RIGHT ? step : -step;
        if (v->hscroll < 0)
            v->hscroll = 0;
        if (v->hscroll > RS_ROW_MAX)
            v->hscroll = RS_ROW_MAX;
        return RS_REACT_REDRAW;
    }
    case RS_ACTION_SORT_REVERSE:
        if (list->sort_column < 0) {
            rs_browser_error(b, "not sorted: %s sorts by a column first", rs_key_name(RS_ACTION_SORT));
            return RS_REACT_REDRAW;
        }
        return sort_list(b, list->sort_column, !list->sort_descending);
    case RS_ACTION_BACK: return RS_REACT_BACK;
    case RS_ACTION_QUIT: return vm_history_depth(&b->history) > 0 ? RS_REACT_BACK : RS_REACT_QUIT;
    case RS_ACTION_LEAVE: return RS_REACT_QUIT;
    case RS_ACTION_FILTER:
        rs_cmdline_start(b, '/');
        return RS_REACT_REDRAW;
    case RS_ACTION_FIND:
        rs_cmdline_start(b, 'f');
        return RS_REACT_REDRAW;
    case RS_ACTION_STDLIB:
        b->show_stdlib = !b->show_stdlib;
        if (v->place.screen == RS_SCREEN_CLOSURES || v->place.screen == RS_SCREEN_THREADS)
            rs_browser_replace(b, (enum rs_screen)v->place.screen, v->place.arg, v->place.arg2);
        rs_browser_info(b, "the standard library's closures and frames are %s", b->show_stdlib ? "shown" : "hidden");
        return RS_REACT_REDRAW;
    case RS_ACTION_GROUP:
        b->ungrouped = !b->ungrouped;
        if (v->place.screen == RS_SCREEN_OBJECT || v->place.screen == RS_SCREEN_INSTANCES) {
            char crumb[VM_CRUMB_MAX];
            snprintf(crumb, sizeof crumb, "%s", v->place.crumb);
            if (rs_browser_replace(b, (enum rs_screen)v->place.screen, v->place.arg, v->place.arg2) == 0)
                snprintf(b->view->place.crumb, sizeof b->view->place.crumb, "%s", crumb);
        }
        rs_browser_info(b, "rows of one type held the same way are %s", b->ungrouped ? "listed one by one" : "folded");
        return RS_REACT_REDRAW;
    case RS_ACTION_COMMAND:
        rs_cmdline_start(b, ':');
        return RS_REACT_REDRAW;
    case RS_ACTION_NEXT_MATCH:
    case RS_ACTION_PREV_MATCH: {
        const char *pattern = b->pattern[0] ? b->pattern : list->filter;
        if (pattern[0] == '\0') {
            rs_browser_error(b, "no text to look for: / sets it");
            return RS_REACT_REDRAW;
        }
        int r = vm_list_find_progress(list, pattern, action == RS_ACTION_NEXT_MATCH ? 1 : -1,
                                      rs_browser_find_progress, b);
        if (r < 0)
            rs_browser_python_error(b, "search");
        else if (r == 0)
            rs_browser_error(b, "no other row matches '%s'", pattern);
        else if (r == 2)
            rs_browser_info(b, "search stopped: the cursor is where it was");
        return RS_REACT_REDRAW;
    }
    case RS_ACTION_SORT:
        if (v->cls->source == NULL || v->cls->source->column_count == 0 || v->cls->source->compare == NULL) {
            rs_browser_error(b, "this screen has one fixed order");
            return RS_REACT_REDRAW;
        }
        return sort_list(b, vm_list_next_sort_column(list), true);
    case RS_ACTION_REDRAW:
        ui_invalidate();
        return RS_REACT_REDRAW;
    case RS_ACTION_SUSPEND:
        if (!ui_suspend())
            rs_browser_error(b, "Ctrl-Z suspends only a program in the foreground of this terminal; "
                                "q leaves the browser");
        return RS_REACT_REDRAW;
    default:
        if (action < RS_ACTION_COUNT && (action == RS_ACTION_SUMMARY || screen_of_action[action] != RS_SCREEN_SUMMARY)) {
            enum rs_screen screen = screen_of_action[action];
            if (v->place.screen != (int)screen)
                rs_browser_open(b, screen, 0, 0);
            return RS_REACT_REDRAW;
        }
        return RS_REACT_NONE;
    }
}

static int handle_mouse(rs_browser *b)
{
    ui_mouse m = ui_last_mouse();
    rs_view *v = b->view;
    if (m.kind == UI_MOUSE_WHEEL_UP || m.kind == UI_MOUSE_WHEEL_DOWN) {
        vm_list_scroll(&v->list, m.kind == UI_MOUSE_WHEEL_UP ? -3 : 3);
        return RS_REACT_REDRAW;
    }
    if (m.kind != UI_MOUSE_CLICK)
        return RS_REACT_NONE;
    if (m.row == b->rows - 1 && !b->prompt) {
        for (int i = 0; i < b->bar_items; i++)
            if (m.col < b->bar_end[i])
                return default_action(b, b->bar_action[i]);
        return RS_REACT_NONE;
    }
    size_t pos = rs_view_position_at(v, m.row, m.col);
    if (pos == SIZE_MAX)
        return RS_REACT_NONE;
    if (pos == v->list.cursor) /* a click on the selected row follows it */
        return RS_REACT_UNHANDLED;
    vm_list_move_to(&v->list, pos);
    return RS_REACT_REDRAW;
}

/* Handles one key; returns reaction flags. */
static int handle_key(rs_browser *b, int key)
{
    if (key == UI_KEY_RESIZE)
        return RS_REACT_REDRAW;
    b->status[0] = '\0';
    if (b->prompt)
        return rs_cmdline_key(b, key);
    if (b->picking_crumb)
        return pick_crumb(b, key);
    if (b->rows < MIN_ROWS || b->cols < MIN_COLS) {
        enum rs_action a = rs_key_action(key);
        return a == RS_ACTION_QUIT || a == RS_ACTION_LEAVE ? RS_REACT_QUIT : RS_REACT_NONE;
    }
    enum rs_action action;
    if (key == UI_KEY_MOUSE) {
        int r = handle_mouse(b);
        if (r != RS_REACT_UNHANDLED)
            return r;
        action = RS_ACTION_FOLLOW;
    } else {
        action = rs_key_action(key);
    }
    if (action == RS_ACTION_NONE) {
        if (key >= 0x20 && key < 0x110000)
            rs_browser_error(b, "no key '%lc' here: ? lists the keys", (wint_t)key);
        return RS_REACT_REDRAW;
    }
    int r = RS_REACT_UNHANDLED;
    if (b->view->cls->key != NULL)
        r = b->view->cls->key(b->view, action);
    if (r & RS_REACT_UNHANDLED)
        r = default_action(b, action);
    return r;
}

/* Applies reaction flags; returns -1 when the browser must stop with the
 * pending exception (no snapshot could be taken). */
static int react(rs_browser *b, int reactions)
{
    if ((reactions & RS_REACT_REFRESH) && rs_snapshot_is_stored(b->snap)) {
        reactions &= ~RS_REACT_REFRESH;
        b->refresh_then = -1;
        rs_browser_error(b, "a dump cannot be refreshed: it is a file, not the live process");
    }
    if (reactions & RS_REACT_REFRESH) {
        int then = b->refresh_then;
        b->refresh_then = -1;
        if (browser_refresh(b, b->refresh_collect) < 0)
            return -1; /* no snapshot to show: the browser ends with the error */
        if (then >= 0)
            rs_browser_open(b, (enum rs_screen)then, 0, 0);
    }
    if (reactions & RS_REACT_BACK) {
        if (!browser_back(b))
            rs_browser_info(b, "this is the first screen: q leaves the browser");
    }
    if (reactions & RS_REACT_QUIT)
        b->quit = true;
    if (PyErr_Occurred()) /* defensive: nothing may leak out of a handler */
        rs_browser_python_error(b, NULL);
    return 0;
}

/* --- the entry point ----------------------------------------------------------- */

static void browser_free(rs_browser *b)
{
    rs_view_destroy(b->view);
    b->view = NULL;
    rs_cmdline_free(b);
    Py_CLEAR(b->main_module);
    b->globals = b->locals = b->caller_frame = NULL;
}

/* Opens the terminal and the first screens; 0 or -1 with an exception set
 * (the terminal is closed again on failure). */
static int browser_start(rs_browser *b, const rs_browser_options *options)
{
    char err[300];
    if (ui_open(options->tty_fd, options->term, err, sizeof err) < 0) {
        PyErr_SetString(rs_error ? rs_error : PyExc_RuntimeError, err);
        return -1;
    }
    b->unicode = ui_unicode();
    /* Borrowed: the caller's frame keeps them alive while we run, and a
     * reference of ours would show in the snapshot as an unexplained one. */
    b->globals = options->eval_globals;
    b->locals = options->eval_locals;
    b->caller_frame = options->caller_frame;
    b->caller = (rs_snapshot_caller){.argument = options->focus, .own_call = options->own_call};
    if (b->globals == NULL) {
        b->main_module = PyImport_ImportModule("__main__");
        if (b->main_module == NULL)
            goto error;
        if (!PyModule_Check(b->main_module)) {
            PyErr_SetString(rs_error, "sys.modules['__main__'] is not a module; pass globals for :eval");
            goto error;
        }
    }
    b->refresh_then = -1;
    vm_history_init(&b->history);
    b->snap = options->stored ? options->stored : take_snapshot(b, false);
    if (b->snap == NULL || (options->stored && ensure_analyses(b->snap) < 0) ||
        rs_browser_replace(b, RS_SCREEN_SUMMARY, 0, 0) < 0)
        goto error;
    b->diff = options->diff;
    if (b->diff != NULL && rs_browser_open(b, RS_SCREEN_DIFF, 0, 0) < 0)
        goto error;
    if (options->stored)
        rs_browser_info(b, "%zu objects, %zu edges from the dump; ? shows the keys; :eval, :refresh and growth "
                        "need the live process", b->snap->visible_count, rs_graph_edge_count(b->snap->graph));
    else
        rs_browser_info(b, "%zu objects, %zu edges, snapshot in %.2f s; ? shows the keys", b->snap->visible_count,
                        rs_graph_edge_count(b->snap->graph), b->snap->seconds);
    if (options->focus != NULL) {
        rs_idx n = rs_snapshot_find(b->snap, options->focus);
        if (n == RS_NONE)
            rs_browser_error(b, "the %s object given is not in the snapshot (refscope's own?)",
                             Py_TYPE(options->focus)->tp_name);
        else
            rs_browser_open(b, RS_SCREEN_OBJECT, n, 0);
    }
    return 0;
error:
    if (!PyErr_Occurred())
        PyErr_SetString(rs_error ? rs_error : PyExc_RuntimeError, "the browser could not start");
    return -1;
}

int rs_browser_run(const rs_browser_options *options)
{
    if (browser_running) {
        PyErr_SetString(rs_error ? rs_error : PyExc_RuntimeError,
                        "the browser is already open; leave it (q) before opening another");
        return -1;
    }
    browser_running = true;
    rs_browser b = {0};
    int result = browser_start(&b, options);
    while (result == 0 && !b.quit) {
        /* A paste or fast typing is handled whole before the next frame. */
        if (!ui_key_pending())
            draw_frame(&b);
        int key = ui_read_key(KEY_TIMEOUT_MS);
        if (key == UI_KEY_HANGUP)
            break; /* nobody to show anything to: the program goes on */
        if (key == UI_KEY_NONE) {
            /* A timeout or a signal: let Python run its handlers (SIGINT from
             * kill raises KeyboardInterrupt here and ends the browser). */
            if (PyErr_CheckSignals() < 0)
                result = -1;
            continue;
        }
        result = react(&b, handle_key(&b, key));
    }
    /* The terminal first: whatever runs below (finalizers of objects only
     * the snapshot kept alive) may print. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    browser_free(&b);
    ui_close();
    if (b.snap != options->stored)
        rs_snapshot_free(b.snap);
    /* The session is over: the arrays kept for a next snapshot go back to
     * the system now rather than whenever the kernel needs the memory. */
    rs_alloc_release_kept();
    PyErr_Restore(type, value, tb);
    browser_running = false;
    return result;
}

PyObject *rs_browser_key_table(void)
{
    PyObject *list = PyList_New((Py_ssize_t)rs_key_table_count);
    for (size_t i = 0; list != NULL && i < rs_key_table_count; i++) {
        PyObject *row = Py_BuildValue("(ss)", rs_key_table[i].key_name, rs_key_table[i].help);
        if (row == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, row);
    }
    return list;
}

/* --- benchmark ---------------------------------------------------------------- */

/* CPU time of the calling thread: the first screen's cost on a machine
 * that others share (the pty reader's time is not the browser's). */
static double thread_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads and drops what the browser writes to the benchmark's pty, so the
 * terminal never blocks; ends when the other side is closed. */
static void *drain_pty(void *arg)
{
    int fd = *(int *)arg;
    char buf[65536];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    return NULL;
}

PyObject *rs_browser_bench(PyObject *target, int keys)
{
    if (browser_running) {
        PyErr_SetString(rs_error, "the browser is already open");
        return NULL;
    }
    int master = -1, slave = -1;
    struct winsize ws = {.ws_row = 30, .ws_col = 100};
    if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
        PyErr_SetString(rs_error, "no pseudo-terminal available for the benchmark");
        return NULL;
    }
    pthread_t drainer;
    if (pthread_create(&drainer, NULL, drain_pty, &master) != 0) {
        close(master);
        close(slave);
        PyErr_SetString(rs_error, "cannot start the benchmark's pty reader");
        return NULL;
    }
    browser_running = true;
    rs_browser b = {0};
    PyObject *times = NULL;
    char err[300];
    if (ui_open(slave, "xterm-256color", err, sizeof err) < 0) {
        PyErr_SetString(rs_error, err);
        goto done;
    }
    b.bench = true;
    b.refresh_then = -1;
    b.unicode = ui_unicode();
    vm_history_init(&b.history);
    double first_start = thread_seconds();
    size_t draws_before = progress_draws;
    b.snap = take_snapshot(&b, false);
    if (b.snap == NULL)
        goto done;
    enum rs_screen screen;
    uint64_t arg;
    if (target == Py_None) {
        screen = RS_SCREEN_SUMMARY;
        arg = 0;
    } else if (PyUnicode_Check(target)) {
        const char *name = PyUnicode_AsUTF8(target);
        int64_t t = name ? rs_snapshot_type_lookup(b.snap, name) : -1;
        if (t < 0) {
            if (!PyErr_Occurred())
                PyErr_Format(rs_error, "no objects of type '%s' in the snapshot", name);
            goto done;
        }
        screen = RS_SCREEN_INSTANCES;
        arg = (uint64_t)t;
    } else {
        rs_idx n = rs_node_of(b.snap, target);
        if (n == RS_NONE)
            goto done;
        screen = RS_SCREEN_OBJECT;
        arg = n;
    }
    if (rs_browser_replace(&b, screen, arg, 0) < 0) {
        PyErr_SetString(rs_error, b.status);
        goto done;
    }
    /* Rows fold by default: Enter unfolds the first group, so the keys
     * run over the million rows with grouping on (and when that row was
     * an object, Back returns to the list).  The summary has no groups:
     * Enter there would open its first suspect, another screen. */
    draw_frame(&b);
    if (screen != RS_SCREEN_SUMMARY) {
        react(&b, handle_key(&b, UI_KEY_ENTER));
        if (b.view->place.screen != (int)screen)
            react(&b, RS_REACT_BACK);
        draw_frame(&b);
    }
    double first_screen = thread_seconds() - first_start;
    size_t draws = progress_draws - draws_before;
    times = PyList_New(0);
    for (int i = 0; times != NULL && i < keys; i++) {
        /* Down to the end, then back up: the cursor keeps scrolling. */
        int key = (i / 2000) % 2 == 0 ? UI_KEY_DOWN : UI_KEY_UP;
        double start = rs_monotonic_seconds();
        react(&b, handle_key(&b, key));
        draw_frame(&b);
        double elapsed = rs_monotonic_seconds() - start;
        PyObject *t = PyFloat_FromDouble(elapsed);
        if (t == NULL || PyList_Append(times, t) < 0)
            Py_CLEAR(times);
        Py_XDECREF(t);
    }
done:;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    browser_free(&b);
    ui_close();
    rs_snapshot_free(b.snap);
    PyErr_Restore(type, value, tb);
    close(slave); /* the reader sees EIO and ends */
    pthread_join(drainer, NULL);
    close(master);
    browser_running = false;
    if (PyErr_Occurred())
        Py_CLEAR(times);
    if (times != NULL && target == Py_None)
        Py_SETREF(times, Py_BuildValue("(dnO)", first_screen, (Py_ssize_t)draws, times));
    return times;
}

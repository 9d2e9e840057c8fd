/*
 * The list screen every view is built on (tmux's mode-tree idea): a
 * header, column titles and a virtual list whose rows are formatted only
 * when they come on screen, with a small cache so that scrolling by one row
 * formats one row.  Also the row-formatting helpers the views share.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refscope/dom.h"
#include "refscope/scc.h"
#include "view.h"

#define REPR_MAX 200

static const rs_view_class *const classes[RS_SCREEN_COUNT] = {
    [RS_SCREEN_SUMMARY] = &rs_view_summary,   [RS_SCREEN_TYPES] = &rs_view_types,
    [RS_SCREEN_INSTANCES] = &rs_view_instances, [RS_SCREEN_OBJECT] = &rs_view_object,
    [RS_SCREEN_PATH] = &rs_view_path,         [RS_SCREEN_RETAINED] = &rs_view_retained,
    [RS_SCREEN_CYCLES] = &rs_view_cycles,     [RS_SCREEN_CYCLE] = &rs_view_cycle,
    [RS_SCREEN_GARBAGE] = &rs_view_garbage,   [RS_SCREEN_CLOSURES] = &rs_view_closures,
    [RS_SCREEN_THREADS] = &rs_view_threads,   [RS_SCREEN_GROWTH] = &rs_view_growth,
    [RS_SCREEN_HELP] = &rs_view_help,         [RS_SCREEN_TEXT] = &rs_view_text,
    [RS_SCREEN_DIFF] = &rs_view_diff,
};

const rs_view_class *rs_view_class_of(enum rs_screen screen)
{
    return (unsigned)screen < RS_SCREEN_COUNT ? classes[screen] : NULL;
}

void rs_view_forget_rows(rs_view *v)
{
    for (size_t i = 0; i < RS_ROW_CACHE; i++) {
        free(v->cache[i].text);
        v->cache[i].text = NULL;
        v->cache[i].row = SIZE_MAX;
    }
}

void rs_view_destroy(rs_view *v)
{
    if (v == NULL)
        return;
    rs_view_forget_rows(v);
    if (v->cls->close != NULL)
        v->cls->close(v);
    vm_list_clear(&v->list);
    free(v);
}

/* The formatted text of row (cached); NULL with a Python exception set. */
static const char *row_text(rs_view *v, size_t row, ui_style *style)
{
    rs_row_cache_entry *e = &v->cache[row % RS_ROW_CACHE];
    if (e->row == row && e->text != NULL) {
        *style = e->style;
        return e->text;
    }
    char buf[RS_ROW_MAX];
    buf[0] = '\0';
    *style = UI_NORMAL;
    if (v->cls->format_row(v, row, buf, sizeof buf, style) < 0)
        return NULL;
    char *copy = strdup(buf);
    if (copy == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    free(e->text);
    e->text = copy;
    e->row = row;
    e->style = *style;
    return copy;
}

int rs_view_row_matches(void *ctx, size_t row, const char *pattern)
{
    rs_view *v = ctx;
    ui_style style;
    char buf[RS_ROW_MAX];
    buf[0] = '\0';
    if (v->cls->format_row(v, row, buf, sizeof buf, &style) < 0)
        return -1;
    return strcasestr(buf, pattern) != NULL;
}

/* text with its first `columns` columns scrolled off (< and >). */
static const char *scrolled(const char *text, int columns)
{
    return columns > 0 ? text + ui_text_fit(text, columns) : text;
}

/* The column titles with the sorted column marked ("size▼"): the mark
 * takes the blank after the name, or is added when there is none. */
static const char *mark_sorted(const rs_view *v, const char *columns, char *buf, size_t len)
{
    const vm_source *src = v->cls->source;
    if (src == NULL || v->list.sort_column < 0 || v->list.sort_column >= src->column_count)
        return columns;
    const char *name = src->columns[v->list.sort_column];
    size_t n = strlen(name);
    const char *at = columns;
    while ((at = strstr(at, name)) != NULL) {
        bool starts = at == columns || at[-1] == ' ';
        bool ends = at[n] == ' ' || at[n] == '\0';
        if (starts && ends)
            break;
        at += n;
    }
    if (at == NULL)
        return columns;
    const char *mark = v->browser->unicode ? (v->list.sort_descending ? "▼" : "▲")
                                           : (v->list.sort_descending ? "v" : "^");
    size_t head = (size_t)(at - columns) + n;
    const char *rest = at[n] == ' ' ? at + n + 1 : at + n;
    snprintf(buf, len, "%.*s%s%s", (int)head, columns, mark, rest);
    return buf;
}

/* Draws v's list from position first up to (not including) end, in
 * height rows of width columns at (top, left). */
static void draw_pane(rs_view *v, int top, int height, int left, int width, size_t end, size_t first)
{
    for (int i = 0; i < height; i++) {
        size_t pos = first + (size_t)i;
        if (pos >= end)
            break;
        ui_style style;
        const char *text = row_text(v, vm_list_row(&v->list, pos), &style);
        char error[256];
        if (text == NULL) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            snprintf(error, sizeof error, "<row failed: %s>", type ? ((PyTypeObject *)type)->tp_name : "?");
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
            text = error;
            style = UI_ERROR;
        }
        if (pos == v->list.cursor) {
            ui_fill(top + i, left, width, UI_SELECTED);
            style = UI_SELECTED;
        }
        ui_text(top + i, left, width, style, scrolled(text, v->hscroll));
    }
}

void rs_view_draw(rs_view *v, int top, int height, int width)
{
    int used = 0;
    if (v->cls->header_height != NULL) {
        int hh = v->cls->header_height(v, width);
        if (hh > height - 2)
            hh = height - 2 > 0 ? height - 2 : 0;
        if (hh > 0 && v->cls->draw_header != NULL)
            v->cls->draw_header(v, top, width);
        used = hh;
    }
    size_t split = v->cls->split != NULL && width >= RS_SIDE_BY_SIDE_COLS ? v->cls->split(v) : SIZE_MAX;
    bool two = split != SIZE_MAX && split > 0 && split < v->list.count;
    int half = width / 2;
    const char *columns = v->cls->columns ? v->cls->columns(v) : NULL;
    if (columns != NULL && used < height) {
        char marked[RS_ROW_MAX];
        const char *text = scrolled(mark_sorted(v, columns, marked, sizeof marked), v->hscroll);
        ui_fill(top + used, 0, width, UI_HEADING);
        ui_text(top + used, 0, two ? half : width, UI_HEADING, text);
        if (two)
            ui_text(top + used, half + 1, width - half - 1, UI_HEADING, text);
        used++;
    }
    int list_height = height - used;
    if (list_height < 1)
        return;
    v->list_row = top + used;
    vm_list_set_height(&v->list, (size_t)list_height);
    if (v->list.count == 0) {
        char msg[256];
        if (v->list.filter[0])
            snprintf(msg, sizeof msg, "  no rows match '%s' (/ then Enter on an empty line shows all)", v->list.filter);
        else
            snprintf(msg, sizeof msg, "  (nothing here)");
        ui_text(top + used, 0, width, UI_DIM, msg);
        return;
    }
    if (!two) {
        v->split_col = 0;
        draw_pane(v, top + used, list_height, 0, width, v->list.count, v->list.top);
        return;
    }
    /* Two panes: each keeps its own scroll; the one with the cursor
     * follows it. */
    size_t start[2] = {0, split}, end[2] = {split, v->list.count};
    int pane = v->list.cursor >= split;
    for (int p = 0; p < 2; p++) {
        size_t t = v->pane_top[p];
        if (p == pane) {
            if (v->list.cursor < t)
                t = v->list.cursor;
            if (v->list.cursor >= t + (size_t)list_height)
                t = v->list.cursor - (size_t)list_height + 1;
        }
        if (t < start[p] || t >= end[p])
            t = start[p];
        v->pane_top[p] = t;
    }
    v->split_col = half + 1;
    draw_pane(v, top + used, list_height, 0, half, end[0], v->pane_top[0]);
    for (int i = 0; i < list_height; i++)
        ui_text(top + used + i, half, 1, UI_DIM, "|");
    draw_pane(v, top + used, list_height, half + 1, width - half - 1, end[1], v->pane_top[1]);
}

size_t rs_view_position_at(const rs_view *v, int row, int col)
{
    if (row < v->list_row || row >= v->list_row + (int)v->list.height)
        return SIZE_MAX;
    size_t offset = (size_t)(row - v->list_row);
    size_t pos;
    if (v->split_col > 0) {
        int p = col >= v->split_col;
        size_t end = p ? v->list.count : (v->cls->split ? v->cls->split((rs_view *)v) : v->list.count);
        pos = v->pane_top[p] + offset;
        if (pos >= end)
            return SIZE_MAX;
    } else {
        pos = v->list.top + offset;
    }
    return pos < v->list.count ? pos : SIZE_MAX;
}

static uint64_t retained_key(rs_snapshot *s, rs_idx n)
{
    uint64_t size;
    if (rs_retained_size(s, n, &size) == 0)
        return size;
    PyErr_Clear(); /* memory: the row then sorts as retaining nothing */
    return 0;
}

int rs_compare_nodes(rs_snapshot *s, rs_idx x, rs_idx y, rs_node_key key)
{
    uint64_t kx, ky;
    switch (key) {
    case RS_KEY_TYPE: return strcmp(rs_snapshot_type_name(s, y), rs_snapshot_type_name(s, x));
    case RS_KEY_SIZE:
        kx = rs_graph_size(s->graph, x);
        ky = rs_graph_size(s->graph, y);
        break;
    case RS_KEY_RETAINED:
        /* The figure the rows show: for garbage, what collecting it frees
         * (remembered after the first ask), not the dominator tree's 0. */
        kx = retained_key(s, x);
        ky = retained_key(s, y);
        break;
    default:
        kx = rs_graph_addr(s->graph, x);
        ky = rs_graph_addr(s->graph, y);
        break;
    }
    return (kx > ky) - (kx < ky);
}

int rs_node_rows_compare(void *view, size_t a, size_t b, int column)
{
    rs_view *v = view;
    const rs_node_rows *r = v->data;
    return rs_compare_nodes(v->browser->snap, r->nodes[a], r->nodes[b], r->keys[column]);
}

/* --- formatting helpers ---------------------------------------------------- */

const char *rs_fmt_size(uint64_t size, char *buf)
{
    return rs_format_bytes(size, buf, 16);
}

bool rs_node_in_closure(rs_snapshot *s, rs_idx n)
{
    if (rs_node_kind(s, n) == RS_KIND_CELL)
        return true;
    size_t count;
    const rs_idx *referrers = rs_graph_referrers(s->graph, n, &count);
    for (size_t i = 0; i < count && i < 64; i++)
        if (rs_node_kind(s, referrers[i]) == RS_KIND_CELL)
            return true;
    return false;
}

bool rs_node_is_garbage(rs_snapshot *s, rs_idx n)
{
    if (rs_graph_flags(s->graph, n) & RS_NODE_GARBAGE)
        return true;
    return s->dom != NULL && !rs_dom_reachable(s->dom, n);
}

const char *rs_fmt_flags(rs_browser *b, rs_idx n, char *buf)
{
    rs_snapshot *s = b->snap;
    bool cycle = s->scc != NULL && rs_scc_in_cycle(s->scc, n);
    bool finalizer = rs_graph_flags(s->graph, n) & RS_NODE_FINALIZER;
    bool closure = rs_node_in_closure(s, n);
    bool garbage = rs_node_is_garbage(s, n);
    if (b->unicode)
        snprintf(buf, 32, "%s%s%s%s", cycle ? "⟳" : " ", finalizer ? "†" : " ", closure ? "◆" : " ",
                 garbage ? "✗" : " ");
    else
        snprintf(buf, 32, "%c%c%c%c", cycle ? 'C' : ' ', finalizer ? 'F' : ' ', closure ? 'L' : ' ',
                 garbage ? 'G' : ' ');
    return buf;
}

const char *rs_fmt_str(PyObject *str, char *buf, size_t len)
{
    PyObject *safe = str ? rs_escape_text(str, (Py_ssize_t)len / 4 > 4 ? (Py_ssize_t)len / 4 : 4) : NULL;
    const char *utf8 = safe ? PyUnicode_AsUTF8(safe) : NULL;
    if (utf8 == NULL) {
        PyErr_Clear();
        utf8 = "?";
    }
    snprintf(buf, len, "%s", utf8);
    Py_XDECREF(safe);
    return buf;
}

#define BIG_CONTAINER 64
#define ITEMS_SHOWN 8

/* repr() of a big built-in container costs time and memory in proportion
 * to its size, on every frame: show its first items and its length. */
static PyObject *container_repr(PyObject *obj)
{
    Py_ssize_t n = PyObject_Length(obj);
    if (n < 0)
        return NULL;
    const char *open = PyDict_Check(obj) ? "{" : PyList_Check(obj) ? "[" : PyTuple_Check(obj) ? "(" : "{";
    const char *close = PyDict_Check(obj) ? "}" : PyList_Check(obj) ? "]" : PyTuple_Check(obj) ? ")" : "}";
    PyObject *parts = PyList_New(0);
    PyObject *iter = parts ? PyObject_GetIter(obj) : NULL;
    for (int i = 0; iter != NULL && i < ITEMS_SHOWN; i++) {
        PyObject *item = PyIter_Next(iter);
        if (item == NULL)
            break;
        PyObject *text;
        if (PyDict_Check(obj)) {
            PyObject *value = PyDict_GetItemWithError(obj, item); /* borrowed */
            PyObject *k = rs_safe_repr(item, 40), *v = value ? rs_safe_repr(value, 60) : NULL;
            text = k && v ? PyUnicode_FromFormat("%U: %U", k, v) : NULL;
            Py_XDECREF(k);
            Py_XDECREF(v);
        } else {
            text = rs_safe_repr(item, 60);
        }
        Py_DECREF(item);
        if (text == NULL || PyList_Append(parts, text) < 0) {
            Py_XDECREF(text);
            Py_CLEAR(parts);
            break;
        }
        Py_DECREF(text);
    }
    Py_XDECREF(iter);
    if (parts == NULL || PyErr_Occurred()) {
        Py_XDECREF(parts);
        return NULL;
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *joined = sep ? PyUnicode_Join(sep, parts) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(parts);
    if (joined == NULL)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("%s%s%U, ...%s (%zd items)", Py_TYPE(obj)->tp_name, open, joined, close, n);
    Py_DECREF(joined);
    return r;
}

/* A long str or bytes: the repr of its start and its length, without
 * building the repr of all of it. */
static PyObject *long_string_repr(PyObject *obj)
{
    PyObject *head;
    Py_ssize_t n;
    if (PyUnicode_CheckExact(obj)) {
        n = PyUnicode_GET_LENGTH(obj);
        head = PyUnicode_Substring(obj, 0, REPR_MAX);
    } else if (PyBytes_CheckExact(obj)) {
        n = PyBytes_GET_SIZE(obj);
        head = PyBytes_FromStringAndSize(PyBytes_AS_STRING(obj), REPR_MAX);
    } else {
        n = PyByteArray_GET_SIZE(obj);
        head = PyByteArray_FromStringAndSize(PyByteArray_AS_STRING(obj), REPR_MAX);
    }
    PyObject *repr = head ? rs_safe_repr(head, REPR_MAX) : NULL;
    Py_XDECREF(head);
    PyObject *r = repr ? PyUnicode_FromFormat("%U... (%zd %s)", repr, n, PyUnicode_CheckExact(obj) ? "chars" : "bytes")
                       : NULL;
    Py_XDECREF(repr);
    return r;
}

const char *rs_fmt_repr(PyObject *obj, char *buf, size_t len)
{
    PyObject *repr;
    bool long_string = (PyUnicode_CheckExact(obj) && PyUnicode_GET_LENGTH(obj) > 4 * REPR_MAX) ||
                       (PyBytes_CheckExact(obj) && PyBytes_GET_SIZE(obj) > 4 * REPR_MAX) ||
                       (PyByteArray_CheckExact(obj) && PyByteArray_GET_SIZE(obj) > 4 * REPR_MAX);
    bool big = (PyDict_CheckExact(obj) && PyDict_GET_SIZE(obj) > BIG_CONTAINER) ||
               (PyList_CheckExact(obj) && PyList_GET_SIZE(obj) > BIG_CONTAINER) ||
               (PyTuple_CheckExact(obj) && PyTuple_GET_SIZE(obj) > BIG_CONTAINER) ||
               ((PySet_CheckExact(obj) || PyFrozenSet_CheckExact(obj)) && PySet_GET_SIZE(obj) > BIG_CONTAINER);
    if (big || long_string) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        repr = big ? container_repr(obj) : long_string_repr(obj);
        if (repr == NULL)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
        if (repr != NULL) {
            PyObject *safe = rs_escape_text(repr, REPR_MAX);
            Py_DECREF(repr);
            repr = safe;
        }
    } else {
        repr = rs_safe_repr(obj, REPR_MAX);
    }
    const char *utf8 = repr ? PyUnicode_AsUTF8(repr) : NULL;
    if (utf8 == NULL) {
        PyErr_Clear();
        utf8 = "<no memory>";
    }
    rs_copy_text(buf, len, utf8);
    Py_XDECREF(repr);
    return buf;
}

const char *rs_fmt_node_repr(rs_snapshot *s, rs_idx n, char *buf, size_t len)
{
    if (!rs_snapshot_is_stored(s))
        return rs_fmt_repr(rs_snapshot_object(s, n), buf, len);
    PyObject *repr = rs_node_repr(s, n, REPR_MAX);
    rs_fmt_str(repr, buf, len);
    Py_XDECREF(repr);
    return buf;
}

void rs_fmt_column(char *buf, size_t len, size_t *pos, const char *text, int width)
{
    if (*pos >= len)
        return;
    size_t room = len - *pos - 1;
    size_t take = width < 0 ? strlen(text) : ui_text_fit(text, width);
    if (take > room)
        take = room;
    memcpy(buf + *pos, text, take);
    *pos += take;
    if (width >= 0) {
        char cut[RS_ROW_MAX];
        memcpy(cut, text, take);
        cut[take] = '\0';
        for (int pad = width - ui_text_width(cut); pad > 0 && *pos < len - 1; pad--)
            buf[(*pos)++] = ' ';
    }
    buf[*pos] = '\0';
}

void rs_fmt_object_row(rs_browser *b, rs_idx n, const char *label, int label_width, char *buf, size_t len)
{
    rs_snapshot *s = b->snap;
    char flags[32], size[16], retained[16], repr[512];
    size_t pos = 0;
    buf[0] = '\0';
    if (label != NULL) {
        rs_fmt_column(buf, len, &pos, label, label_width);
        rs_fmt_column(buf, len, &pos, " ", 1);
    }
    rs_fmt_column(buf, len, &pos, rs_fmt_flags(b, n, flags), 4);
    rs_fmt_column(buf, len, &pos, " ", 1);
    rs_fmt_column(buf, len, &pos, rs_snapshot_type_name(s, n), 22);
    rs_fmt_column(buf, len, &pos, " ", 1);
    snprintf(repr, sizeof repr, "%7s", rs_fmt_size(rs_graph_size(s->graph, n), size));
    rs_fmt_column(buf, len, &pos, repr, 7);
    uint64_t r;
    /* The object screen's figure: for garbage, what its collection frees
     * (the dominator tree gives unreachable objects 0). */
    if (rs_retained_size(s, n, &r) < 0) {
        PyErr_Clear();
        snprintf(retained, sizeof retained, "?");
    } else {
        rs_fmt_size(r, retained);
    }
    snprintf(repr, sizeof repr, " %8s  ", retained);
    rs_fmt_column(buf, len, &pos, repr, -1);
    rs_fmt_column(buf, len, &pos, rs_fmt_node_repr(s, n, repr, sizeof repr), -1);
}

/* Bytes of text on its next wrapped row of width columns: up to the
 * last blank that fits, or as much as fits when a word is longer. */
static size_t wrap_row(const char *text, int width)
{
    size_t fit = ui_text_fit(text, width);
    if (fit == 0 || text[fit] == '\0' || text[fit] == ' ')
        return fit;
    for (size_t i = fit; i > fit / 2; i--)
        if (text[i - 1] == ' ')
            return i;
    return fit;
}

int rs_wrapped_rows(const char *text, int width)
{
    if (width <= 0)
        return 1;
    int rows = 0;
    while (*text) {
        size_t n = wrap_row(text, width);
        if (n == 0)
            break;
        text += n;
        while (*text == ' ')
            text++;
        rows++;
    }
    return rows ? rows : 1;
}

int rs_draw_wrapped(int row, int width, int max_rows, ui_style style, const char *text)
{
    int rows = 0;
    while (rows < max_rows && *text) {
        size_t n = wrap_row(text, width);
        if (n == 0)
            break;
        char piece[RS_ROW_MAX];
        rs_copy_text(piece, n + 1 < sizeof piece ? n + 1 : sizeof piece, text);
        ui_text(row + rows, 0, width, style, piece);
        text += n;
        while (*text == ' ')
            text++;
        rows++;
    }
    return rows;
}

/* The standard library's directories (sysconfig's stdlib and platstdlib),
 * found once. */
static char stdlib_dirs[2][1024];
static bool stdlib_known;

static int find_stdlib_dirs(void)
{
    static const char *const keys[2] = {"stdlib", "platstdlib"};
    PyObject *sysconfig = PyImport_ImportModule("sysconfig");
    for (int i = 0; sysconfig != NULL && i < 2; i++) {
        PyObject *dir = PyObject_CallMethod(sysconfig, "get_path", "s", keys[i]);
        const char *utf8 = dir && PyUnicode_Check(dir) ? PyUnicode_AsUTF8(dir) : NULL;
        if (utf8 != NULL)
            snprintf(stdlib_dirs[i], sizeof stdlib_dirs[i], "%s/", utf8);
        Py_XDECREF(dir);
        if (utf8 == NULL) {
            Py_DECREF(sysconfig);
            return -1;
        }
    }
    Py_XDECREF(sysconfig);
    if (sysconfig == NULL)
        return -1;
    stdlib_known = true;
    return 0;
}

int rs_code_in_stdlib(PyObject *code)
{
    if (code == NULL || !PyCode_Check(code))
        return 0;
    if (!stdlib_known && find_stdlib_dirs() < 0)
        return -1;
    const char *file = PyUnicode_AsUTF8(((PyCodeObject *)code)->co_filename);
    if (file == NULL)
        return -1;
    if (strncmp(file, "<frozen ", 8) == 0)
        return 1;
    if (strstr(file, "/site-packages/") != NULL || strstr(file, "/dist-packages/") != NULL)
        return 0;
    for (int i = 0; i < 2; i++)
        if (stdlib_dirs[i][0] && strncmp(file, stdlib_dirs[i], strlen(stdlib_dirs[i])) == 0)
            return 1;
    return 0;
}

#define HEADER_MAX 600

int rs_view_header_wrapped(rs_view *v, int width)
{
    char text[HEADER_MAX];
    return rs_wrapped_rows(v->cls->header_text(v, text, sizeof text), width);
}

void rs_view_draw_header_wrapped(rs_view *v, int row, int width)
{
    char text[HEADER_MAX];
    v->cls->header_text(v, text, sizeof text);
    rs_draw_wrapped(row, width, rs_wrapped_rows(text, width), UI_HEADING, text);
}

int rs_view_header_one_line(rs_view *v, int width)
{
    (void)v;
    (void)width;
    return 1;
}

/* --- headless rows, for tests -------------------------------------------------- */

/* Sorts v's rows by the column named sort, largest first, as the `s` key
 * does.  0, or -1 with ValueError for a column the screen does not have. */
static int sort_rows(rs_view *v, const char *sort)
{
    const vm_source *src = v->list.source;
    for (int c = 0; src != NULL && c < src->column_count; c++)
        if (strcmp(src->columns[c], sort) == 0) {
            if (vm_list_sort(&v->list, c, true) == 0)
                return 0;
            if (!PyErr_Occurred())
                PyErr_NoMemory();
            return -1;
        }
    PyErr_Format(PyExc_ValueError, "the %s screen has no sort column '%s'", v->cls->title, sort);
    return -1;
}

PyObject *rs_view_rows(rs_snapshot *s, const char *screen_name, uint64_t arg, const char *sort)
{
    static const struct {
        const char *name;
        enum rs_screen screen;
    } screens[] = {
        {"summary", RS_SCREEN_SUMMARY}, {"types", RS_SCREEN_TYPES},       {"garbage", RS_SCREEN_GARBAGE},
        {"cycle", RS_SCREEN_CYCLE},     {"retained", RS_SCREEN_RETAINED}, {"threads", RS_SCREEN_THREADS},
        {"growth", RS_SCREEN_GROWTH},   {"object", RS_SCREEN_OBJECT},       {"cycles", RS_SCREEN_CYCLES},
        {"closures", RS_SCREEN_CLOSURES}, {"value", RS_SCREEN_TEXT}, {"allocation", RS_SCREEN_TEXT},
        {"instances", RS_SCREEN_INSTANCES},
    };
    const rs_view_class *cls = NULL;
    for (size_t i = 0; i < sizeof screens / sizeof screens[0]; i++)
        if (strcmp(screens[i].name, screen_name) == 0)
            cls = rs_view_class_of(screens[i].screen);
    if (cls == NULL) {
        PyErr_Format(PyExc_ValueError, "no screen named '%s'", screen_name);
        return NULL;
    }
    rs_browser b = {.snap = s, .refresh_then = -1};
    rs_view *v = calloc(1, sizeof *v);
    if (v == NULL)
        return PyErr_NoMemory();
    v->cls = cls;
    v->browser = &b;
    v->place.screen = (int)cls->screen;
    /* The instances screen is named by one of them: it lists their type. */
    v->place.arg = cls->screen == RS_SCREEN_INSTANCES && arg < rs_graph_node_count(s->graph)
                       ? rs_graph_type_id(s->graph, (rs_idx)arg)
                       : arg;
    v->place.arg2 = strcmp(screen_name, "allocation") == 0 ? RS_TEXT_ALLOCATION : RS_TEXT_VALUE;
    v->place.cursor_row = SIZE_MAX;
    v->place.sort_column = -1;
    for (size_t i = 0; i < RS_ROW_CACHE; i++)
        v->cache[i].row = SIZE_MAX;
    b.view = v;
    PyObject *list = cls->open(v) < 0 ? NULL : PyList_New(0);
    if (list != NULL && sort != NULL && sort_rows(v, sort) < 0)
        Py_CLEAR(list);
    for (size_t pos = 0; list != NULL && pos < v->list.count; pos++) {
        char buf[RS_ROW_MAX];
        ui_style style;
        PyObject *line = NULL;
        if (cls->format_row(v, vm_list_row(&v->list, pos), buf, sizeof buf, &style) < 0 ||
            (line = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)strlen(buf), "replace")) == NULL ||
            PyList_Append(list, line) < 0)
            Py_CLEAR(list);
        Py_XDECREF(line);
    }
    rs_view_destroy(v);
    return list;
}

/*
 * The text pane: one object's full value (a string in full, a repr, an
 * exception with its traceback) or its allocation traceback, wrapped to
 * the terminal's width and scrolled like any list, so nothing the one-line
 * rows cut off is out of reach.  The text is made once when the pane
 * opens; only the wrapping is redone when the width changes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "view.h"

#define TEXT_MAX (1 << 20) /* characters: a bound on what one pane holds */
#define TAB_SPACES "    "

typedef struct text_line {
    const char *start; /* inside text_data.utf8 */
    size_t len;
} text_line;

typedef struct text_data {
    char *utf8;       /* the text, control characters escaped except '\n' */
    char heading[300];
    text_line *lines; /* wrapped rows */
    size_t count;
    int width; /* the width the rows were wrapped at */
} text_data;

static const vm_source source = {.matches = rs_view_row_matches};

/* Splits d->utf8 into rows of at most width columns (at least one row per
 * line).  0, or -1 with MemoryError. */
static int wrap(text_data *d, int width)
{
    if (width < 8)
        width = 8;
    size_t cap = 64, count = 0;
    text_line *lines = malloc(cap * sizeof *lines);
    if (lines == NULL)
        goto nomem;
    const char *p = d->utf8;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t line_len = nl ? (size_t)(nl - p) : strlen(p);
        size_t done = 0;
        do {
            char piece[RS_ROW_MAX];
            size_t take = line_len - done < sizeof piece - 1 ? line_len - done : sizeof piece - 1;
            memcpy(piece, p + done, take);
            piece[take] = '\0';
            size_t fit = ui_text_fit(piece, width);
            if (fit == 0 && take > 0) /* a character wider than the pane */
                fit = take;
            if (count == cap) {
                text_line *more = realloc(lines, 2 * cap * sizeof *lines);
                if (more == NULL)
                    goto nomem;
                lines = more;
                cap *= 2;
            }
            lines[count++] = (text_line){p + done, fit};
            done += fit;
        } while (done < line_len);
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    free(d->lines);
    d->lines = lines;
    d->count = count;
    d->width = width;
    return 0;
nomem:
    free(lines);
    PyErr_NoMemory();
    return -1;
}

/* text with tabs as spaces and every control character but '\n' escaped,
 * as a malloc'ed UTF-8 string; NULL with an exception. */
static char *escape_lines(PyObject *text)
{
    PyObject *tab = PyUnicode_FromString("\t"), *spaces = PyUnicode_FromString(TAB_SPACES);
    PyObject *nl = PyUnicode_FromString("\n");
    PyObject *untabbed = tab && spaces ? PyUnicode_Replace(text, tab, spaces, -1) : NULL;
    PyObject *parts = untabbed && nl ? PyUnicode_Split(untabbed, nl, -1) : NULL;
    Py_XDECREF(tab);
    Py_XDECREF(spaces);
    Py_XDECREF(untabbed);
    for (Py_ssize_t i = 0; parts != NULL && i < PyList_GET_SIZE(parts); i++) {
        PyObject *safe = rs_escape_text(PyList_GET_ITEM(parts, i), TEXT_MAX);
        if (safe == NULL)
            Py_CLEAR(parts);
        else
            PyList_SetItem(parts, i, safe); /* steals safe, drops the old line */
    }
    PyObject *joined = parts && nl ? PyUnicode_Join(nl, parts) : NULL;
    Py_XDECREF(parts);
    Py_XDECREF(nl);
    const char *utf8 = joined ? PyUnicode_AsUTF8(joined) : NULL;
    char *copy = utf8 ? strdup(utf8) : NULL;
    if (utf8 != NULL && copy == NULL)
        PyErr_NoMemory();
    Py_XDECREF(joined);
    return copy;
}

static int text_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    if (v->place.arg >= rs_graph_node_count(s->graph)) {
        PyErr_SetString(PyExc_IndexError, "no such object in this snapshot");
        return -1;
    }
    text_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    rs_idx n = (rs_idx)v->place.arg;
    bool allocation = v->place.arg2 == RS_TEXT_ALLOCATION;
    PyObject *text = allocation ? rs_node_allocation_text(s, n) : rs_node_value_text(s, n, TEXT_MAX);
    if (text == NULL)
        return -1;
    d->utf8 = escape_lines(text);
    Py_ssize_t chars = PyUnicode_GET_LENGTH(text);
    Py_DECREF(text);
    if (d->utf8 == NULL)
        return -1;
    snprintf(d->heading, sizeof d->heading, "%s of %s at 0x%llx (%zd characters; q goes back)",
             allocation ? "allocation traceback" : "full value", rs_snapshot_type_name(s, n),
             (unsigned long long)rs_graph_addr(s->graph, n), chars);
    if (wrap(d, v->browser->cols > 0 ? v->browser->cols : 80) < 0)
        return -1;
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void text_close(rs_view *v)
{
    text_data *d = v->data;
    if (d != NULL) {
        free(d->utf8);
        free(d->lines);
    }
    free(d);
    v->data = NULL;
}

/* One line of heading; a new width rewraps the text (the top row stays). */
static int text_header_height(rs_view *v, int width)
{
    text_data *d = v->data;
    if (width != d->width && width >= 8) {
        const char *at = d->count ? d->lines[v->list.top].start : NULL;
        if (wrap(d, width) < 0) {
            PyErr_Clear(); /* keep the old rows: still readable */
            return 1;
        }
        rs_view_forget_rows(v);
        vm_list_clear(&v->list);
        vm_list_init(&v->list, &source, v, d->count);
        for (size_t i = 0; at != NULL && i < d->count; i++)
            if (d->lines[i].start + d->lines[i].len > at) {
                vm_list_move_to(&v->list, i);
                break;
            }
    }
    return 1;
}

static void text_draw_header(rs_view *v, int row, int width)
{
    ui_text(row, 0, width, UI_HEADING, ((text_data *)v->data)->heading);
}

static int text_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    const text_line *l = &((text_data *)v->data)->lines[row];
    *style = UI_NORMAL;
    size_t n = l->len < len - 1 ? l->len : len - 1;
    memcpy(buf, l->start, n);
    buf[n] = '\0';
    return 0;
}

static rs_idx text_selected(rs_view *v)
{
    return (rs_idx)v->place.arg;
}

const rs_view_class rs_view_text = {
    .screen = RS_SCREEN_TEXT,
    .title = "value",
    .source = &source,
    .open = text_open,
    .close = text_close,
    .header_height = text_header_height,
    .draw_header = text_draw_header,
    .format_row = text_format,
    .selected_node = text_selected,
};

/*
 * The threads screen: every thread, its executing frames from the
 * innermost out, and under each frame its locals (the frame roots of the
 * snapshot) with their sizes; then the suspended generators and
 * coroutines with theirs.  A local of a frame that has not returned keeps
 * its value alive: this is where such leaks show.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

enum row_kind { ROW_THREAD, ROW_FRAME, ROW_LOCAL, ROW_SUSPENDED_HEADING, ROW_GENERATOR, ROW_GENERATOR_LOCAL };

typedef struct thread_row {
    enum row_kind kind;
    uint32_t index;  /* thread, frame or suspended-frame index */
    uint32_t local;  /* ROW_LOCAL, ROW_GENERATOR_LOCAL: index into that frame's locals */
    size_t parent;   /* the thread of a frame, the frame of a local; SIZE_MAX for none */
} thread_row;

typedef struct threads_data {
    thread_row *rows;
    size_t count;
    rs_local **frame_locals; /* per executing frame (frames.c) */
    size_t *frame_local_counts;
    rs_suspended_frame *suspended;
    size_t suspended_count;
    rs_local **gen_locals; /* per suspended frame */
    size_t *gen_local_counts;
    size_t hidden_frames; /* the standard library's, left out */
} threads_data;

static size_t parent_row(void *ctx, size_t row)
{
    return ((threads_data *)((rs_view *)ctx)->data)->rows[row].parent;
}

static const vm_source source = {.matches = rs_view_row_matches, .parent = parent_row};

static int threads_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    threads_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    /* Executing frames' locals (frames.c reads them from the frame roots). */
    d->frame_locals = calloc(s->frame_count + 1, sizeof *d->frame_locals);
    d->frame_local_counts = calloc(s->frame_count + 1, sizeof *d->frame_local_counts);
    if (d->frame_locals == NULL || d->frame_local_counts == NULL)
        goto nomem;
    size_t rows = s->thread_count + s->frame_count + 1;
    for (uint32_t f = 0; f < s->frame_count; f++) {
        if ((d->frame_locals[f] = rs_frame_locals(s, f, &d->frame_local_counts[f])) == NULL)
            return -1;
        rows += d->frame_local_counts[f];
    }
    /* Suspended generators and coroutines, with their locals. */
    d->suspended = rs_suspended_frames(s, &d->suspended_count);
    if (d->suspended == NULL)
        return -1;
    d->gen_locals = calloc(d->suspended_count + 1, sizeof *d->gen_locals);
    d->gen_local_counts = calloc(d->suspended_count + 1, sizeof *d->gen_local_counts);
    if (d->gen_locals == NULL || d->gen_local_counts == NULL)
        goto nomem;
    for (size_t g = 0; g < d->suspended_count; g++) {
        d->gen_locals[g] = rs_generator_locals(s, d->suspended[g].generator, &d->gen_local_counts[g]);
        if (d->gen_locals[g] == NULL)
            return -1;
        rows += 1 + d->gen_local_counts[g];
    }
    d->rows = malloc(rows * sizeof *d->rows);
    if (d->rows == NULL)
        goto nomem;
    for (uint32_t t = 0; t < s->thread_count; t++) {
        size_t thread = d->count;
        d->rows[d->count++] = (thread_row){ROW_THREAD, t, 0, SIZE_MAX};
        const rs_thread_info *ti = &s->threads[t];
        for (uint32_t f = ti->first_frame; f < ti->first_frame + ti->frame_count && f < s->frame_count; f++) {
            if (s->frames[f].refscope)
                continue;
            int stdlib = v->browser->show_stdlib ? 0 : rs_code_in_stdlib(s->frames[f].code);
            if (stdlib < 0)
                return -1;
            if (stdlib) {
                d->hidden_frames++;
                continue;
            }
            size_t frame = d->count;
            d->rows[d->count++] = (thread_row){ROW_FRAME, f, 0, thread};
            for (size_t k = 0; k < d->frame_local_counts[f]; k++)
                d->rows[d->count++] = (thread_row){ROW_LOCAL, f, (uint32_t)k, frame};
        }
    }
    size_t heading = d->count;
    d->rows[d->count++] = (thread_row){ROW_SUSPENDED_HEADING, 0, 0, SIZE_MAX};
    for (size_t g = 0; g < d->suspended_count; g++) {
        int stdlib = v->browser->show_stdlib ? 0 : rs_code_in_stdlib(d->suspended[g].code);
        if (stdlib < 0)
            return -1;
        if (stdlib) {
            d->hidden_frames++;
            continue;
        }
        size_t generator = d->count;
        d->rows[d->count++] = (thread_row){ROW_GENERATOR, (uint32_t)g, 0, heading};
        for (size_t k = 0; k < d->gen_local_counts[g]; k++)
            d->rows[d->count++] = (thread_row){ROW_GENERATOR_LOCAL, (uint32_t)g, (uint32_t)k, generator};
    }
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* The local a ROW_LOCAL or ROW_GENERATOR_LOCAL row shows. */
static const rs_local *row_local(threads_data *d, const thread_row *r)
{
    return r->kind == ROW_LOCAL ? &d->frame_locals[r->index][r->local] : &d->gen_locals[r->index][r->local];
}

static void threads_close(rs_view *v)
{
    threads_data *d = v->data;
    if (d != NULL) {
        for (size_t g = 0; d->gen_locals != NULL && g < d->suspended_count; g++)
            rs_free(d->gen_locals[g]);
        for (uint32_t f = 0; d->frame_locals != NULL && f < v->browser->snap->frame_count; f++)
            rs_free(d->frame_locals[f]);
        free(d->frame_locals);
        free(d->frame_local_counts);
        free(d->gen_locals);
        free(d->gen_local_counts);
        rs_free(d->suspended);
        free(d->rows);
    }
    free(d);
    v->data = NULL;
}

/* Frames first .. first + count - 1 that are the program's, not `refscope run`'s. */
static uint32_t shown_frames(const rs_snapshot *s, uint32_t first, uint32_t count)
{
    uint32_t shown = 0;
    for (uint32_t f = first; f < first + count && f < s->frame_count; f++)
        shown += !s->frames[f].refscope;
    return shown;
}

static const char *header_text(rs_view *v, char *line, size_t len)
{
    rs_snapshot *s = v->browser->snap;
    threads_data *d = v->data;
    snprintf(line, len,
             "%u threads, %u executing frames, %zu suspended generators; their locals keep objects alive. "
             "Standard library frames: %zu %s (%s)",
             s->thread_count, shown_frames(s, 0, s->frame_count), d->suspended_count, d->hidden_frames,
             v->browser->show_stdlib ? "shown" : "hidden", rs_key_name(RS_ACTION_STDLIB));
    return line;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int threads_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    rs_browser *b = v->browser;
    rs_snapshot *s = b->snap;
    const thread_row *r = &((threads_data *)v->data)->rows[row];
    *style = UI_NORMAL;
    if (r->kind == ROW_THREAD) {
        const rs_thread_info *t = &s->threads[r->index];
        uint32_t frames = shown_frames(s, t->first_frame, t->frame_count);
        snprintf(buf, len, "thread '%s' (ident %lu), %u frame%s%s", t->name, t->ident, frames, frames == 1 ? "" : "s",
                 t->is_current ? "  <- this thread (the browser runs here)" : "");
        *style = UI_HEADING;
        return 0;
    }
    if (r->kind == ROW_SUSPENDED_HEADING) {
        snprintf(buf, len, "suspended generators and coroutines: %zu", ((threads_data *)v->data)->suspended_count);
        *style = UI_HEADING;
        return 0;
    }
    if (r->kind == ROW_LOCAL || r->kind == ROW_GENERATOR_LOCAL) {
        const rs_local *l = row_local(v->data, r);
        char text[200], label[220];
        snprintf(label, sizeof label, "    %s", rs_fmt_str(l->name, text, sizeof text));
        rs_fmt_object_row(b, l->value, label, 26, buf, len);
        return 0;
    }
    if (r->kind == ROW_GENERATOR) {
        threads_data *d = v->data;
        const rs_suspended_frame *g = &d->suspended[r->index];
        PyCodeObject *code = (PyCodeObject *)g->code;
        const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
        const char *name = PyUnicode_Check(code->co_qualname) ? PyUnicode_AsUTF8(code->co_qualname) : NULL;
        if (file == NULL || name == NULL)
            PyErr_Clear();
        snprintf(buf, len, "  %s %s() %s:%d", rs_snapshot_type_name(s, g->generator), name ? name : "?",
                 file ? basename_of(file) : "?", g->line);
        return 0;
    }
    if (r->kind == ROW_FRAME) {
        const rs_frame_info *f = &s->frames[r->index];
        PyCodeObject *code = (PyCodeObject *)f->code; /* NULL on a dump */
        bool caller = false;
        if (b->caller_frame != NULL && PyFrame_Check(b->caller_frame) && f->thread < s->thread_count &&
            s->threads[f->thread].is_current) {
            PyCodeObject *caller_code = PyFrame_GetCode((PyFrameObject *)b->caller_frame); /* new reference */
            caller = caller_code == code;
            Py_DECREF(caller_code);
        }
        char where[400];
        PyObject *text = rs_node_frame_text(s, r->index);
        snprintf(buf, len, "  frame %s%s", rs_fmt_str(text, where, sizeof where), caller ? "  <- opened the browser" : "");
        Py_XDECREF(text);
        return 0;
    }
    return 0;
}

static rs_idx threads_selected(rs_view *v)
{
    size_t row = vm_list_selected(&v->list);
    if (row == SIZE_MAX)
        return RS_NONE;
    rs_snapshot *s = v->browser->snap;
    const thread_row *r = &((threads_data *)v->data)->rows[row];
    threads_data *d = v->data;
    switch (r->kind) {
    case ROW_LOCAL:
    case ROW_GENERATOR_LOCAL: return row_local(d, r)->value;
    case ROW_FRAME: return s->frames[r->index].function;
    case ROW_GENERATOR: return d->suspended[r->index].generator;
    default: return RS_NONE;
    }
}

const rs_view_class rs_view_threads = {
    .screen = RS_SCREEN_THREADS,
    .title = "threads and frames",
    .source = &source,
    .open = threads_open,
    .close = threads_close,
    .header_height = rs_view_header_wrapped,
    .draw_header = rs_view_draw_header_wrapped,
    .header_text = header_text,
    .format_row = threads_format,
    .selected_node = threads_selected,
};

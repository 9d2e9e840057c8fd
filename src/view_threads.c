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
    uint32_t index;  /* thread, frame, root or suspended-frame index */
    uint32_t local;  /* ROW_GENERATOR_LOCAL: index into that frame's locals */
} thread_row;

typedef struct threads_data {
    thread_row *rows;
    size_t count;
    rs_suspended_frame *suspended;
    size_t suspended_count;
    rs_local **gen_locals; /* per suspended frame */
    size_t *gen_local_counts;
} threads_data;

static const vm_source source = {.matches = rs_view_row_matches};

static int threads_open(rs_view *v)
{
    rs_snapshot *s = v->browser->snap;
    threads_data *d = calloc(1, sizeof *d);
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->data = d;
    size_t root_count;
    const rs_root *roots = rs_graph_roots(s->graph, &root_count);
    /* Named locals per frame, in root order (the walk adds them by slot),
     * bucketed by frame. */
    size_t *per_frame = calloc(s->frame_count + 1, sizeof *per_frame);
    uint32_t *by_frame = malloc((root_count ? root_count : 1) * sizeof *by_frame);
    if (per_frame == NULL || by_frame == NULL) {
        free(per_frame);
        free(by_frame);
        PyErr_NoMemory();
        return -1;
    }
    size_t locals = 0;
    for (size_t i = 0; i < root_count; i++) {
        if (roots[i].kind != RS_ROOT_FRAME)
            continue;
        const rs_root_info *info = &s->root_info[roots[i].info];
        PyCodeObject *code = (PyCodeObject *)s->frames[info->frame].code;
        if (info->slot < 0 || info->slot >= code->co_nlocalsplus)
            continue;
        if (rs_graph_flags(s->graph, roots[i].target) & RS_NODE_INTERNAL)
            continue;
        per_frame[info->frame + 1]++;
        locals++;
    }
    for (uint32_t f = 0; f < s->frame_count; f++)
        per_frame[f + 1] += per_frame[f];
    {
        size_t *fill = calloc(s->frame_count + 1, sizeof *fill);
        if (fill == NULL) {
            free(per_frame);
            free(by_frame);
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i < root_count; i++) {
            if (roots[i].kind != RS_ROOT_FRAME)
                continue;
            const rs_root_info *info = &s->root_info[roots[i].info];
            PyCodeObject *code = (PyCodeObject *)s->frames[info->frame].code;
            if (info->slot < 0 || info->slot >= code->co_nlocalsplus ||
                (rs_graph_flags(s->graph, roots[i].target) & RS_NODE_INTERNAL))
                continue;
            by_frame[per_frame[info->frame] + fill[info->frame]++] = (uint32_t)i;
        }
        free(fill);
    }
    /* Suspended generators and coroutines, with their locals. */
    d->suspended = rs_suspended_frames(s, &d->suspended_count);
    if (d->suspended == NULL) {
        free(per_frame);
        free(by_frame);
        return -1;
    }
    d->gen_locals = calloc(d->suspended_count + 1, sizeof *d->gen_locals);
    d->gen_local_counts = calloc(d->suspended_count + 1, sizeof *d->gen_local_counts);
    size_t gen_rows = d->suspended_count + 1;
    for (size_t g = 0; d->gen_locals != NULL && d->gen_local_counts != NULL && g < d->suspended_count; g++) {
        d->gen_locals[g] = rs_generator_locals(s, d->suspended[g].generator, &d->gen_local_counts[g]);
        if (d->gen_locals[g] == NULL) {
            free(per_frame);
            free(by_frame);
            return -1;
        }
        gen_rows += d->gen_local_counts[g];
    }
    d->rows = d->gen_locals && d->gen_local_counts
                  ? malloc((s->thread_count + s->frame_count + locals + gen_rows + 1) * sizeof *d->rows)
                  : NULL;
    if (d->rows == NULL) {
        free(per_frame);
        free(by_frame);
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t t = 0; t < s->thread_count; t++) {
        d->rows[d->count++] = (thread_row){ROW_THREAD, t, 0};
        const rs_thread_info *ti = &s->threads[t];
        for (uint32_t f = ti->first_frame; f < ti->first_frame + ti->frame_count && f < s->frame_count; f++) {
            d->rows[d->count++] = (thread_row){ROW_FRAME, f, 0};
            for (size_t k = per_frame[f]; k < per_frame[f + 1]; k++)
                d->rows[d->count++] = (thread_row){ROW_LOCAL, by_frame[k], 0};
        }
    }
    d->rows[d->count++] = (thread_row){ROW_SUSPENDED_HEADING, 0, 0};
    for (size_t g = 0; g < d->suspended_count; g++) {
        d->rows[d->count++] = (thread_row){ROW_GENERATOR, (uint32_t)g, 0};
        for (size_t k = 0; k < d->gen_local_counts[g]; k++)
            d->rows[d->count++] = (thread_row){ROW_GENERATOR_LOCAL, (uint32_t)g, (uint32_t)k};
    }
    free(per_frame);
    free(by_frame);
    vm_list_init(&v->list, &source, v, d->count);
    return 0;
}

static void threads_close(rs_view *v)
{
    threads_data *d = v->data;
    if (d != NULL) {
        for (size_t g = 0; d->gen_locals != NULL && g < d->suspended_count; g++)
            rs_free(d->gen_locals[g]);
        free(d->gen_locals);
        free(d->gen_local_counts);
        rs_free(d->suspended);
        free(d->rows);
    }
    free(d);
    v->data = NULL;
}

static void threads_draw_header(rs_view *v, int row, int width)
{
    rs_snapshot *s = v->browser->snap;
    char line[200];
    snprintf(line, sizeof line, "%u threads, %u executing frames, %zu suspended generators; their locals keep objects alive",
             s->thread_count, s->frame_count, ((threads_data *)v->data)->suspended_count);
    ui_text(row, 0, width, UI_HEADING, line);
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
        snprintf(buf, len, "thread '%s' (ident %lu), %u frame%s%s", t->name, t->ident, t->frame_count,
                 t->frame_count == 1 ? "" : "s", t->is_current ? "  <- this thread (the browser runs here)" : "");
        *style = UI_HEADING;
        return 0;
    }
    if (r->kind == ROW_SUSPENDED_HEADING) {
        snprintf(buf, len, "suspended generators and coroutines: %zu", ((threads_data *)v->data)->suspended_count);
        *style = UI_HEADING;
        return 0;
    }
    if (r->kind == ROW_GENERATOR || r->kind == ROW_GENERATOR_LOCAL) {
        threads_data *d = v->data;
        const rs_suspended_frame *g = &d->suspended[r->index];
        if (r->kind == ROW_GENERATOR_LOCAL) {
            const rs_local *l = &d->gen_locals[r->index][r->local];
            char text[200], label[220];
            snprintf(label, sizeof label, "    %s", rs_fmt_str(l->name, text, sizeof text));
            rs_fmt_object_row(b, l->value, label, 26, buf, len);
            return 0;
        }
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
        PyCodeObject *code = (PyCodeObject *)f->code;
        const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
        const char *name = PyUnicode_Check(code->co_qualname) ? PyUnicode_AsUTF8(code->co_qualname) : NULL;
        if (file == NULL || name == NULL)
            PyErr_Clear();
        bool caller = false;
        if (b->caller_frame != NULL && PyFrame_Check(b->caller_frame) && f->thread < s->thread_count &&
            s->threads[f->thread].is_current) {
            PyCodeObject *caller_code = PyFrame_GetCode((PyFrameObject *)b->caller_frame); /* new reference */
            caller = caller_code == code;
            Py_DECREF(caller_code);
        }
        snprintf(buf, len, "  frame %s() %s:%d%s", name ? name : "?", file ? basename_of(file) : "?", f->line,
                 caller ? "  <- opened the browser" : "");
        return 0;
    }
    const rs_root *root = &rs_graph_roots(s->graph, &(size_t){0})[r->index];
    const rs_root_info *info = &s->root_info[root->info];
    PyCodeObject *code = (PyCodeObject *)s->frames[info->frame].code;
    PyObject *name = PyTuple_GET_ITEM(code->co_localsplusnames, info->slot);
    char text[200], label[220];
    snprintf(label, sizeof label, "    %s", rs_fmt_str(name, text, sizeof text));
    rs_fmt_object_row(b, root->target, label, 26, buf, len);
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
    case ROW_LOCAL: return rs_graph_roots(s->graph, &(size_t){0})[r->index].target;
    case ROW_FRAME: return s->frames[r->index].function;
    case ROW_GENERATOR: return d->suspended[r->index].generator;
    case ROW_GENERATOR_LOCAL: return d->gen_locals[r->index][r->local].value;
    default: return RS_NONE;
    }
}

const rs_view_class rs_view_threads = {
    .screen = RS_SCREEN_THREADS,
    .title = "threads and frames",
    .source = &source,
    .open = threads_open,
    .close = threads_close,
    .header_height = rs_view_header_one_line,
    .draw_header = threads_draw_header,
    .format_row = threads_format,
    .selected_node = threads_selected,
};

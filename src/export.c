/*
 * Exports of a snapshot: the whole graph as JSON and the neighbourhood of
 * one object as Graphviz DOT.  Both are written in chunks to a file
 * object's write(), text or binary.
 *
 * JSON schema (version 1); node ids are positions in "nodes", counting
 * only objects a user can see (refscope's own are left out):
 *
 *   format     "refscope-snapshot"          version   1
 *   objects    number of nodes               edges     references in the graph
 *   seconds    time the snapshot took
 *   flag_bits  {"gc_tracked": 1, "is_gc": 2, "py_sizeof": 4, "finalizer": 8,
 *               "type": 16, "module": 32, "not_data": 64, "root": 128,
 *               "weakref": 256, "garbage": 512, "immortal": 8192}
 *   types      ["dict", "app.Node", ...]: type names by type index
 *   nodes      [[address, type index, size, refcount, unexplained, flags]]
 *   referents  [[node id, ...]] per node, in tp_traverse order, duplicates kept
 *   roots      [{"kind": "module" | "frame" | "held", "target": node id,
 *                "label": "sys.modules['app']" ...}], in path preference order
 *   threads    [{"name", "ident", "current", "frames": [{"function", "file",
 *                "line"}]}], innermost frame first
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdarg.h>
#include <string.h>

#include "analysis.h"
#include "module_analysis.h"
#include "node.h"

#define CHUNK (1u << 20)
/* Appends a string literal. */
#define LIT(w, text) raw((w), (text), sizeof(text) - 1)
#define DOT_REPR_MAX 60

typedef struct writer {
    PyObject *file;
    char *buf;
    size_t len, cap;
    int binary; /* the file took bytes, not str */
    int failed;
} writer;

static void grow(writer *w, size_t need)
{
    if (w->failed || w->len + need <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : CHUNK + 4096;
    while (cap < w->len + need)
        cap *= 2;
    char *buf = rs_realloc(w->buf, cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        w->failed = 1;
        return;
    }
    w->buf = buf;
    w->cap = cap;
}

static void raw(writer *w, const char *text, size_t len)
{
    grow(w, len);
    if (w->failed)
        return;
    memcpy(w->buf + w->len, text, len);
    w->len += len;
}

static void out(writer *w, const char *format, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(tmp, sizeof tmp, format, ap);
    va_end(ap);
    if (n > 0)
        raw(w, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Writes the buffer out; called between elements, so UTF-8 never splits. */
static void flush(writer *w)
{
    if (w->failed || w->len == 0)
        return;
    PyObject *chunk = w->binary ? PyBytes_FromStringAndSize(w->buf, (Py_ssize_t)w->len)
                                : PyUnicode_DecodeUTF8(w->buf, (Py_ssize_t)w->len, "replace");
    PyObject *r = chunk ? PyObject_CallMethod(w->file, "write", "O", chunk) : NULL;
    if (r == NULL && chunk != NULL && !w->binary && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        w->binary = 1;
        Py_DECREF(chunk);
        chunk = PyBytes_FromStringAndSize(w->buf, (Py_ssize_t)w->len);
        r = chunk ? PyObject_CallMethod(w->file, "write", "O", chunk) : NULL;
    }
    Py_XDECREF(chunk);
    if (r == NULL) {
        w->failed = 1;
        return;
    }
    Py_DECREF(r);
    w->len = 0;
}

static void maybe_flush(writer *w)
{
    if (w->len >= CHUNK)
        flush(w);
}

/* A JSON string (or DOT string: same escapes) of UTF-8 text. */
static void quoted(writer *w, const char *text, Py_ssize_t len)
{
    LIT(w, "\"");
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            raw(w, e, 2);
        } else if (c == '\n') {
            LIT(w, "\\n");
        } else if (c < 0x20) {
            out(w, "\\u%04x", c);
        } else {
            raw(w, (const char *)&c, 1);
        }
    }
    LIT(w, "\"");
}

static void quoted_c(writer *w, const char *text)
{
    quoted(w, text, (Py_ssize_t)strlen(text));
}

/* Writes a Python str quoted; 0, or -1 on error. */
static void quoted_py(writer *w, PyObject *str)
{
    if (str == NULL) {
        w->failed = 1;
        return;
    }
    Py_ssize_t len;
    const char *u = PyUnicode_AsUTF8AndSize(str, &len);
    if (u != NULL) {
        quoted(w, u, len);
        return;
    }
    /* A lone surrogate (an attribute named '\udc80'): written escaped. */
    PyErr_Clear();
    PyObject *bytes = PyUnicode_AsEncodedString(str, "utf-8", "backslashreplace");
    if (bytes == NULL) {
        w->failed = 1;
        return;
    }
    quoted(w, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
}

static int finish(writer *w)
{
    flush(w);
    rs_free(w->buf);
    return w->failed ? -1 : 0;
}

/* --- JSON ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t bit;
} flag_names[] = {
    {"gc_tracked", RS_NODE_GC_TRACKED}, {"is_gc", RS_NODE_IS_GC},       {"py_sizeof", RS_NODE_PY_SIZEOF},
    {"finalizer", RS_NODE_FINALIZER},   {"type", RS_NODE_TYPE},         {"module", RS_NODE_MODULE},
    {"not_data", RS_NODE_NOT_DATA},     {"root", RS_NODE_ROOT},         {"weakref", RS_NODE_WEAKREF},
    {"garbage", RS_NODE_GARBAGE},       {"immortal", RS_NODE_IMMORTAL},
};

static const char *const root_kinds[RS_ROOT_KIND_COUNT] = {"module", "frame", "held"};

static void json_threads(rs_snapshot *s, writer *w)
{
    LIT(w, "\"threads\": [");
    for (uint32_t t = 0; t < s->thread_count && !w->failed; t++) {
        const rs_thread_info *ti = &s->threads[t];
        out(w, "%s\n {\"name\": ", t ? "," : "");
        quoted_c(w, ti->name);
        out(w, ", \"ident\": %lu, \"current\": %s, \"frames\": [", ti->ident, ti->is_current ? "true" : "false");
        for (uint32_t f = 0; f < ti->frame_count && !w->failed; f++) {
            PyObject *function, *file;
            int line;
            if (rs_node_frame_parts(s, ti->first_frame + f, &function, &file, &line) < 0) {
                w->failed = 1;
                break;
            }
            out(w, "%s{\"function\": ", f ? ", " : "");
            quoted_py(w, function);
            LIT(w, ", \"file\": ");
            quoted_py(w, file);
            out(w, ", \"line\": %d}", line);
            Py_DECREF(function);
            Py_DECREF(file);
        }
        LIT(w, "]}");
    }
    LIT(w, "]");
}

int rs_export_json(rs_snapshot *s, PyObject *file)
{
    writer w = {.file = file};
    rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g);
    uint32_t *id = rs_malloc((n + 1) * sizeof *id); /* node -> id among visible nodes */
    if (id == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++)
        id[i] = (rs_graph_flags(g, (rs_idx)i) & RS_NODE_INTERNAL) ? UINT32_MAX : next++;

    /* The edges written below: those between two exported objects. */
    size_t edges = 0;
    for (size_t i = 0; i < n; i++) {
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, (rs_idx)i, &count);
        for (size_t k = 0; id[i] != UINT32_MAX && k < count; k++)
            edges += id[targets[k]] != UINT32_MAX;
    }
    out(&w, "{\"format\": \"refscope-snapshot\", \"version\": 1, \"objects\": %zu, \"edges\": %zu, \"seconds\": %.6f,\n",
        s->visible_count, edges, s->seconds);
    LIT(&w, "\"flag_bits\": {");
    for (size_t k = 0; k < sizeof flag_names / sizeof flag_names[0]; k++)
        out(&w, "%s\"%s\": %u", k ? ", " : "", flag_names[k].name, flag_names[k].bit);
    LIT(&w, "},\n\"types\": [");
    for (uint32_t t = 0; t < s->type_count; t++) {
        if (t)
            LIT(&w, ", ");
        quoted_c(&w, s->types[t].name);
    }
    LIT(&w, "],\n\"nodes\": [");
    uint32_t flag_mask = 0;
    for (size_t k = 0; k < sizeof flag_names / sizeof flag_names[0]; k++)
        flag_mask |= flag_names[k].bit;
    for (size_t i = 0, first = 1; i < n && !w.failed; i++) {
        if (id[i] == UINT32_MAX)
            continue;
        rs_idx x = (rs_idx)i;
        out(&w, "%s\n[%llu, %u, %llu, %u, %ld, %u]", first ? "" : ",", (unsigned long long)rs_graph_addr(g, x),
            rs_graph_type_id(g, x), (unsigned long long)rs_graph_size(g, x), rs_graph_refcount(g, x),
            rs_snapshot_unexplained(s, x), rs_graph_flags(g, x) & flag_mask);
        first = 0;
        maybe_flush(&w);
    }
    LIT(&w, "],\n\"referents\": [");
    for (size_t i = 0, first = 1; i < n && !w.failed; i++) {
        if (id[i] == UINT32_MAX)
            continue;
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, (rs_idx)i, &count);
        if (first)
            LIT(&w, "\n[");
        else
            LIT(&w, ",\n[");
        first = 0;
        for (size_t k = 0, written = 0; k < count; k++) {
            if (id[targets[k]] == UINT32_MAX)
                continue;
            out(&w, written++ ? ",%u" : "%u", id[targets[k]]);
        }
        LIT(&w, "]");
        maybe_flush(&w);
    }
    LIT(&w, "],\n\"roots\": [");
    size_t root_count;
    const rs_root *roots = rs_graph_roots(g, &root_count);
    for (size_t r = 0, first = 1; r < root_count && !w.failed; r++) {
        if (id[roots[r].target] == UINT32_MAX) /* a frame local holding refscope's own object */
            continue;
        out(&w, "%s\n{\"kind\": \"%s\", \"target\": %u, \"label\": ", first ? "" : ",",
            roots[r].kind < RS_ROOT_KIND_COUNT ? root_kinds[roots[r].kind] : "?", id[roots[r].target]);
        PyObject *label = rs_label_root(s, &roots[r]);
        quoted_py(&w, label);
        Py_XDECREF(label);
        LIT(&w, "}");
        first = 0;
        maybe_flush(&w);
    }
    LIT(&w, "],\n");
    json_threads(s, &w);
    LIT(&w, "}\n");
    rs_free(id);
    return finish(&w);
}

/* --- DOT ------------------------------------------------------------------------ */

/* Node n's label: type, repr, size. */
static void dot_node(rs_snapshot *s, writer *w, rs_idx n, bool start)
{
    PyObject *repr = rs_node_repr(s, n, DOT_REPR_MAX); /* the stored one on a dump */
    char size[32];
    PyObject *label = repr ? PyUnicode_FromFormat("%s\n%U\n%s", rs_snapshot_type_name(s, n), repr,
                                                  rs_format_bytes(rs_graph_size(s->graph, n), size, sizeof size))
                           : NULL;
    Py_XDECREF(repr);
    out(w, "  n%u [label=", n);
    quoted_py(w, label);
    Py_XDECREF(label);
    uint32_t flags = rs_graph_flags(s->graph, n);
    if (start)
        LIT(w, ", style=filled, fillcolor=\"#ffd27f\"");
    else if (flags & RS_NODE_NOT_DATA)
        LIT(w, ", shape=ellipse, color=gray");
    LIT(w, "];\n");
}

/* Children followed per object so that depth levels fit in max_nodes:
 * the largest f with f + f^2 + ... + f^depth <= max_nodes, at least 1. */
static size_t dot_fanout(int depth, size_t max_nodes)
{
    size_t f = 1;
    for (;;) {
        size_t next = f + 1, total = 0, power = 1;
        for (int l = 0; l < depth && total <= max_nodes; l++) {
            power *= next;
            total += power;
        }
        if (depth <= 0 || total > max_nodes)
            return f;
        f = next;
    }
}

typedef struct dot_walk {
    rs_snapshot *snap;
    writer *w;
    int32_t *level;   /* BFS depth in the current direction, -1 = not reached */
    uint8_t *shown;   /* node written */
    rs_idx *queue;
    size_t nodes, max_nodes, fanout;
    int depth;
    bool cut;         /* max_nodes reached */
} dot_walk;

/* One breadth-first walk from start along referents (forward) or
 * referrers, depth levels deep, fanout edges per object; what is left out
 * is written as a "N more" note under the object. */
static void dot_direction(dot_walk *d, rs_idx start, bool forward)
{
    rs_graph *g = d->snap->graph;
    size_t head = 0, tail = 0;
    d->level[start] = 0;
    d->queue[tail++] = start;
    while (head < tail && !d->w->failed) {
        rs_idx x = d->queue[head++];
        /* Types and modules are leaves: through them everything is near. */
        if (d->level[x] >= d->depth || (x != start && (rs_graph_flags(g, x) & RS_NODE_NOT_DATA)))
            continue;
        size_t count, followed = 0, more = 0;
        const rs_idx *next = forward ? rs_graph_referents(g, x, &count) : rs_graph_referrers(g, x, &count);
        for (size_t k = 0; k < count && !d->w->failed; k++) {
            rs_idx y = next[k];
            if (rs_graph_flags(g, y) & RS_NODE_INTERNAL)
                continue;
            if (followed == d->fanout || (d->level[y] < 0 && !d->shown[y] && d->nodes == d->max_nodes)) {
                d->cut |= followed < d->fanout;
                more++;
                continue;
            }
            followed++;
            if (d->level[y] < 0) {
                d->level[y] = d->level[x] + 1;
                d->queue[tail++] = y;
                if (!d->shown[y]) {
                    d->shown[y] = 1;
                    d->nodes++;
                    dot_node(d->snap, d->w, y, false);
                }
            }
            PyObject *label = forward ? rs_label_referent(d->snap, x, k) : rs_label_referrer(d->snap, x, k);
            out(d->w, "  n%u -> n%u [label=", forward ? x : y, forward ? y : x);
            quoted_py(d->w, label);
            Py_XDECREF(label);
            LIT(d->w, "];\n");
            maybe_flush(d->w);
        }
        if (more > 0) {
            const char *what = forward ? "referents" : "referrers";
            out(d->w, "  n%u_more_%s [shape=plaintext, label=\"%zu more %s not drawn\"];\n", x, what, more, what);
            out(d->w, forward ? "  n%u -> n%u_more_%s [style=dashed];\n" : "  n%u_more_%s -> n%u [style=dashed];\n",
                x, x, what);
        }
    }
    for (size_t i = 0; i < tail; i++)
        d->level[d->queue[i]] = -1;
}

int rs_export_dot(rs_snapshot *s, PyObject *file, rs_idx start, int depth, int directions, size_t max_nodes)
{
    writer w = {.file = file};
    size_t n = rs_graph_node_count(s->graph);
    if (max_nodes > n)
        max_nodes = n; /* to_dot(max_nodes=2**62) asks for at most every node */
    dot_walk d = {.snap = s, .w = &w, .depth = depth, .max_nodes = max_nodes, .nodes = 1};
    d.fanout = dot_fanout(depth, directions == RS_DOT_BOTH ? (max_nodes + 1) / 2 : max_nodes);
    d.level = rs_malloc((n + 1) * sizeof *d.level);
    d.shown = rs_calloc(n + 1, 1);
    d.queue = rs_malloc((max_nodes + 1) * sizeof *d.queue);
    if (d.level == NULL || d.shown == NULL || d.queue == NULL) {
        rs_free(d.level);
        rs_free(d.shown);
        rs_free(d.queue);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        d.level[i] = -1;
    const char *what = directions == RS_DOT_BOTH        ? "referents and referrers"
                       : directions == RS_DOT_REFERRERS ? "referrers"
                                                        : "referents";
    out(&w,
        "digraph refscope {\n  labelloc=t;\n  label=\"%s at %p: %s, %d level%s deep, at most %zu per object "
        "(dashed: where it was cut)\";\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n",
        rs_snapshot_type_name(s, start), (void *)rs_graph_addr(s->graph, start), what, depth, depth == 1 ? "" : "s",
        d.fanout);
    d.shown[start] = 1;
    dot_node(s, &w, start, true);
    if (directions & RS_DOT_REFERENTS)
        dot_direction(&d, start, true);
    if (directions & RS_DOT_REFERRERS)
        dot_direction(&d, start, false);
    if (d.cut)
        out(&w, "  cut [shape=plaintext, label=\"stopped at %zu objects (max_nodes)\"];\n", max_nodes);
    LIT(&w, "}\n");
    rs_free(d.level);
    rs_free(d.shown);
    rs_free(d.queue);
    return finish(&w);
}

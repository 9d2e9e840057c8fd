/*
 * Strings and memory: the largest objects of a type, total string length
 * by the type of the object holding each string (an ever-growing buffer
 * shows as one holder type with a huge total), and a process-level account
 * that puts the bytes of Python objects beside the RSS and obmalloc's
 * arenas, so fragmentation and memory outside Python objects show as gaps.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "node.h"
#include "pyinternal.h"
#include "refscope/dom.h"
#include "suspects.h"

const char *rs_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "BKMGTP";
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024.0 && unit < 5) {
        value /= 1024.0;
        unit++;
    }
    if (unit == 0)
        snprintf(buf, len, "%lluB", (unsigned long long)bytes);
    else
        snprintf(buf, len, value < 10 ? "%.1f%c" : "%.0f%c", value, units[unit]);
    return buf;
}

rs_idx *rs_largest(rs_snapshot *s, uint32_t type_id, size_t n, size_t *count)
{
    rs_top_k top;
    if (rs_top_k_init(&top, n) < 0)
        return NULL;
    rs_graph *g = s->graph;
    size_t nodes = rs_graph_node_count(g);
    for (size_t i = 0; i < nodes; i++) {
        rs_idx x = (rs_idx)i;
        if (rs_graph_type_id(g, x) == type_id && !(rs_graph_flags(g, x) & RS_NODE_INTERNAL))
            rs_top_k_add(&top, rs_graph_size(g, x), x);
    }
    return rs_top_k_take(&top, count);
}

/* The object holding string n: its immediate dominator, or the instance
 * whose __dict__ that is.  RS_NONE when no single object holds it. */
static rs_idx holder_of(rs_snapshot *s, rs_idx n)
{
    rs_idx h = rs_dom_idom(s->dom, n);
    if (h == RS_NONE || h == RS_DOM_SUPER_ROOT)
        return RS_NONE;
    bool dict = rs_node_kind(s, h) == RS_KIND_DICT && rs_node_kind_exact(s, h);
    rs_idx owner = dict ? rs_dom_idom(s->dom, h) : RS_NONE;
    if (owner != RS_NONE && owner != RS_DOM_SUPER_ROOT && rs_node_is_instance_dict(s, owner, h))
        return owner;
    return h;
}

static int by_size_desc(const void *a, const void *b)
{
    const rs_string_holder *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->holder_type < y->holder_type ? -1 : x->holder_type > y->holder_type;
}

/* Strings a length read is asked for ahead of its use. */
#define TEXT_AHEAD 48

/* The visible nodes whose type is_text says is text, in node order; NULL
 * with MemoryError. */
static rs_idx *text_nodes(rs_snapshot *s, const bool *is_text, size_t *count)
{
    rs_graph *g = s->graph;
    size_t nodes = rs_graph_node_count(g), found = 0, cap = 1024;
    rs_idx *texts = rs_malloc(cap * sizeof *texts);
    for (size_t i = 0; texts != NULL && i < nodes; i++) {
        rs_idx x = (rs_idx)i;
        /* The type answers "is it text?" without touching the object. */
        if (!is_text[rs_graph_type_id(g, x)] || (rs_graph_flags(g, x) & RS_NODE_INTERNAL))
            continue;
        if (found == cap) {
            rs_idx *grown = rs_realloc(texts, 2 * cap * sizeof *texts);
            if (grown == NULL) {
                rs_free(texts);
                texts = NULL;
                break;
            }
            texts = grown;
            cap *= 2;
        }
        texts[found++] = x;
    }
    if (texts == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *count = found;
    return texts;
}

rs_string_holder *rs_strings_by_holder(rs_snapshot *s, size_t *count)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    /* One row per type, then "<shared>" and "<unreachable>". */
    size_t rows_len = (size_t)s->type_count + 2;
    rs_string_holder *rows = rs_calloc(rows_len, sizeof *rows);
    if (rows == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t t = 0; t < rows_len; t++) {
        rows[t].holder_type = t < s->type_count ? (uint32_t)t : UINT32_MAX;
        rows[t].unreachable = t == rows_len - 1;
        rows[t].biggest = RS_NONE;
    }
    bool *is_text = rs_calloc(rows_len, sizeof *is_text);
    if (is_text == NULL) {
        rs_free(rows);
        PyErr_NoMemory();
        return NULL;
    }
    for (uint32_t t = 0; t < s->type_count; t++) {
        enum rs_node_kind kind = rs_type_kind(s, t);
        is_text[t] = kind == RS_KIND_STR || kind == RS_KIND_BYTES || kind == RS_KIND_BYTEARRAY;
    }
    rs_graph *g = s->graph;
    size_t count_text;
    rs_idx *texts = text_nodes(s, is_text, &count_text);
    rs_free(is_text);
    if (texts == NULL) {
        rs_free(rows);
        return NULL;
    }
    for (size_t i = 0; i < count_text; i++) {
        /* A length not given by the size (RS_NODE_SIZED_TEXT) is read from
         * the object, a cache miss on a big heap: ask for those objects some
         * strings ahead so the misses overlap. */
        if (s->stored == NULL && i + TEXT_AHEAD < count_text &&
            !(rs_graph_flags(g, texts[i + TEXT_AHEAD]) & RS_NODE_SIZED_TEXT))
            __builtin_prefetch((const char *)rs_snapshot_object(s, texts[i + TEXT_AHEAD]) + sizeof(PyObject));
        rs_idx x = texts[i];
        Py_ssize_t len = rs_node_text_length(s, x);
        if (len < 0)
            continue;
        rs_string_holder *row;
        if (!rs_dom_reachable(s->dom, x)) {
            row = &rows[rows_len - 1];
        } else {
            rs_idx h = holder_of(s, x);
            row = h == RS_NONE ? &rows[rows_len - 2] : &rows[rs_graph_type_id(g, h)];
        }
        uint64_t size = rs_graph_size(g, x);
        row->count++;
        row->length += (uint64_t)len;
        row->size += size;
        if (row->biggest == RS_NONE || size > rs_graph_size(g, row->biggest))
            row->biggest = x;
    }
    rs_free(texts);
    size_t used = 0;
    for (size_t t = 0; t < rows_len; t++)
        if (rows[t].count > 0)
            rows[used++] = rows[t];
    qsort(rows, used, sizeof *rows, by_size_desc);
    *count = used;
    return rows;
}

/* --- process memory -------------------------------------------------------- */

static uint64_t read_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? resident * (uint64_t)page : 0;
}

/* The number after '=' on a line of obmalloc's statistics ("1,234,567"). */
static uint64_t stat_value(const char *line)
{
    const char *eq = strchr(line, '=');
    uint64_t v = 0;
    for (const char *p = eq ? eq + 1 : line; *p; p++)
        if (*p >= '0' && *p <= '9')
            v = v * 10 + (uint64_t)(*p - '0');
    return v;
}

static bool starts_with(const char *line, const char *prefix)
{
    return strncmp(line, prefix, strlen(prefix)) == 0;
}

/* Parses the arena part of sys._debugmallocstats()'s text. */
static void parse_malloc_stats(char *text, rs_process_memory *out)
{
    bool total_seen = false;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (starts_with(line, "# arenas allocated current")) {
            out->arena_count = stat_value(line);
        } else if (starts_with(line, "# bytes in allocated blocks")) {
            out->arena_used = stat_value(line);
        } else if (starts_with(line, "# bytes in available blocks")) {
            out->arena_free += stat_value(line);
        } else if (strstr(line, "unused pools *") != NULL) {
            out->arena_free += stat_value(line);
        } else if (starts_with(line, "# bytes lost to pool headers") || starts_with(line, "# bytes lost to quantization") ||
                   starts_with(line, "# bytes lost to arena alignment")) {
            out->arena_overhead += stat_value(line);
        } else if (starts_with(line, "Total") && !total_seen) {
            out->arena_bytes = stat_value(line);
            total_seen = true;
        }
    }
    out->have_arenas = total_seen;
}

static void read_arenas(rs_process_memory *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return;
    int used = rs_py_malloc_stats(f);
    fclose(f);
    if (used && text != NULL)
        parse_malloc_stats(text, out);
    free(text);
}

int rs_process_memory_read(const rs_snapshot *s, rs_process_memory *out)
{
    memset(out, 0, sizeof *out);
    out->objects = s->visible_bytes;
    if (s->stored != NULL) { /* the dumped process's figures, not ours */
        rs_node_stored_memory(s, out);
        return 0;
    }
    out->rss = read_rss();
    read_arenas(out);
    return 0;
}

PyObject *rs_process_memory_line(const rs_process_memory *m)
{
    char objects[32], rss[32], gap[32], arenas[32], used[32], free_bytes[32];
    rs_format_bytes(m->objects, objects, sizeof objects);
    rs_format_bytes(m->rss, rss, sizeof rss);
    rs_format_bytes(m->rss > m->objects ? m->rss - m->objects : 0, gap, sizeof gap);
    if (!m->have_arenas)
        return PyUnicode_FromFormat("Python objects %s, RSS %s: %s outside Python objects (interpreter, C "
                                    "extensions, allocator overhead); obmalloc statistics unavailable "
                                    "(tracemalloc is tracing, or PYTHONMALLOC is set)",
                                    objects, m->rss ? rss : "unknown", m->rss ? gap : "unknown");
    rs_format_bytes(m->arena_bytes, arenas, sizeof arenas);
    rs_format_bytes(m->arena_used, used, sizeof used);
    rs_format_bytes(m->arena_free, free_bytes, sizeof free_bytes);
    unsigned pct = m->arena_bytes ? (unsigned)(100 * m->arena_free / m->arena_bytes) : 0;
    return PyUnicode_FromFormat("Python objects %s, RSS %s: %s outside Python objects; obmalloc arenas %s "
                                "(%llu), %s in use, %s free inside them (%u%% fragmentation)",
                                objects, m->rss ? rss : "unknown", m->rss ? gap : "unknown", arenas,
                                (unsigned long long)m->arena_count, used, free_bytes, pct);
}

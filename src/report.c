/*
 * The leak-suspects report, in the spirit of Eclipse MAT's: one pass over
 * the analyses builds a dict (the JSON format is that dict), and the text
 * format is rendered from the same dict, so both always agree.  Every
 * suspect comes with a representative object: its repr, sizes, the
 * why-alive path and, when tracemalloc traces, where it was allocated.
 *
 * The figures come from suspects.c, as the summary screen's do, so the
 * report and the browser name the same suspects with the same numbers.
 *
 * Sections, in order: memory, types (retained, no double counting),
 * suspects (the summary's top suspects, each with what it accumulates),
 * growth (since refscope.mark()), cycles (with the edge to
 * break), garbage, closures, unexplained (refcounts nobody in the snapshot
 * explains: C code, the interpreter, or a leaky C extension), strings,
 * allocation_sites.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "module_analysis.h"
#include "node.h"
#include "refscope/dom.h"
#include "refscope/scc.h"
#include "suspects.h"

#define REPR_MAX 80
/* Objects whose allocation site one report looks up, in all: each lookup
 * asks tracemalloc for a traceback (microseconds), so with tracing on a
 * report over millions of objects must sample, not ask for every one. */
#define SITE_LOOKUPS_MAX 20000

static size_t site_lookups_left;
static size_t site_lookups_total;

size_t rs_report_site_lookups(void)
{
    return site_lookups_total;
}

/* d[key] = value, stealing value; -1 when value is NULL or on error. */
static int put(PyObject *d, const char *key, PyObject *value)
{
    if (value == NULL)
        return -1;
    int r = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return r;
}

static int append(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

static PyObject *ull(uint64_t v)
{
    return PyLong_FromUnsignedLongLong(v);
}

/* {"type", "address", "repr", "size", "retained", "path", "allocated_at"}
 * for node n. */
static PyObject *describe(rs_snapshot *s, rs_idx n)
{
    PyObject *d = PyDict_New();
    if (d == NULL || put(d, "type", PyUnicode_FromString(rs_snapshot_type_name(s, n))) < 0 ||
        put(d, "address", PyUnicode_FromFormat("%p", (void *)rs_graph_addr(s->graph, n))) < 0 ||
        put(d, "repr", rs_node_repr(s, n, REPR_MAX)) < 0 || put(d, "size", ull(rs_graph_size(s->graph, n))) < 0 ||
        put(d, "retained", ull(rs_dom_retained(s->dom, n))) < 0 || put(d, "path", rs_path_text(s, n)) < 0 ||
        put(d, "allocated_at", rs_node_allocation_site(s, n)) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

/* --- sections ---------------------------------------------------------------- */

static PyObject *memory_section(rs_snapshot *s)
{
    rs_process_memory m;
    if (rs_process_memory_read(s, &m) < 0)
        return NULL;
    PyObject *d = PyDict_New();
    if (d == NULL || put(d, "objects", ull(m.objects)) < 0 || put(d, "rss", ull(m.rss)) < 0 ||
        put(d, "arena_bytes", m.have_arenas ? ull(m.arena_bytes) : Py_NewRef(Py_None)) < 0 ||
        put(d, "arena_used", m.have_arenas ? ull(m.arena_used) : Py_NewRef(Py_None)) < 0 ||
        put(d, "arena_free", m.have_arenas ? ull(m.arena_free) : Py_NewRef(Py_None)) < 0 ||
        put(d, "line", rs_process_memory_line(&m)) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *types_section(rs_snapshot *s, size_t top)
{
    size_t count;
    rs_type_retained *rows = rs_suspect_types(s, &count);
    if (rows == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count && i < top; i++) {
        PyObject *d = PyDict_New();
        if (d == NULL || put(d, "type", PyUnicode_FromString(s->types[rows[i].type_id].name)) < 0 ||
            put(d, "count", ull(rows[i].count)) < 0 || put(d, "size", ull(rows[i].size)) < 0 ||
            put(d, "retained", ull(rows[i].retained)) < 0 ||
            put(d, "example", rows[i].biggest != RS_NONE ? describe(s, rows[i].biggest) : Py_NewRef(Py_None)) < 0 ||
            append(list, Py_NewRef(d)) < 0)
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    rs_free(rows);
    return list;
}

/* The top suspects (suspects.c): the summary screen's rows, with what
 * each accumulates. */
static PyObject *suspects_section(rs_snapshot *s, size_t top)
{
    size_t count;
    rs_suspect *suspects = rs_suspects(s, top, &count);
    if (suspects == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        const rs_accumulation *a = &suspects[i].accumulation;
        PyObject *d = describe(s, suspects[i].node);
        PyObject *acc = a->type_id == UINT32_MAX ? Py_NewRef(Py_None) : PyDict_New();
        if (d == NULL || acc == NULL ||
            (acc != Py_None &&
             (put(acc, "type", PyUnicode_FromString(s->types[a->type_id].name)) < 0 ||
              put(acc, "count", ull(a->count)) < 0 || put(acc, "bytes", ull(a->bytes)) < 0 ||
              put(acc, "percent", ull(a->percent)) < 0 || put(acc, "about", PyBool_FromLong(a->about)) < 0 ||
              put(acc, "container", rs_suspect_container_path(s, &suspects[i])) < 0)) ||
            put(d, "accumulation", Py_NewRef(acc)) < 0 ||
            put(d, "holds", rs_suspect_accumulation_text(s, &suspects[i])) < 0 || append(list, Py_NewRef(d)) < 0)
            Py_CLEAR(list);
        Py_XDECREF(acc);
        Py_XDECREF(d);
    }
    rs_free(suspects);
    return list;
}

/* {site: [count, size, {type: count}]} over nodes, for the sites section. */
static int add_sites(rs_snapshot *s, PyObject *sites, const rs_idx *nodes, size_t count)
{
    for (size_t i = 0; i < count && site_lookups_left > 0; i++) {
        site_lookups_left--;
        site_lookups_total++;
        PyObject *site = rs_node_allocation_site(s, nodes[i]);
        if (site == NULL)
            return -1;
        if (site == Py_None) {
            Py_DECREF(site);
            continue;
        }
        PyObject *entry = PyDict_GetItemWithError(sites, site);
        if (entry == NULL) {
            entry = PyErr_Occurred() ? NULL : Py_BuildValue("[KKN]", 0ULL, 0ULL, PyDict_New());
            if (entry == NULL || PyDict_SetItem(sites, site, entry) < 0) {
                Py_XDECREF(entry);
                Py_DECREF(site);
                return -1;
            }
            Py_DECREF(entry); /* the dict holds it */
        }
        Py_DECREF(site);
        unsigned long long c = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(entry, 0)) + 1;
        unsigned long long z = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(entry, 1)) + rs_graph_size(s->graph, nodes[i]);
        PyObject *types = PyList_GET_ITEM(entry, 2);
        PyObject *type = PyUnicode_FromString(rs_snapshot_type_name(s, nodes[i]));
        PyObject *old = type ? PyDict_GetItemWithError(types, type) : NULL;
        long tc = old ? PyLong_AsLong(old) + 1 : 1;
        if (type == NULL || PyErr_Occurred() || PyList_SetItem(entry, 0, ull(c)) < 0 ||
            PyList_SetItem(entry, 1, ull(z)) < 0 || put(types, PyUnicode_AsUTF8(type), PyLong_FromLong(tc)) < 0) {
            Py_XDECREF(type);
            return -1;
        }
        Py_DECREF(type);
    }
    return 0;
}

/* [{"site", "count", "size", "types"}] biggest size first, top entries. */
static PyObject *sites_list(PyObject *sites, size_t top)
{
    PyObject *list = PyList_New(0);
    Py_ssize_t pos = 0;
    PyObject *site, *entry;
    while (list != NULL && PyDict_Next(sites, &pos, &site, &entry)) {
        PyObject *d = Py_BuildValue("{sOsOsOsO}", "site", site, "count", PyList_GET_ITEM(entry, 0), "size",
                                    PyList_GET_ITEM(entry, 1), "types", PyList_GET_ITEM(entry, 2));
        if (append(list, d) < 0)
            Py_CLEAR(list);
    }
    if (list == NULL)
        return NULL;
    /* sorted(list, key=lambda e: e['size'], reverse=True)[:top] */
    PyObject *builtins = PyEval_GetBuiltins();
    PyObject *operator = PyImport_ImportModule("operator");
    PyObject *key = operator ? PyObject_CallMethod(operator, "itemgetter", "s", "size") : NULL;
    PyObject *sorted_args = PyTuple_Pack(1, list);
    PyObject *kwargs = key ? Py_BuildValue("{sOsO}", "key", key, "reverse", Py_True) : NULL;
    PyObject *sorted = (sorted_args && kwargs)
                           ? PyObject_Call(PyDict_GetItemString(builtins, "sorted"), sorted_args, kwargs)
                           : NULL;
    Py_XDECREF(operator);
    Py_XDECREF(key);
    Py_XDECREF(sorted_args);
    Py_XDECREF(kwargs);
    Py_DECREF(list);
    if (sorted == NULL)
        return NULL;
    if (PyList_GET_SIZE(sorted) > (Py_ssize_t)top && PyList_SetSlice(sorted, (Py_ssize_t)top, PY_SSIZE_T_MAX, NULL) < 0)
        Py_CLEAR(sorted);
    return sorted;
}

static PyObject *growth_section(rs_snapshot *s, size_t top, PyObject *sites)
{
    if (!rs_growth_has_mark() || rs_snapshot_is_stored(s)) /* a mark is of this process */
        return Py_NewRef(Py_None);
    rs_growth_result g;
    if (rs_growth(s, &g) < 0)
        return NULL;
    PyObject *d = PyDict_New();
    PyObject *rows = PyList_New(0);
    if (d == NULL || rows == NULL)
        goto error;
    for (size_t i = 0; i < g.row_count && i < top; i++) {
        const rs_growth_row *row = &g.rows[i];
        PyObject *r = PyDict_New();
        if (r == NULL || put(r, "type", PyUnicode_FromString(row->type_name)) < 0 ||
            put(r, "delta_count", PyLong_FromLongLong(row->delta_count)) < 0 ||
            put(r, "delta_size", PyLong_FromLongLong(row->delta_size)) < 0 || put(r, "new", ull(row->new_count)) < 0 ||
            put(r, "example", row->new_count ? describe(s, g.new_nodes[row->new_first]) : Py_NewRef(Py_None)) < 0 ||
            append(rows, Py_NewRef(r)) < 0) {
            Py_XDECREF(r);
            goto error;
        }
        Py_DECREF(r);
    }
    if (put(d, "since_seconds", PyFloat_FromDouble(rs_growth_mark_age())) < 0 ||
        put(d, "new_objects", ull(g.new_total)) < 0 || put(d, "types", Py_NewRef(rows)) < 0 ||
        add_sites(s, sites, g.new_nodes, g.new_total) < 0)
        goto error;
    Py_DECREF(rows);
    rs_growth_result_free(&g);
    return d;
error:
    Py_XDECREF(d);
    Py_XDECREF(rows);
    rs_growth_result_free(&g);
    return NULL;
}

/* Steps of a cycle's ring the report writes out; a longer ring is summed
 * up ("ring of 1000000 objects: ...") instead of one line of megabytes. */
#define RING_STEPS_SHOWN 8

/* "app.Node .children -> list [0] -> app.Node .parent -> (back)", or for a
 * long ring "ring of N objects: A .x -> B [0] -> ... (first 8 of M steps)". */
static PyObject *ring_text(rs_snapshot *s, const rs_cycle *c)
{
    size_t count;
    rs_edge_ref *ring = rs_cycle_ring(s, c, &count);
    if (ring == NULL)
        return NULL;
    int summary = count > RING_STEPS_SHOWN;
    PyObject *parts = PyList_New(0);
    if (parts != NULL && summary && append(parts, PyUnicode_FromFormat("ring of %zu objects: ", c->member_count)) < 0)
        Py_CLEAR(parts);
    for (size_t i = 0; parts != NULL && i < count && i < RING_STEPS_SHOWN; i++) {
        PyObject *label = rs_label_referent(s, ring[i].from, ring[i].referent);
        PyObject *part = label ? PyUnicode_FromFormat("%s %U -> ", rs_snapshot_type_name(s, ring[i].from), label) : NULL;
        Py_XDECREF(label);
        if (append(parts, part) < 0)
            Py_CLEAR(parts);
    }
    rs_free(ring);
    PyObject *end = summary ? PyUnicode_FromFormat("... (first %d of %zu steps)", RING_STEPS_SHOWN, count)
                            : PyUnicode_FromString("(back)");
    if (parts == NULL || append(parts, end) < 0) {
        Py_XDECREF(parts);
        return NULL;
    }
    PyObject *empty = PyUnicode_FromString("");
    PyObject *text = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return text;
}

/* The most common member types of a cycle, at most five. */
static PyObject *member_types(rs_snapshot *s, const rs_cycle *c)
{
    uint32_t types[5];
    uint64_t counts[5];
    size_t named = rs_cycle_member_types(s, c, types, counts, 5);
    PyObject *list = PyList_New((Py_ssize_t)named);
    for (size_t k = 0; list != NULL && k < named; k++) {
        PyObject *name = PyUnicode_FromString(s->types[types[k]].name);
        if (name == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)k, name);
    }
    return list;
}

static PyObject *break_text(rs_snapshot *s, const rs_cycle *c)
{
    size_t count;
    rs_break_edge *edges = rs_cycle_break_edges(s, c, 1, &count);
    if (edges == NULL)
        return NULL;
    PyObject *d = count == 0 ? Py_NewRef(Py_None)
                             : Py_BuildValue("{sssssOsOsK}", "from", rs_snapshot_type_name(s, edges[0].edge.from), "to",
                                             rs_snapshot_type_name(s, edges[0].edge.to), "label", edges[0].label,
                                             "suggestion", edges[0].suggestion, "freed",
                                             (unsigned long long)edges[0].freed);
    rs_break_edges_free(edges, count);
    return d;
}

static PyObject *cycles_section(rs_snapshot *s, size_t top)
{
    size_t count, total, garbage;
    rs_cycle *cycles;
    /* Cycles of one shape (1000 sessions each with its state) are one
     * entry: "shapes" of them, sizes added up, the biggest as example. */
    rs_cycle_fold *folds = rs_suspect_cycle_folds(s, top, &cycles, &count, &total, &garbage);
    if (folds == NULL)
        return NULL;
    PyObject *d = PyDict_New();
    PyObject *list = PyList_New(0);
    if (d == NULL || list == NULL || put(d, "count", ull(total)) < 0 || put(d, "unreachable", ull(garbage)) < 0)
        goto error;
    for (size_t i = 0; i < count; i++) {
        const rs_cycle *c = &cycles[folds[i].first];
        PyObject *e = PyDict_New();
        if (e == NULL || put(e, "objects", ull(c->member_count)) < 0 || put(e, "cycles", ull(folds[i].count)) < 0 ||
            put(e, "size", ull(folds[i].size)) < 0 || put(e, "retained", ull(folds[i].retained)) < 0 ||
            put(e, "garbage", PyBool_FromLong(folds[i].garbage == folds[i].count)) < 0 ||
            put(e, "types", member_types(s, c)) < 0 || put(e, "ring", ring_text(s, c)) < 0 ||
            put(e, "break", break_text(s, c)) < 0 || put(e, "example", describe(s, c->members[0])) < 0 ||
            append(list, Py_NewRef(e)) < 0) {
            Py_XDECREF(e);
            goto error;
        }
        Py_DECREF(e);
    }
    if (put(d, "top", list) < 0) {
        list = NULL;
        goto error;
    }
    rs_free(folds);
    rs_free(cycles);
    return d;
error:
    Py_XDECREF(d);
    Py_XDECREF(list);
    rs_free(folds);
    rs_free(cycles);
    return NULL;
}

/* Garbage grouped by (kind, type): count, size, reason, an example. */
static PyObject *garbage_section(rs_snapshot *s, size_t top)
{
    size_t count;
    rs_garbage_entry *entries = rs_suspect_garbage(s, &count);
    if (entries == NULL)
        return NULL;
    PyObject *d = PyDict_New();
    PyObject *groups = PyList_New(0);
    PyObject *index = PyDict_New(); /* (kind, type) -> group dict */
    rs_garbage_totals totals;
    PyObject *by_kind = PyDict_New();
    rs_garbage_totals_of(s, entries, count, &totals);
    if (d == NULL || groups == NULL || index == NULL || by_kind == NULL ||
        put(d, "count", ull(count)) < 0 || put(d, "stuck_bytes", ull(totals.stuck)) < 0 ||
        put(d, "by_kind", Py_NewRef(by_kind)) < 0) {
        Py_XDECREF(by_kind);
        goto error;
    }
    for (uint32_t k = 0; k < RS_GARBAGE_KIND_COUNT; k++) {
        if (put(by_kind, rs_garbage_kind_name(k),
                Py_BuildValue("{sKsK}", "count", (unsigned long long)totals.count[k], "bytes",
                              (unsigned long long)totals.bytes[k])) < 0) {
            Py_DECREF(by_kind);
            goto error;
        }
    }
    Py_DECREF(by_kind);
    for (size_t i = 0; i < count; i++) {
        const char *kind = rs_garbage_kind_name(entries[i].kind);
        const char *type = rs_snapshot_type_name(s, entries[i].node);
        PyObject *key = Py_BuildValue("(ss)", kind, type);
        PyObject *g = key ? PyDict_GetItemWithError(index, key) : NULL;
        if (key == NULL || PyErr_Occurred()) {
            Py_XDECREF(key);
            goto error;
        }
        uint64_t size = rs_graph_size(s->graph, entries[i].node);
        if (g == NULL) {
            if ((size_t)PyList_GET_SIZE(groups) >= top) {
                Py_DECREF(key);
                continue;
            }
            g = PyDict_New();
            int r = g == NULL || put(g, "kind", PyUnicode_FromString(kind)) < 0 ||
                    put(g, "type", PyUnicode_FromString(type)) < 0 || put(g, "count", ull(0)) < 0 ||
                    put(g, "size", ull(0)) < 0 || put(g, "reason", rs_garbage_reason(s, &entries[i])) < 0 ||
                    put(g, "example", describe(s, entries[i].node)) < 0 || PyDict_SetItem(index, key, g) < 0 ||
                    PyList_Append(groups, g) < 0;
            Py_XDECREF(g);
            if (r) {
                Py_DECREF(key);
                goto error;
            }
        }
        Py_DECREF(key);
        PyObject *c = PyDict_GetItemString(g, "count"), *z = PyDict_GetItemString(g, "size");
        if (put(g, "count", ull(PyLong_AsUnsignedLongLong(c) + 1)) < 0 ||
            put(g, "size", ull(PyLong_AsUnsignedLongLong(z) + size)) < 0)
            goto error;
    }
    if (put(d, "groups", groups) < 0) {
        groups = NULL;
        goto error;
    }
    Py_DECREF(index);
    rs_free(entries);
    return d;
error:
    Py_XDECREF(d);
    Py_XDECREF(groups);
    Py_XDECREF(index);
    rs_free(entries);
    return NULL;
}

static PyObject *closures_section(rs_snapshot *s, size_t top)
{
    size_t count;
    rs_closure_var *vars = rs_closures(s, &count);
    if (vars == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0, shown = 0; list != NULL && i < count && shown < top; i++) {
        /* A cell holding a class (__class__ for super()) or a module keeps
         * the program's structure, not data: not a suspect. */
        if (rs_graph_flags(s->graph, vars[i].value) & RS_NODE_NOT_DATA)
            continue;
        shown++;
        PyObject *d = PyDict_New();
        if (d == NULL || put(d, "function", rs_node_function_name(s, vars[i].function)) < 0 ||
            put(d, "variable", rs_closure_var_name(s, &vars[i])) < 0 || put(d, "retained", ull(vars[i].retained)) < 0 ||
            put(d, "function_path", rs_path_text(s, vars[i].function)) < 0 ||
            put(d, "value", describe(s, vars[i].value)) < 0 || append(list, Py_NewRef(d)) < 0)
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    rs_free(vars);
    return list;
}

static PyObject *unexplained_section(rs_snapshot *s, size_t top)
{
    size_t count;
    rs_idx *nodes = rs_suspect_unexplained(s, top, &count);
    if (nodes == NULL)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < count; i++) {
        PyObject *d = PyDict_New();
        if (d == NULL || put(d, "unexplained", PyLong_FromLong(rs_snapshot_unexplained(s, nodes[i]))) < 0 ||
            put(d, "refcount", ull(rs_graph_refcount(s->graph, nodes[i]))) < 0 ||
            put(d, "object", describe(s, nodes[i])) < 0 || append(list, Py_NewRef(d)) < 0)
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    rs_free(nodes);
    return list;
}

static PyObject *strings_section(rs_snapshot *s, size_t top)
{
    PyObject *d = PyDict_New();
    PyObject *largest = PyList_New(0);
    PyObject *holders = PyList_New(0);
    if (d == NULL || largest == NULL || holders == NULL)
        goto error;
    size_t strings;
    rs_idx *nodes = rs_suspect_strings(s, top, &strings);
    if (nodes == NULL)
        goto error;
    for (size_t i = 0; i < strings; i++) {
        PyObject *e = describe(s, nodes[i]);
        if (e == NULL || put(e, "length", PyLong_FromSsize_t(rs_node_text_length(s, nodes[i]))) < 0 ||
            append(largest, Py_NewRef(e)) < 0) {
            Py_XDECREF(e);
            rs_free(nodes);
            goto error;
        }
        Py_DECREF(e);
    }
    rs_free(nodes);
    size_t count;
    rs_string_holder *rows = rs_strings_by_holder(s, &count);
    if (rows == NULL)
        goto error;
    for (size_t i = 0; i < count && i < top; i++) {
        const char *holder = rows[i].unreachable               ? "<unreachable>"
                             : rows[i].holder_type == UINT32_MAX ? "<shared>"
                                                                 : s->types[rows[i].holder_type].name;
        PyObject *e = Py_BuildValue("{sssKsKsK}", "holder", holder, "count", (unsigned long long)rows[i].count,
                                    "length", (unsigned long long)rows[i].length, "size",
                                    (unsigned long long)rows[i].size);
        if (append(holders, e) < 0) {
            rs_free(rows);
            goto error;
        }
    }
    rs_free(rows);
    if (put(d, "largest", largest) < 0 || put(d, "by_holder", holders) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
error:
    Py_XDECREF(d);
    Py_XDECREF(largest);
    Py_XDECREF(holders);
    return NULL;
}


PyObject *rs_report_data(rs_snapshot *s, Py_ssize_t top_arg)
{
    size_t top = (size_t)top_arg;
    site_lookups_left = SITE_LOOKUPS_MAX;
    if (rs_analysis_ensure_scc(s) < 0 || rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    PyObject *d = PyDict_New();
    PyObject *sites = PyDict_New();
    if (d == NULL || sites == NULL)
        goto error;
    char origin[160];
    if (rs_snapshot_origin(s, origin, sizeof origin) != NULL && put(d, "dump", PyUnicode_FromString(origin)) < 0)
        goto error;
    if (put(d, "format", PyUnicode_FromString("refscope-report")) < 0 || put(d, "version", PyLong_FromLong(1)) < 0 ||
        put(d, "objects", ull(s->visible_count)) < 0 || put(d, "edges", ull(rs_graph_edge_count(s->graph))) < 0 ||
        put(d, "snapshot_seconds", PyFloat_FromDouble(s->seconds)) < 0 || put(d, "memory", memory_section(s)) < 0 ||
        put(d, "types", types_section(s, top)) < 0 || put(d, "suspects", suspects_section(s, top)) < 0 ||
        put(d, "growth", growth_section(s, top, sites)) < 0 || put(d, "cycles", cycles_section(s, top)) < 0 ||
        put(d, "garbage", garbage_section(s, top)) < 0 || put(d, "closures", closures_section(s, top)) < 0 ||
        put(d, "unexplained", unexplained_section(s, top)) < 0 || put(d, "strings", strings_section(s, top)) < 0 ||
        put(d, "tracing", PyBool_FromLong(rs_node_tracing(s))) < 0)
        goto error;
    /* Without growth, the suspects are what the largest objects retain. */
    if (PyDict_GET_SIZE(sites) == 0 && PyDict_GetItemString(d, "tracing") == Py_True) {
        size_t count;
        rs_suspect *suspects = rs_suspects(s, top, &count);
        if (suspects == NULL)
            goto error;
        for (size_t i = 0; i < count && site_lookups_left > 0; i++) {
            size_t n;
            rs_idx *set = rs_retained_set(s, suspects[i].node, &n);
            int r = set ? add_sites(s, sites, set, n) : -1;
            rs_free(set);
            if (r < 0) {
                rs_free(suspects);
                goto error;
            }
        }
        rs_free(suspects);
    }
    if (put(d, "allocation_sites", sites_list(sites, top)) < 0)
        goto error;
    Py_DECREF(sites);
    return d;
error:
    Py_XDECREF(d);
    Py_XDECREF(sites);
    return NULL;
}

/* --- text -------------------------------------------------------------------- */

typedef struct text {
    PyObject *lines;
    int failed;
} text;

static void line(text *t, const char *format, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, format);
    PyObject *l = PyUnicode_FromFormatV(format, ap);
    va_end(ap);
    if (append(t->lines, l) < 0)
        t->failed = 1;
}

static PyObject *field(PyObject *d, const char *key)
{
    PyObject *v = d && PyDict_Check(d) ? PyDict_GetItemString(d, key) : NULL;
    return v ? v : Py_None;
}

static uint64_t number(PyObject *d, const char *key)
{
    PyObject *v = field(d, key);
    if (!PyLong_Check(v))
        return 0;
    uint64_t r = PyLong_AsUnsignedLongLong(v);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return (uint64_t)PyLong_AsLongLong(v);
    }
    return r;
}

static const char *bytes_of(PyObject *d, const char *key, char *buf)
{
    return rs_format_bytes(number(d, key), buf, 32);
}

static const char *signed_bytes(long long v, char *buf)
{
    char tmp[32];
    rs_format_bytes((uint64_t)(v < 0 ? -v : v), tmp, sizeof tmp);
    snprintf(buf, 40, "%s%s", v < 0 ? "-" : "+", tmp);
    return buf;
}

/* "      e.g. <repr>\n         alive via PATH  (allocated at X)" */
static void example_lines(text *t, PyObject *e, const char *indent)
{
    if (e == Py_None)
        return;
    char retained[32];
    line(t, "%se.g. %S (retains %s)", indent, field(e, "repr"), bytes_of(e, "retained", retained));
    PyObject *path = field(e, "path");
    if (path == Py_None)
        line(t, "%s     unreachable from every root (garbage)", indent);
    else
        line(t, "%s     alive via %S", indent, path);
    if (field(e, "allocated_at") != Py_None)
        line(t, "%s     allocated at %S", indent, field(e, "allocated_at"));
}

static void render_types(text *t, PyObject *types)
{
    line(t, "");
    line(t, "Top types by retained size (an instance inside another of its type counted once)");
    line(t, "  %10s %10s %9s  %s", "retained", "size", "count", "type");
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(types); i++) {
        PyObject *r = PyList_GET_ITEM(types, i);
        char a[32], b[32];
        line(t, "  %10s %10s %9llu  %S", bytes_of(r, "retained", a), bytes_of(r, "size", b),
             (unsigned long long)number(r, "count"), field(r, "type"));
        example_lines(t, field(r, "example"), "      ");
    }
}

static void render_suspects(text *t, PyObject *objects)
{
    line(t, "");
    line(t, "Top suspects: what retains the most (data objects held directly by a module, class, function, "
            "frame or C)");
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objects); i++) {
        PyObject *o = PyList_GET_ITEM(objects, i);
        char a[32];
        PyObject *path = field(o, "path");
        line(t, "  %10s  %S %S  %S", bytes_of(o, "retained", a), field(o, "type"),
             path == Py_None ? field(o, "repr") : path, field(o, "holds"));
        line(t, "              e.g. %S", field(o, "repr"));
        if (field(o, "allocated_at") != Py_None)
            line(t, "              allocated at %S", field(o, "allocated_at"));
    }
}

static void render_growth(text *t, PyObject *growth)
{
    line(t, "");
    if (growth == Py_None) {
        line(t, "Growth: no mark (call refscope.mark(), run the suspect code, then report again)");
        return;
    }
    PyObject *since = field(growth, "since_seconds");
    double seconds = PyFloat_Check(since) ? PyFloat_AsDouble(since) : 0.0;
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f", seconds);
    line(t, "Growth since the mark (%s s ago): %llu new objects", buf, (unsigned long long)number(growth, "new_objects"));
    PyObject *rows = field(growth, "types");
    for (Py_ssize_t i = 0; PyList_Check(rows) && i < PyList_GET_SIZE(rows); i++) {
        PyObject *r = PyList_GET_ITEM(rows, i);
        char a[40], count[32];
        snprintf(count, sizeof count, "%+lld", PyLong_AsLongLong(field(r, "delta_count")));
        line(t, "  %9s %11s  %S (%llu new)", count, signed_bytes(PyLong_AsLongLong(field(r, "delta_size")), a),
             field(r, "type"), (unsigned long long)number(r, "new"));
        example_lines(t, field(r, "example"), "      ");
    }
}

static void render_cycles(text *t, PyObject *cycles)
{
    line(t, "");
    line(t, "Cycles: %llu (%llu unreachable, awaiting collection)", (unsigned long long)number(cycles, "count"),
         (unsigned long long)number(cycles, "unreachable"));
    PyObject *top = field(cycles, "top");
    for (Py_ssize_t i = 0; PyList_Check(top) && i < PyList_GET_SIZE(top); i++) {
        PyObject *c = PyList_GET_ITEM(top, i);
        char a[32], b[32];
        unsigned long long same = number(c, "cycles");
        if (same > 1)
            line(t, "  #%zd %llu x cycle of %llu objects, %s in all, retaining %s%s: %S", i + 1, same,
                 (unsigned long long)number(c, "objects"), bytes_of(c, "size", a), bytes_of(c, "retained", b),
                 field(c, "garbage") == Py_True ? " (garbage)" : "", field(c, "types"));
        else
            line(t, "  #%zd %llu objects, %s, retains %s%s: %S", i + 1, (unsigned long long)number(c, "objects"),
                 bytes_of(c, "size", a), bytes_of(c, "retained", b), field(c, "garbage") == Py_True ? " (garbage)" : "",
                 field(c, "types"));
        line(t, "      ring: %S", field(c, "ring"));
        PyObject *br = field(c, "break");
        if (br != Py_None)
            line(t, "      break %S -> %S at %S: %S", field(br, "from"), field(br, "to"), field(br, "label"),
                 field(br, "suggestion"));
        example_lines(t, field(c, "example"), "      ");
    }
}

static void render_garbage(text *t, PyObject *garbage)
{
    line(t, "");
    char stuck[32];
    line(t, "Garbage: %llu objects (gc.garbage, unreachable cycles, finalizers in cycles); %s stuck in "
            "unreachable objects, not counted as reachable",
         (unsigned long long)number(garbage, "count"), bytes_of(garbage, "stuck_bytes", stuck));
    PyObject *kinds = field(garbage, "by_kind");
    Py_ssize_t pos = 0;
    PyObject *kind, *totals;
    while (PyDict_Check(kinds) && PyDict_Next(kinds, &pos, &kind, &totals)) {
        char a[32];
        line(t, "  %S: %llu objects, %s", kind, (unsigned long long)number(totals, "count"), bytes_of(totals, "bytes", a));
    }
    PyObject *groups = field(garbage, "groups");
    for (Py_ssize_t i = 0; PyList_Check(groups) && i < PyList_GET_SIZE(groups); i++) {
        PyObject *g = PyList_GET_ITEM(groups, i);
        char a[32];
        line(t, "  %S: %llu %S (%s)", field(g, "kind"), (unsigned long long)number(g, "count"), field(g, "type"),
             bytes_of(g, "size", a));
        line(t, "      why: %S", field(g, "reason"));
        example_lines(t, field(g, "example"), "      ");
    }
}

static void render_closures(text *t, PyObject *closures)
{
    line(t, "");
    line(t, "Biggest closures (what captured variables keep alive)");
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(closures); i++) {
        PyObject *c = PyList_GET_ITEM(closures, i);
        PyObject *v = field(c, "value");
        char a[32];
        line(t, "  %10s  %S() captures '%S': %S %S", bytes_of(c, "retained", a), field(c, "function"),
             field(c, "variable"), field(v, "type"), field(v, "repr"));
        if (field(c, "function_path") != Py_None)
            line(t, "              function alive via %S", field(c, "function_path"));
    }
}

static void render_unexplained(text *t, PyObject *rows)
{
    line(t, "");
    line(t, "References nothing in the snapshot explains (held by C code or the interpreter; a leaky C "
            "extension shows here)");
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *r = PyList_GET_ITEM(rows, i);
        PyObject *o = field(r, "object");
        line(t, "  %6llu of %llu refs  %S %S", (unsigned long long)number(r, "unexplained"),
             (unsigned long long)number(r, "refcount"), field(o, "type"), field(o, "repr"));
    }
}

static void render_strings(text *t, PyObject *strings)
{
    line(t, "");
    line(t, "Largest strings");
    PyObject *largest = field(strings, "largest");
    for (Py_ssize_t i = 0; PyList_Check(largest) && i < PyList_GET_SIZE(largest); i++) {
        PyObject *e = PyList_GET_ITEM(largest, i);
        char a[32];
        line(t, "  %10s  %S len %llu %S", bytes_of(e, "size", a), field(e, "type"),
             (unsigned long long)number(e, "length"), field(e, "repr"));
        if (field(e, "path") != Py_None)
            line(t, "              alive via %S", field(e, "path"));
    }
    line(t, "Strings by holder (str, bytes, bytearray, by the type of the object that holds each)");
    PyObject *holders = field(strings, "by_holder");
    for (Py_ssize_t i = 0; PyList_Check(holders) && i < PyList_GET_SIZE(holders); i++) {
        PyObject *h = PyList_GET_ITEM(holders, i);
        char a[32];
        line(t, "  %10s  %8llu strings, %llu chars/bytes, held by %S", bytes_of(h, "size", a),
             (unsigned long long)number(h, "count"), (unsigned long long)number(h, "length"), field(h, "holder"));
    }
}

static void render_sites(text *t, PyObject *sites, PyObject *tracing)
{
    line(t, "");
    if (tracing != Py_True) {
        line(t, "Allocation sites: tracemalloc is not tracing (refscope.mark(trace=True) starts it)");
        return;
    }
    line(t, "Allocation sites of the suspects (new objects since the mark, else what the largest objects retain)");
    for (Py_ssize_t i = 0; PyList_Check(sites) && i < PyList_GET_SIZE(sites); i++) {
        PyObject *e = PyList_GET_ITEM(sites, i);
        char a[32];
        line(t, "  %10s %8llu objects  %S  %S", bytes_of(e, "size", a), (unsigned long long)number(e, "count"),
             field(e, "site"), field(e, "types"));
    }
}

PyObject *rs_report_text(PyObject *data)
{
    text t = {.lines = PyList_New(0)};
    if (t.lines == NULL)
        return NULL;
    char seconds[32];
    PyObject *sec = field(data, "snapshot_seconds");
    snprintf(seconds, sizeof seconds, "%.2f", PyFloat_Check(sec) ? PyFloat_AsDouble(sec) : 0.0);
    line(&t, "refscope leak-suspects report: %llu objects, %llu edges (snapshot %s s)",
         (unsigned long long)number(data, "objects"), (unsigned long long)number(data, "edges"), seconds);
    if (PyUnicode_Check(field(data, "dump")))
        line(&t, "from the %S", field(data, "dump"));
    line(&t, "memory: %S", field(field(data, "memory"), "line"));
    if (PyList_Check(field(data, "types")))
        render_types(&t, field(data, "types"));
    if (PyList_Check(field(data, "suspects")))
        render_suspects(&t, field(data, "suspects"));
    render_growth(&t, field(data, "growth"));
    render_cycles(&t, field(data, "cycles"));
    render_garbage(&t, field(data, "garbage"));
    if (PyList_Check(field(data, "closures")))
        render_closures(&t, field(data, "closures"));
    if (PyList_Check(field(data, "unexplained")))
        render_unexplained(&t, field(data, "unexplained"));
    render_strings(&t, field(data, "strings"));
    render_sites(&t, field(data, "allocation_sites"), field(data, "tracing"));
    line(&t, "");
    PyObject *result = NULL;
    if (!t.failed) {
        PyObject *nl = PyUnicode_FromString("\n");
        result = nl ? PyUnicode_Join(nl, t.lines) : NULL;
        Py_XDECREF(nl);
    }
    Py_DECREF(t.lines);
    return result;
}

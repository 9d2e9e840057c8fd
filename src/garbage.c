/*
 * Garbage: objects that are dead or on the way to it, and why.
 *
 * Since PEP 442 (Python 3.4) the collector collects cycles whose objects
 * have __del__ (tp_finalize): it calls each finalizer once, then frees the
 * cycle.  gc.garbage only fills when gc.DEBUG_SAVEALL is set (every object
 * a collection found unreachable is saved there instead of freed) or for
 * objects of legacy C types with tp_del sitting in a cycle, which gc will
 * not finalize.  So the kinds listed, in this order:
 *
 *   gc.garbage          members of gc.garbage
 *   unreachable-cycle   members of cycles no root reaches: cyclic garbage
 *                       the next collection frees (pending while automatic
 *                       gc is off or has not run yet)
 *   unreachable         objects held only by such cycles
 *   finalizer-in-cycle  live objects with a finalizer inside a cycle: they
 *                       cannot go by reference counting alone, and their
 *                       finalizer will run from gc at an unpredictable time
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "analysis.h"
#include "node.h"
#include "refscope/dom.h"
#include "refscope/scc.h"

static const char *const kind_names[RS_GARBAGE_KIND_COUNT] = {
    [RS_GARBAGE_GC_LIST] = "gc.garbage",
    [RS_GARBAGE_UNREACHABLE_CYCLE] = "unreachable-cycle",
    [RS_GARBAGE_UNREACHABLE] = "unreachable",
    [RS_GARBAGE_FINALIZER_CYCLE] = "finalizer-in-cycle",
};

const char *rs_garbage_kind_name(uint32_t kind)
{
    return kind < RS_GARBAGE_KIND_COUNT ? kind_names[kind] : "?";
}

uint32_t rs_garbage_kind_of(rs_snapshot *s, rs_idx n)
{
    uint32_t flags = rs_graph_flags(s->graph, n);
    if (flags & RS_NODE_INTERNAL)
        return RS_GARBAGE_KIND_COUNT;
    if (flags & RS_NODE_GARBAGE)
        return RS_GARBAGE_GC_LIST;
    /* Most nodes are reachable and have no finalizer: they need no look
     * at their cycle. */
    if (!rs_dom_reachable(s->dom, n))
        return rs_scc_in_cycle(s->scc, n) ? RS_GARBAGE_UNREACHABLE_CYCLE : RS_GARBAGE_UNREACHABLE;
    if ((flags & RS_NODE_FINALIZER) && rs_scc_in_cycle(s->scc, n))
        return RS_GARBAGE_FINALIZER_CYCLE;
    return RS_GARBAGE_KIND_COUNT;
}

rs_garbage_entry *rs_garbage_by_kind(const rs_garbage_entry *found, size_t total)
{
    /* What a program keeps first (gc.garbage, finalizers in live cycles),
     * then what the next collection frees (the interpreter itself, enum or
     * typing, often leaves some pending), so the leak is on the first page. */
    static const uint32_t order[RS_GARBAGE_KIND_COUNT] = {RS_GARBAGE_GC_LIST, RS_GARBAGE_FINALIZER_CYCLE,
                                                          RS_GARBAGE_UNREACHABLE_CYCLE, RS_GARBAGE_UNREACHABLE};
    size_t per_kind[RS_GARBAGE_KIND_COUNT] = {0};
    for (size_t j = 0; j < total; j++)
        per_kind[found[j].kind]++;
    size_t start[RS_GARBAGE_KIND_COUNT], placed = 0;
    for (uint32_t i = 0; i < RS_GARBAGE_KIND_COUNT; i++) {
        start[order[i]] = placed;
        placed += per_kind[order[i]];
    }
    rs_garbage_entry *out = rs_malloc((total ? total : 1) * sizeof *out);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t j = 0; j < total; j++)
        out[start[found[j].kind]++] = found[j];
    return out;
}

void rs_garbage_totals_of(rs_snapshot *s, const rs_garbage_entry *entries, size_t count, rs_garbage_totals *out)
{
    *out = (rs_garbage_totals){0};
    for (size_t i = 0; i < count; i++) {
        out->count[entries[i].kind]++;
        out->bytes[entries[i].kind] += rs_graph_size(s->graph, entries[i].node);
    }
    out->stuck = out->bytes[RS_GARBAGE_UNREACHABLE_CYCLE] + out->bytes[RS_GARBAGE_UNREACHABLE];
}

PyObject *rs_garbage_reason(rs_snapshot *s, const rs_garbage_entry *e)
{
    bool legacy;
    PyObject *finalizer = rs_node_finalizer(s, e->node, &legacy);
    if (finalizer == NULL && PyErr_Occurred())
        return NULL;
    PyObject *r = NULL;
    switch (e->kind) {
    case RS_GARBAGE_GC_LIST:
        if (finalizer != NULL && legacy)
            r = PyUnicode_FromFormat("in gc.garbage: a %U sat in a cycle, which gc will not finalize; it stays "
                                     "until gc.garbage is cleared",
                                     finalizer);
        else
            r = PyUnicode_FromString("in gc.garbage: saved there by gc.DEBUG_SAVEALL (or appended by the "
                                     "program) instead of being freed; it stays until gc.garbage is cleared "
                                     "(del gc.garbage[:])");
        break;
    case RS_GARBAGE_UNREACHABLE_CYCLE: {
        const char *when = s->stored       ? "the process's next collection frees it"
                           : PyGC_IsEnabled() ? "the next automatic collection frees it"
                                              : "automatic gc is disabled, so it waits";
        if (finalizer != NULL)
            r = PyUnicode_FromFormat("in a cycle no root reaches: cyclic garbage awaiting collection (%s); "
                                     "gc.collect() frees it, calling its %U first (PEP 442)",
                                     when, finalizer);
        else
            r = PyUnicode_FromFormat("in a cycle no root reaches: cyclic garbage awaiting collection (%s); "
                                     "gc.collect() frees it",
                                     when);
        break;
    }
    case RS_GARBAGE_UNREACHABLE:
        r = PyUnicode_FromString("unreachable from every root, held only by other cyclic garbage: the next "
                                 "collection frees it");
        break;
    case RS_GARBAGE_FINALIZER_CYCLE:
        if (finalizer == NULL) /* flagged by the walk, so the type has one */
            finalizer = PyUnicode_FromString("a finalizer");
        if (finalizer == NULL)
            return NULL;
        r = PyUnicode_FromFormat("has a finalizer (%U) and sits in a cycle: reference counting alone never "
                                 "frees it; since Python 3.4 (PEP 442) gc collects the cycle once it is "
                                 "unreachable and runs the finalizer then, at an unpredictable time",
                                 finalizer);
        break;
    default:
        r = PyUnicode_FromString("?");
    }
    Py_XDECREF(finalizer);
    return r;
}

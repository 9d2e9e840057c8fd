/*
 * Census: the rows of per-type counts and sizes, and the instances of one
 * type.  Refscope's own hidden objects do not count.  The counts and
 * sizes are added up in suspects.c's one pass over the nodes (with the
 * other figures the summary and the report need); the retained column is
 * rs_retained_by_type()'s: an instance nested in another instance of its
 * type is counted once, so no type retains more than the heap; modules,
 * types and code (which hold everything) get 0.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>

#include "refscope/dom.h"
#include "analysis.h"

static int by_size_desc(const void *a, const void *b)
{
    const rs_census_row *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->type_id < y->type_id ? -1 : x->type_id > y->type_id;
}

rs_census_row *rs_census_finish(rs_snapshot *s, rs_census_row *rows, size_t *count)
{
    size_t used = 0;
    for (uint32_t t = 0; t < s->type_count; t++) {
        if (rows[t].count == 0)
            continue;
        rows[t].type_id = t;
        rows[used++] = rows[t];
    }
    qsort(rows, used, sizeof *rows, by_size_desc);
    *count = used;
    return rows;
}

rs_idx *rs_census_instances(rs_snapshot *s, uint32_t type_id, size_t *count)
{
    rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g), found = 0;
    for (size_t i = 0; i < n; i++)
        found += rs_graph_type_id(g, (rs_idx)i) == type_id && !(rs_graph_flags(g, (rs_idx)i) & RS_NODE_INTERNAL);
    rs_idx *out = rs_malloc((found ? found : 1) * sizeof *out);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (rs_graph_type_id(g, (rs_idx)i) == type_id && !(rs_graph_flags(g, (rs_idx)i) & RS_NODE_INTERNAL))
            out[k++] = (rs_idx)i;
    *count = found;
    return out;
}

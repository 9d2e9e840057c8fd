/*
 * Lazily computed analyses of a snapshot: each is computed on first use
 * and kept with the snapshot.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "analysis.h"
#include "module.h"
#include "refscope/dom.h"
#include "refscope/scc.h"

int rs_analysis_ensure_dominators(rs_snapshot *s)
{
    if (s->dom != NULL)
        return 0;
    s->dom = rs_dom_compute(s->graph);
    if (s->dom == NULL) {
        PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory for the dominator tree");
        return -1;
    }
    return 0;
}

const rs_dom_order *rs_analysis_dom_order(rs_snapshot *s)
{
    if (s->dom_order == NULL)
        s->dom_order = rs_dom_order_new(s);
    return s->dom_order;
}

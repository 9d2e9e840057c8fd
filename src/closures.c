/*
 * Closures: every cell a function's __closure__ holds, with what the cell
 * keeps alive.  A closure captured by a long-lived callback is a classic
 * leak: the variable's value lives as long as the function does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>

#include "analysis.h"
#include "node.h"
#include "refscope/dom.h"

static int by_retained_desc(const void *a, const void *b)
{
    const rs_closure_var *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained < y->retained ? 1 : -1;
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    return x->var < y->var ? -1 : x->var > y->var;
}

/* Calls fn(ctx, cv) for every non-empty closure cell, in node order
 * (retained left 0: the caller asks the dominator tree when it needs it). */
static void for_each_cell(rs_snapshot *s, void (*fn)(void *ctx, const rs_closure_var *cv), void *ctx)
{
    size_t n = rs_graph_node_count(s->graph);
    for (size_t i = 0; i < n; i++) {
        /* The type table answers "is it a function" without a look at the
         * object: on a big heap every such look is a cache miss. */
        if (rs_snapshot_node_type(s, (rs_idx)i) != &PyFunction_Type ||
            (rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL))
            continue;
        PyObject *f = rs_snapshot_object(s, (rs_idx)i);
        PyObject *closure = PyFunction_GET_CLOSURE(f);
        if (closure == NULL || !PyTuple_Check(closure))
            continue;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(closure); k++) {
            PyObject *cell = PyTuple_GET_ITEM(closure, k);
            if (!PyCell_Check(cell) || PyCell_GET(cell) == NULL)
                continue;
            rs_closure_var cv = {
                .function = (rs_idx)i,
                .cell = rs_graph_find(s->graph, (uintptr_t)cell),
                .value = rs_graph_find(s->graph, (uintptr_t)PyCell_GET(cell)),
                .var = (uint32_t)k,
            };
            if (cv.cell == RS_NONE || cv.value == RS_NONE)
                continue;
            fn(ctx, &cv);
        }
    }
}

typedef struct cell_list {
    rs_closure_var *vars;
    size_t count;
} cell_list;

static void count_cell(void *ctx, const rs_closure_var *cv)
{
    (void)cv;
    ((cell_list *)ctx)->count++;
}

static void store_cell(void *ctx, const rs_closure_var *cv)
{
    cell_list *l = ctx;
    l->vars[l->count++] = *cv;
}

rs_closure_var *rs_closure_cells(rs_snapshot *s, size_t *count)
{
    cell_list l = {0};
    for_each_cell(s, count_cell, &l);
    l.vars = rs_malloc((l.count ? l.count : 1) * sizeof *l.vars);
    if (l.vars == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    l.count = 0;
    for_each_cell(s, store_cell, &l);
    *count = l.count;
    return l.vars;
}

rs_closure_var *rs_closures(rs_snapshot *s, size_t *count)
{
    if (s->stored != NULL)
        return rs_node_stored_closures(s, count);
    if (rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    rs_closure_var *vars = rs_closure_cells(s, count);
    if (vars == NULL)
        return NULL;
    for (size_t i = 0; i < *count; i++)
        vars[i].retained = rs_dom_retained(s->dom, vars[i].value);
    qsort(vars, *count, sizeof *vars, by_retained_desc);
    return vars;
}

PyObject *rs_closure_var_name(rs_snapshot *s, const rs_closure_var *cv)
{
    if (s->stored != NULL)
        return rs_node_stored_closure_name(s, cv);
    PyObject *f = rs_snapshot_object(s, cv->function);
    PyObject *freevars = PyCode_GetFreevars((PyCodeObject *)PyFunction_GET_CODE(f));
    if (freevars == NULL)
        return NULL;
    PyObject *name = (Py_ssize_t)cv->var < PyTuple_GET_SIZE(freevars)
                         ? Py_NewRef(PyTuple_GET_ITEM(freevars, cv->var))
                         : PyUnicode_FromFormat("<cell %u>", cv->var);
    Py_DECREF(freevars);
    return name;
}

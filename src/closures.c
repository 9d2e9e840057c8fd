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

typedef struct cell_list {
    rs_closure_var *vars;
    size_t count, cap;
} cell_list;

static int add_cell(cell_list *l, const rs_closure_var *cv)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        rs_closure_var *grown = rs_realloc(l->vars, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        l->vars = grown;
        l->cap = cap;
    }
    l->vars[l->count++] = *cv;
    return 0;
}

/* Every non-empty closure cell into l, in node order, in one pass over
 * the nodes (retained left 0: the caller asks the dominator tree when it
 * needs it).  0, or -1 for memory. */
static int collect_cells(rs_snapshot *s, cell_list *l)
{
    /* The type table answers "is it a function" without a look at the
     * object (on a big heap every such look is a cache miss): a node is
     * one when its type id is the function type's (none: no pass). */
    int64_t function_id = rs_snapshot_type_index(s, &PyFunction_Type);
    size_t n = function_id >= 0 ? rs_graph_node_count(s->graph) : 0;
    for (size_t i = 0; i < n; i++) {
        if (rs_graph_type_id(s->graph, (rs_idx)i) != (uint32_t)function_id ||
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
            if (add_cell(l, &cv) < 0)
                return -1;
        }
    }
    return 0;
}

rs_closure_var *rs_closure_cells(rs_snapshot *s, size_t *count)
{
    cell_list l = {0};
    if (collect_cells(s, &l) < 0) {
        rs_free(l.vars);
        PyErr_NoMemory();
        return NULL;
    }
    if (l.vars == NULL && (l.vars = rs_malloc(sizeof *l.vars)) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
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

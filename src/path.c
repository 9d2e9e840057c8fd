/*
 * Why is it alive: shortest paths from the roots.  A breadth-first search
 * backwards from the object over the reverse index, level by level, stops
 * at the first module root it meets: that is the shortest path from any
 * module, found after exploring only the object's nearest holders.  When
 * no module reaches the object, the search goes on over all its holders
 * and takes the nearest executing-frame root, else the nearest object held
 * by C.  That order is the preference: modules, then frames, then C.
 * Weak references are not edges, so never on a path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <string.h>

#include "snapshot.h"

/* The nodes one search has visited, each with the next node toward the
 * object: open addressing on the node index, grown by doubling.  It grows
 * with the search, so a path costs what the search visits, not the heap's
 * size (node-sized arrays would fault in pages all over the heap's worth
 * of memory on the first question). */
typedef struct visited {
    rs_idx *node; /* RS_NONE = empty slot */
    rs_idx *next;
    unsigned bits;
    size_t count;
    rs_idx *queue; /* the search's queue, in visit order */
    size_t queue_cap;
} visited;

static size_t visited_slot(rs_idx x, unsigned bits)
{
    return (size_t)(((uint64_t)x * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static void visited_free(visited *v)
{
    rs_free(v->node);
    rs_free(v->next);
    rs_free(v->queue);
}

/* After: the table has room for one more node at load <= 1/2, and the
 * queue for one more entry.  -1 on memory failure. */
static int visited_reserve(visited *v)
{
    if (v->count == v->queue_cap) {
        size_t cap = v->queue_cap ? v->queue_cap * 2 : 256;
        rs_idx *q = rs_realloc(v->queue, cap * sizeof *q);
        if (q == NULL)
            return -1;
        v->queue = q;
        v->queue_cap = cap;
    }
    if (v->bits != 0 && (v->count + 1) * 2 <= ((size_t)1 << v->bits))
        return 0;
    unsigned bits = v->bits ? v->bits + 1 : 10;
    size_t cap = (size_t)1 << bits;
    rs_idx *node = rs_malloc(cap * sizeof *node), *next = rs_malloc(cap * sizeof *next);
    if (node == NULL || next == NULL) {
        rs_free(node);
        rs_free(next);
        return -1;
    }
    memset(node, 0xFF, cap * sizeof *node); /* RS_NONE everywhere */
    for (size_t i = 0; v->bits != 0 && i < ((size_t)1 << v->bits); i++) {
        if (v->node[i] == RS_NONE)
            continue;
        size_t s = visited_slot(v->node[i], bits);
        while (node[s] != RS_NONE)
            s = (s + 1) & (cap - 1);
        node[s] = v->node[i];
        next[s] = v->next[i];
    }
    rs_free(v->node);
    rs_free(v->next);
    v->node = node;
    v->next = next;
    v->bits = bits;
    return 0;
}

/* Adds x (reached from next) and queues it: 1, or 0 when x was already
 * visited, or -1 on memory failure. */
static int visit(visited *v, rs_idx x, rs_idx next)
{
    if (visited_reserve(v) < 0)
        return -1;
    size_t mask = ((size_t)1 << v->bits) - 1;
    size_t s = visited_slot(x, v->bits);
    while (v->node[s] != RS_NONE) {
        if (v->node[s] == x)
            return 0;
        s = (s + 1) & mask;
    }
    v->node[s] = x;
    v->next[s] = next;
    v->queue[v->count++] = x;
    return 1;
}

/* The next node toward the object from visited node x. */
static rs_idx next_of(const visited *v, rs_idx x)
{
    size_t mask = ((size_t)1 << v->bits) - 1;
    for (size_t s = visited_slot(x, v->bits); v->node[s] != RS_NONE; s = (s + 1) & mask)
        if (v->node[s] == x)
            return v->next[s];
    return RS_NONE;
}

/* The first root of kind at target (module and frame roots come first in
 * the roots array, so this scan is short for them). */
static const rs_root *root_at(rs_snapshot *s, rs_idx target, uint32_t kind)
{
    size_t count;
    const rs_root *roots = rs_graph_roots(s->graph, &count);
    for (size_t r = 0; r < count; r++)
        if (roots[r].target == target && roots[r].kind == kind)
            return &roots[r];
    return NULL;
}

/* After: for the node returned (the nearest root target of the preferred
 * kind, or RS_NONE), following next_of() in v leads to n; *kind is its
 * kind.  *failed is set on memory failure. */
static rs_idx search_back(rs_snapshot *s, rs_idx n, visited *v, uint32_t *kind, bool *failed)
{
    rs_graph *g = s->graph;
    rs_idx best[RS_ROOT_KIND_COUNT] = {RS_NONE, RS_NONE, RS_NONE};
    size_t head = 0;
    *failed = visit(v, n, RS_NONE) < 0;
    while (!*failed && head < v->count) {
        rs_idx x = v->queue[head++];
        uint32_t flags = rs_graph_flags(g, x);
        if (flags & RS_NODE_ROOT_MODULE) {
            *kind = RS_ROOT_MODULE;
            return x;
        }
        if ((flags & RS_NODE_ROOT_FRAME) && best[RS_ROOT_FRAME] == RS_NONE)
            best[RS_ROOT_FRAME] = x;
        if ((flags & RS_NODE_ROOT_HELD) && best[RS_ROOT_UNEXPLAINED] == RS_NONE)
            best[RS_ROOT_UNEXPLAINED] = x;
        size_t count;
        const rs_idx *holders = rs_graph_referrers(g, x, &count);
        for (size_t k = 0; k < count && !*failed; k++) {
            rs_idx y = holders[k];
            if (!(rs_graph_flags(g, y) & RS_NODE_INTERNAL))
                *failed = visit(v, y, x) < 0;
        }
    }
    for (uint32_t k = RS_ROOT_FRAME; k < RS_ROOT_KIND_COUNT && !*failed; k++) {
        if (best[k] != RS_NONE) {
            *kind = k;
            return best[k];
        }
    }
    return RS_NONE;
}

int rs_path_find(rs_snapshot *s, rs_idx n, rs_idx **nodes, size_t *len, const rs_root **root)
{
    visited v = {0};
    uint32_t kind;
    bool failed;
    rs_idx start = search_back(s, n, &v, &kind, &failed);
    if (failed)
        goto nomem;
    if (start == RS_NONE) {
        visited_free(&v);
        return 0;
    }
    size_t length = 0;
    for (rs_idx x = start; x != RS_NONE; x = next_of(&v, x))
        length++;
    rs_idx *out = rs_malloc(length * sizeof *out);
    if (out == NULL)
        goto nomem;
    size_t i = 0;
    for (rs_idx x = start; x != RS_NONE; x = next_of(&v, x))
        out[i++] = x;
    visited_free(&v);
    *root = root_at(s, start, kind);
    *nodes = out;
    *len = length;
    return 1;
nomem:
    visited_free(&v);
    PyErr_NoMemory();
    return -1;
}

/* The first edge nodes[i-1] -> nodes[i], as an index into the referents. */
static size_t edge_index(rs_snapshot *s, rs_idx from, rs_idx to)
{
    size_t count;
    const rs_idx *targets = rs_graph_referents(s->graph, from, &count);
    for (size_t k = 0; k < count; k++)
        if (targets[k] == to)
            return k;
    return count;
}

PyObject *rs_path_step_label(rs_snapshot *s, const rs_idx *nodes, size_t i, const rs_root *root)
{
    if (i == 0)
        return root != NULL ? rs_label_root(s, root) : PyUnicode_FromString("");
    return rs_label_referent(s, nodes[i - 1], edge_index(s, nodes[i - 1], nodes[i]));
}

/* 1 when label is ['name'] with name a Python identifier; sets *name. */
static int identifier_key(PyObject *label, PyObject **name)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(label);
    if (len < 5 || PyUnicode_READ_CHAR(label, 0) != '[' || PyUnicode_READ_CHAR(label, 1) != '\'' ||
        PyUnicode_READ_CHAR(label, len - 2) != '\'' || PyUnicode_READ_CHAR(label, len - 1) != ']')
        return 0;
    PyObject *inner = PyUnicode_Substring(label, 2, len - 2);
    if (inner == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (!PyUnicode_IsIdentifier(inner)) {
        Py_DECREF(inner);
        return 0;
    }
    *name = inner;
    return 1;
}

static int starts_with(PyObject *label, const char *prefix)
{
    Py_ssize_t n = (Py_ssize_t)strlen(prefix);
    if (PyUnicode_GET_LENGTH(label) < n)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ_CHAR(label, i) != (Py_UCS4)(unsigned char)prefix[i])
            return 0;
    return 1;
}

static int equals(PyObject *label, const char *text)
{
    return PyUnicode_CompareWithASCIIString(label, text) == 0;
}

/* Joins the step labels into one expression: ".__dict__" + "['x']" folds
 * into ".x"; ".__closure__" + "<closure var 'v'>" + ".cell_contents" into
 * " <closure var 'v'>"; descriptive "<...>" steps are set off by a space.
 * labels[head .. len - tail) are left out (NULL) and shown as their count. */
static PyObject *join_labels(PyObject *const *labels, size_t len, size_t head, size_t tail)
{
    PyObject *parts = PyList_New(0);
    PyObject *result = NULL;
    if (parts == NULL)
        goto done;
    for (size_t i = 0; i < len; i++) {
        PyObject *label = labels[i], *name = NULL, *part = NULL;
        if (label == NULL) {
            part = PyUnicode_FromFormat(" ...(%zu steps)... ", len - head - tail);
            i = len - tail - 1;
        } else if (i + 1 < len && labels[i + 1] != NULL && equals(label, ".__dict__") &&
                   identifier_key(labels[i + 1], &name)) {
            part = PyUnicode_FromFormat(".%U", name);
            Py_DECREF(name);
            i++;
        } else if (i + 2 < len && labels[i + 1] != NULL && labels[i + 2] != NULL && equals(label, ".__closure__") &&
                   starts_with(labels[i + 1], "<closure var") && equals(labels[i + 2], ".cell_contents")) {
            part = PyUnicode_FromFormat(" %U", labels[i + 1]);
            i += 2;
        } else if (i > 0 && starts_with(label, "<")) {
            part = PyUnicode_FromFormat(" %U", label);
        } else {
            part = Py_NewRef(label);
        }
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            goto done;
        }
        Py_DECREF(part);
    }
    PyObject *empty = PyUnicode_FromString("");
    if (empty != NULL) {
        result = PyUnicode_Join(empty, parts);
        Py_DECREF(empty);
    }
done:
    Py_XDECREF(parts);
    if (result == NULL && !PyErr_Occurred())
        PyErr_NoMemory();
    return result;
}

PyObject *rs_path_join(PyObject *label_list)
{
    size_t len = (size_t)PyList_GET_SIZE(label_list);
    return join_labels(((PyListObject *)label_list)->ob_item, len, len, 0);
}

PyObject *rs_path_expression(rs_snapshot *s, const rs_idx *nodes, size_t len, const rs_root *root)
{
    return rs_path_expression_short(s, nodes, len, root, 0);
}

PyObject *rs_path_expression_short(rs_snapshot *s, const rs_idx *nodes, size_t len, const rs_root *root,
                                   size_t max_steps)
{
    /* Steps [head, len - tail) are left out (and never labelled). */
    size_t head = len, tail = 0;
    if (max_steps > 0 && len > max_steps) {
        tail = max_steps / 3;
        head = max_steps - tail;
    }
    PyObject **labels = PyMem_Calloc(len ? len : 1, sizeof *labels);
    PyObject *result = NULL;
    if (labels == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    size_t i = 0;
    for (; i < len; i++)
        if ((i < head || i >= len - tail) && (labels[i] = rs_path_step_label(s, nodes, i, root)) == NULL)
            break;
    if (i == len)
        result = join_labels(labels, len, head, tail);
    for (i = 0; i < len; i++)
        Py_XDECREF(labels[i]);
    PyMem_Free(labels);
    return result;
}

PyObject *rs_path_text(rs_snapshot *s, rs_idx n)
{
    rs_idx *nodes;
    size_t len;
    const rs_root *root;
    int r = rs_path_find(s, n, &nodes, &len, &root);
    if (r <= 0)
        return r == 0 ? Py_NewRef(Py_None) : NULL;
    PyObject *text = rs_path_expression_short(s, nodes, len, root, RS_PATH_TEXT_STEPS);
    rs_free(nodes);
    return text;
}

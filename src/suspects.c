/*
 * Leak suspects (suspects.h): every rule that decides what the summary
 * screen, the report and the API name as a suspect lives here once.
 *
 *   rs_top_k                  the one "keep the k biggest" helper
 *   rs_suspects               candidates ranked by retained size, then one
 *                             bounded walk of each one's dominator subtree
 *                             (accumulate) names the type retaining the most
 *                             inside it and the container holding those
 *   rs_suspect_unexplained    the unexplained-reference filter
 *   rs_suspect_strings        largest str / bytes / bytearray
 *   rs_suspect_cycles         cycles as rs_cycles() ranks them
 *   node tally                one pass over every node, kept with the
 *                             snapshot, for the census counts, the garbage,
 *                             the unexplained references and the first
 *                             suspects and strings (tally_nodes)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "refscope/dom.h"
#include "suspects.h"

/* --- top k ---------------------------------------------------------------- */

/* Up to this k a sorted array with insertion; above, keep and sort once. */
#define TOP_K_INSERTION_MAX 64

int rs_top_k_init(rs_top_k *t, size_t k)
{
    *t = (rs_top_k){.k = k, .capacity = k < TOP_K_INSERTION_MAX ? (k ? k : 1) : TOP_K_INSERTION_MAX};
    t->value = rs_malloc(t->capacity * sizeof *t->value);
    t->node = rs_malloc(t->capacity * sizeof *t->node);
    if (t->value == NULL || t->node == NULL) {
        rs_top_k_free(t);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Keeps every offer unsorted, growing the arrays (at most one entry per
 * offer, so never more than there are candidates). */
static void top_k_keep(rs_top_k *t, uint64_t value, rs_idx node)
{
    if (t->count == t->capacity) {
        size_t capacity = t->capacity * 2;
        uint64_t *v = rs_realloc(t->value, capacity * sizeof *v);
        if (v != NULL)
            t->value = v;
        rs_idx *n = v ? rs_realloc(t->node, capacity * sizeof *n) : NULL;
        if (n == NULL) {
            t->failed = true;
            return;
        }
        t->node = n;
        t->capacity = capacity;
    }
    t->value[t->count] = value;
    t->node[t->count++] = node;
    t->unsorted = true;
}

void rs_top_k_add(rs_top_k *t, uint64_t value, rs_idx node)
{
    if (t->capacity != 0 && t->k > TOP_K_INSERTION_MAX) {
        top_k_keep(t, value, node);
        return;
    }
    /* Insertion into a short sorted array: most offers lose to the last one. */
    if (t->k == 0 || (t->count == t->k && value <= t->value[t->count - 1]))
        return;
    size_t i = t->count < t->k ? t->count++ : t->count - 1;
    while (i > 0 && t->value[i - 1] < value) {
        t->value[i] = t->value[i - 1];
        t->node[i] = t->node[i - 1];
        i--;
    }
    t->value[i] = value;
    t->node[i] = node;
}

bool rs_top_k_could_take(const rs_top_k *t, uint64_t value)
{
    /* Only the short sorted array knows its smallest entry. */
    if (t->capacity != 0 && t->k > TOP_K_INSERTION_MAX)
        return true;
    return t->k > 0 && (t->count < t->k || value > t->value[t->count - 1]);
}

typedef struct top_k_pair {
    uint64_t value;
    rs_idx node;
} top_k_pair;

static int by_value_desc(const void *a, const void *b)
{
    const top_k_pair *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    return (x->node > y->node) - (x->node < y->node);
}

int rs_top_k_finish(rs_top_k *t)
{
    if (t->failed) {
        PyErr_NoMemory();
        return -1;
    }
    if (!t->unsorted)
        return 0;
    top_k_pair *pairs = rs_malloc(t->count * sizeof *pairs);
    if (pairs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < t->count; i++)
        pairs[i] = (top_k_pair){t->value[i], t->node[i]};
    qsort(pairs, t->count, sizeof *pairs, by_value_desc);
    if (t->count > t->k)
        t->count = t->k;
    for (size_t i = 0; i < t->count; i++) {
        t->value[i] = pairs[i].value;
        t->node[i] = pairs[i].node;
    }
    rs_free(pairs);
    t->unsorted = false;
    return 0;
}

rs_idx *rs_top_k_take(rs_top_k *t, size_t *count)
{
    if (rs_top_k_finish(t) < 0) {
        rs_top_k_free(t);
        return NULL;
    }
    rs_idx *nodes = t->node;
    *count = t->count;
    t->node = NULL;
    rs_top_k_free(t);
    return nodes;
}

void rs_top_k_free(rs_top_k *t)
{
    rs_free(t->value);
    rs_free(t->node);
    t->value = NULL;
    t->node = NULL;
    t->count = 0;
}

/* --- candidates ------------------------------------------------------------ */

/* true when n is the program's structure: a type, module, code, function
 * or frame (all flagged by the walk), or what a class holds directly (its
 * namespace, __mro__, __bases__). */
static bool is_structure(rs_snapshot *s, rs_idx n)
{
    if (rs_graph_flags(s->graph, n) & (RS_NODE_NOT_DATA | RS_NODE_TYPE | RS_NODE_MODULE | RS_NODE_PROGRAM))
        return true;
    rs_idx d = rs_dom_idom(s->dom, n);
    return d != RS_NONE && d != RS_DOM_SUPER_ROOT && (rs_graph_flags(s->graph, d) & RS_NODE_TYPE);
}

bool rs_suspect_candidate(rs_snapshot *s, rs_idx n)
{
    if ((rs_graph_flags(s->graph, n) & RS_NODE_INTERNAL) || is_structure(s, n))
        return false;
    rs_idx d = rs_dom_idom(s->dom, n);
    return d == RS_DOM_SUPER_ROOT || (d != RS_NONE && is_structure(s, d));
}

/* --- accumulation ------------------------------------------------------------- */

/* Per type, over one suspect's dominator subtree: instances not nested in
 * another instance of the type, what they retain, and the one object
 * holding them all directly (RS_NONE once two holders differ). */
typedef struct accumulate_walk {
    rs_snapshot *snap;
    size_t *count;
    uint64_t *bytes;
    uint32_t *active;  /* per type: instances on the current tree path */
    rs_idx *holder;
    uint32_t *touched; /* type ids seen, to reset only those */
    size_t touched_count;
    struct accumulate_frame *stack;
    size_t stack_cap;
} accumulate_walk;

/* A node of the subtree whose children are being walked. */
typedef struct accumulate_frame {
    const rs_idx *children;
    size_t count, next;
    rs_idx node;   /* the children's immediate dominator */
    uint32_t type; /* the node's type id when counted, else UINT32_MAX */
} accumulate_frame;

/* Counts data node n, entering it below holder (its immediate dominator,
 * the walk's node below it: no lookup); returns its type id. */
static uint32_t accumulate_enter(accumulate_walk *w, rs_idx n, rs_idx holder)
{
    uint32_t t = rs_graph_type_id(w->snap->graph, n);
    if (w->active[t]++ > 0)
        return t;
    if (w->count[t] == 0) {
        w->touched[w->touched_count++] = t;
        w->holder[t] = holder;
    } else if (w->holder[t] != holder) {
        w->holder[t] = RS_NONE;
    }
    w->count[t]++;
    w->bytes[t] += rs_dom_retained(w->snap->dom, n);
    return t;
}

/* Walks the dominator subtree below suspect depth first, children in
 * rs_dom_children() order, counting each data node on the way down (a
 * leaf is entered and left at once, with no frame).  1 when it stopped
 * after RS_ACCUMULATION_BUDGET data nodes, 0 when it saw them all, -1
 * with MemoryError. */
static int accumulate_subtree(accumulate_walk *w, rs_idx suspect)
{
    const rs_dom *dom = w->snap->dom;
    size_t depth = 1, visited = 0;
    w->stack[0] = (accumulate_frame){.node = suspect, .type = UINT32_MAX};
    w->stack[0].children = rs_dom_children(dom, suspect, &w->stack[0].count);
    while (depth > 0) {
        accumulate_frame *top = &w->stack[depth - 1];
        if (top->next == top->count) {
            if (top->type != UINT32_MAX)
                w->active[top->type]--;
            depth--;
            continue;
        }
        rs_idx child = top->children[top->next++];
        uint32_t t = UINT32_MAX;
        if (!(rs_graph_flags(w->snap->graph, child) & (RS_NODE_INTERNAL | RS_NODE_NOT_DATA))) {
            if (++visited > RS_ACCUMULATION_BUDGET)
                return 1;
            t = accumulate_enter(w, child, top->node);
        }
        size_t count;
        const rs_idx *children = rs_dom_children(dom, child, &count);
        if (count == 0) {
            if (t != UINT32_MAX)
                w->active[t]--;
            continue;
        }
        if (depth == w->stack_cap) {
            accumulate_frame *grown = rs_realloc(w->stack, 2 * w->stack_cap * sizeof *grown);
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            w->stack = grown;
            w->stack_cap *= 2;
        }
        w->stack[depth++] = (accumulate_frame){.children = children, .count = count, .node = child, .type = t};
    }
    return 0;
}

/* true when type t retains more than type u (more instances break a tie). */
static bool more(const accumulate_walk *w, uint32_t t, uint32_t u)
{
    return u == UINT32_MAX || w->bytes[t] > w->bytes[u] || (w->bytes[t] == w->bytes[u] && w->count[t] > w->count[u]);
}

/* A builtin container: what it holds is the accumulation, not itself. */
static bool plain_container(rs_snapshot *s, uint32_t t)
{
    enum rs_node_kind kind = rs_type_kind(s, t);
    return (rs_type_kind_exact(s, t) &&
            (kind == RS_KIND_DICT || kind == RS_KIND_LIST || kind == RS_KIND_TUPLE || kind == RS_KIND_SET)) ||
           strcmp(s->types[t].name, "collections.deque") == 0;
}

/* Fills x->accumulation from one walk of x's dominator subtree.  The type
 * retaining the most wins (more instances break a tie).  0, or -1. */
static int accumulate(accumulate_walk *w, rs_suspect *x)
{
    rs_accumulation *a = &x->accumulation;
    *a = (rs_accumulation){.type_id = UINT32_MAX, .container = RS_NONE};
    w->touched_count = 0;
    int r = accumulate_subtree(w, x->node);
    if (r < 0)
        return -1;
    a->about = r == 1;
    /* The type retaining the most; a plain container (the dict inside a
     * registry) gives way to what it contains when that retains at least
     * half as much. */
    uint32_t best = UINT32_MAX, best_data = UINT32_MAX;
    for (size_t i = 0; i < w->touched_count; i++) {
        uint32_t t = w->touched[i];
        if (more(w, t, best))
            best = t;
        if (!plain_container(w->snap, t) && more(w, t, best_data))
            best_data = t;
    }
    if (best_data != UINT32_MAX && w->bytes[best_data] >= w->bytes[best] / 2)
        best = best_data;
    if (best != UINT32_MAX) {
        a->type_id = best;
        a->count = w->count[best];
        a->bytes = w->bytes[best];
        a->container = w->holder[best] == x->node ? RS_NONE : w->holder[best];
    }
    for (size_t i = 0; i < w->touched_count; i++) {
        uint32_t t = w->touched[i];
        w->count[t] = 0;
        w->bytes[t] = 0;
        w->active[t] = 0;
    }
    if (a->type_id != UINT32_MAX && x->retained > 0)
        a->percent = (uint32_t)(a->bytes * 100 / x->retained);
    return 0;
}

/* Offers node i to the suspects' top k when it is a candidate.  The size
 * first: whether a node is a candidate takes reads of its dominators, at
 * random places of a big heap. */
static inline void offer_suspect(rs_snapshot *s, rs_top_k *top, rs_idx i)
{
    uint64_t retained = rs_dom_retained(s->dom, i);
    if (retained > 0 && rs_top_k_could_take(top, retained) && rs_suspect_candidate(s, i))
        rs_top_k_add(top, retained, i);
}

/* Top lists the node tally keeps: a question for at most this many is
 * answered from it (the summary asks for 3 to 6, the report for 10). */
#define TALLY_TOP 16

enum tally_list { TALLY_SUSPECTS, TALLY_STRINGS, TALLY_LISTS };

static const rs_top_k *tally_top(rs_snapshot *s, enum tally_list which, size_t k);

/* The k candidates with the largest retained size into top (initialised
 * here): the node tally's when it answers k, else one pass.  0, or -1. */
static int suspect_candidates(rs_snapshot *s, size_t k, rs_top_k *top)
{
    if (rs_top_k_init(top, k) < 0)
        return -1;
    const rs_top_k *kept = tally_top(s, TALLY_SUSPECTS, k);
    if (kept == NULL && PyErr_Occurred()) {
        rs_top_k_free(top);
        return -1;
    }
    if (kept != NULL) {
        for (size_t i = 0; i < kept->count && i < k; i++)
            rs_top_k_add(top, kept->value[i], kept->node[i]);
    } else {
        size_t n = rs_graph_node_count(s->graph);
        for (rs_idx i = 0; i < n; i++)
            offer_suspect(s, top, i);
    }
    if (rs_top_k_finish(top) < 0) {
        rs_top_k_free(top);
        return -1;
    }
    return 0;
}

/* rs_suspects() computed (void *: kept_or_compute() calls the three alike). */
static void *compute_suspects(rs_snapshot *s, size_t k, size_t *count)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    rs_top_k top;
    if (suspect_candidates(s, k, &top) < 0)
        return NULL;
    uint32_t types = s->type_count ? s->type_count : 1;
    accumulate_walk w = {.snap = s};
    rs_suspect *out = rs_calloc(top.count ? top.count : 1, sizeof *out);
    w.count = rs_calloc(types, sizeof *w.count);
    w.bytes = rs_calloc(types, sizeof *w.bytes);
    w.active = rs_calloc(types, sizeof *w.active);
    w.holder = rs_malloc(types * sizeof *w.holder);
    w.touched = rs_malloc(types * sizeof *w.touched);
    w.stack_cap = 256;
    w.stack = rs_malloc(w.stack_cap * sizeof *w.stack);
    if (out == NULL || w.count == NULL || w.bytes == NULL || w.active == NULL || w.holder == NULL ||
        w.touched == NULL || w.stack == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (size_t i = 0; i < top.count; i++) {
        out[i].node = top.node[i];
        out[i].retained = top.value[i];
        if (accumulate(&w, &out[i]) < 0)
            goto error;
    }
    *count = top.count;
    goto done;
error:
    rs_free(out);
    out = NULL;
done:
    rs_top_k_free(&top);
    rs_free(w.count);
    rs_free(w.bytes);
    rs_free(w.active);
    rs_free(w.holder);
    rs_free(w.touched);
    rs_free(w.stack);
    return out;
}

PyObject *rs_suspect_container_path(rs_snapshot *s, const rs_suspect *x)
{
    rs_idx c = x->accumulation.container;
    if (c == RS_NONE)
        Py_RETURN_NONE;
    /* The dominator chain from the suspect down to the container; each
     * step is an edge when the dominated object is a direct referent. */
    size_t len = 0;
    for (rs_idx y = c; y != x->node && y != RS_NONE && y != RS_DOM_SUPER_ROOT; y = rs_dom_idom(s->dom, y))
        len++;
    rs_idx *chain = rs_malloc((len + 1) * sizeof *chain);
    if (chain == NULL)
        return PyErr_NoMemory();
    size_t i = len;
    for (rs_idx y = c; i > 0; y = rs_dom_idom(s->dom, y))
        chain[i--] = y;
    chain[0] = x->node;
    PyObject *path = rs_path_expression(s, chain, len + 1, NULL);
    rs_free(chain);
    return path;
}

PyObject *rs_suspect_accumulation_text(rs_snapshot *s, const rs_suspect *x)
{
    const rs_accumulation *a = &x->accumulation;
    if (a->type_id == UINT32_MAX)
        return PyUnicode_FromString("");
    PyObject *where = rs_suspect_container_path(s, x);
    if (where == NULL)
        return NULL;
    PyObject *text = where == Py_None
                         ? PyUnicode_FromFormat("holds %s%zu x %s (%u%%)", a->about ? "about " : "", a->count,
                                                s->types[a->type_id].name, (unsigned)a->percent)
                         : PyUnicode_FromFormat("holds %s%zu x %s (%u%%) in %U", a->about ? "about " : "", a->count,
                                                s->types[a->type_id].name, (unsigned)a->percent, where);
    Py_DECREF(where);
    return text;
}

/* --- unexplained references ----------------------------------------------------- */

/* Refcounts at least this high belong to statically allocated objects
 * (deep-frozen code constants, the interpreter's own strings start at
 * 999999999; immortal objects on 3.12+ are higher still): no program
 * holds that many references. */
#define STATIC_REFCOUNT 900000000u

/* A tuple of scalars is mostly a code constant (code objects hold
 * co_consts without traversing them), a tuple of classes a static type's
 * __mro__ or __bases__ (static types do not traverse theirs): references
 * to them are never explained. */
static bool constant_tuple(PyObject *obj)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj); i++) {
        PyObject *item = PyTuple_GET_ITEM(obj, i);
        if (item != Py_None && !PyBool_Check(item) && !PyLong_CheckExact(item) && !PyUnicode_CheckExact(item) &&
            !PyBytes_CheckExact(item) && !PyFloat_CheckExact(item) && !PyType_Check(item))
            return false;
    }
    return true;
}

/* true when name is "refscope" or "refscope.something". */
static bool refscope_name(PyObject *name)
{
    const char *text = name != NULL && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (text == NULL) {
        PyErr_Clear();
        return false;
    }
    return strncmp(text, "refscope", 8) == 0 && (text[8] == '\0' || text[8] == '.');
}

/* refscope's own objects that the walk could not flag: its types'
 * namespaces, its C functions (the hotkey handler, module functions) and
 * the copy of its extension module's namespace the interpreter keeps. */
static bool refscope_owns(PyObject *obj)
{
    for (size_t i = 0; i < sizeof rs_internal_types / sizeof rs_internal_types[0]; i++)
        if (rs_internal_types[i] != NULL && obj == rs_internal_types[i]->tp_dict)
            return true;
    if (PyDict_CheckExact(obj))
        return refscope_name(PyDict_GetItemString(obj, "__name__"));
    if (!PyCFunction_Check(obj))
        return false;
    /* The hotkey handler has no module; its name says whose it is. */
    const char *function = ((PyCFunctionObject *)obj)->m_ml->ml_name;
    if (function != NULL && strncmp(function, "refscope_", 9) == 0)
        return true;
    PyObject *owner = ((PyCFunctionObject *)obj)->m_module;
    if (owner == NULL || !PyModule_Check(owner))
        return refscope_name(owner);
    PyObject *name = PyModule_GetNameObject(owner);
    bool ours = refscope_name(name);
    if (name == NULL)
        PyErr_Clear();
    Py_XDECREF(name);
    return ours;
}

/* rs_unexplained_suspect() for a dump, which knows the objects by kind,
 * by their referents and by their stored reprs: the same constants and
 * scalars left out, a tuple of scalars and classes, refscope's own
 * namespaces and C functions. */
static bool stored_unexplained_suspect(rs_snapshot *s, rs_idx n)
{
    enum rs_node_kind kind = rs_node_kind(s, n);
    bool exact = rs_node_kind_exact(s, n);
    if (kind == RS_KIND_CONSTANT || (exact && (kind == RS_KIND_STR || kind == RS_KIND_SCALAR || kind == RS_KIND_BYTES)))
        return false;
    if (exact && kind == RS_KIND_SET && strcmp(rs_snapshot_type_name(s, n), "frozenset") == 0)
        return false;
    if (!(exact && kind == RS_KIND_TUPLE))
        return !rs_node_stored_refscope_own(s, n);
    size_t count;
    const rs_idx *items = rs_graph_referents(s->graph, n, &count);
    for (size_t i = 0; i < count; i++) {
        enum rs_node_kind k = rs_node_kind(s, items[i]);
        if (k != RS_KIND_CONSTANT && k != RS_KIND_SCALAR && k != RS_KIND_STR && k != RS_KIND_BYTES &&
            !(rs_graph_flags(s->graph, items[i]) & RS_NODE_TYPE))
            return true;
    }
    return false;
}

bool rs_unexplained_suspect(rs_snapshot *s, rs_idx n)
{
    uint32_t flags = rs_graph_flags(s->graph, n);
    if ((flags & (RS_NODE_NOT_DATA | RS_NODE_INTERNAL | RS_NODE_TYPE | RS_NODE_MODULE)) ||
        rs_graph_refcount(s->graph, n) >= STATIC_REFCOUNT)
        return false;
    if (s->stored != NULL)
        return stored_unexplained_suspect(s, n);
    PyObject *obj = rs_snapshot_object(s, n);
    if (obj == Py_None || obj == Py_True || obj == Py_False || obj == Py_Ellipsis || obj == Py_NotImplemented)
        return false;
    /* Scalars are mostly code constants and interned names. */
    if (PyUnicode_CheckExact(obj) || PyLong_CheckExact(obj) || PyFloat_CheckExact(obj) || PyBytes_CheckExact(obj) ||
        PyComplex_CheckExact(obj) || PyFrozenSet_CheckExact(obj))
        return false;
    if (PyTuple_CheckExact(obj) && constant_tuple(obj))
        return false;
    return !refscope_owns(obj);
}

/* Node i's unexplained references when it is an unexplained suspect,
 * else 0.  The walk made every node with unexplained references a root,
 * so flags (i's) alone rule out most nodes. */
static inline long unexplained_suspect_count(rs_snapshot *s, rs_idx i, uint32_t flags)
{
    if (!(flags & RS_NODE_ROOT_HELD))
        return 0;
    long u = rs_snapshot_unexplained(s, i);
    return u > 0 && rs_unexplained_suspect(s, i) ? u : 0;
}

static const rs_idx *tally_unexplained(rs_snapshot *s, size_t *count);

static void *compute_unexplained(rs_snapshot *s, size_t k, size_t *count)
{
    size_t listed;
    const rs_idx *nodes = tally_unexplained(s, &listed);
    if (nodes == NULL)
        return NULL;
    rs_top_k top;
    if (rs_top_k_init(&top, k) < 0)
        return NULL;
    for (size_t i = 0; i < listed; i++)
        rs_top_k_add(&top, (uint64_t)rs_snapshot_unexplained(s, nodes[i]), nodes[i]);
    return rs_top_k_take(&top, count);
}

/* --- strings and cycles ------------------------------------------------------ */

/* Per type id: is it str, bytes or bytearray exactly?  The type answers
 * "is it text?": one look per type, not per node.  rs_malloc'ed, NULL
 * with MemoryError. */
static bool *text_types(rs_snapshot *s)
{
    bool *text = rs_malloc(s->type_count ? s->type_count : 1);
    if (text == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (uint32_t t = 0; t < s->type_count; t++) {
        enum rs_node_kind kind = rs_type_kind(s, t);
        text[t] = (kind == RS_KIND_STR || kind == RS_KIND_BYTES || kind == RS_KIND_BYTEARRAY) && rs_type_kind_exact(s, t);
    }
    return text;
}

static void *compute_strings(rs_snapshot *s, size_t k, size_t *count)
{
    const rs_top_k *kept = tally_top(s, TALLY_STRINGS, k);
    if (kept == NULL && PyErr_Occurred())
        return NULL;
    rs_top_k top;
    if (rs_top_k_init(&top, k) < 0)
        return NULL;
    if (kept != NULL) {
        for (size_t i = 0; i < kept->count && i < k; i++)
            rs_top_k_add(&top, kept->value[i], kept->node[i]);
        return rs_top_k_take(&top, count);
    }
    bool *text = text_types(s);
    if (text == NULL) {
        rs_top_k_free(&top);
        return NULL;
    }
    size_t n = rs_graph_node_count(s->graph);
    for (rs_idx i = 0; i < n; i++)
        if (text[rs_graph_type_id(s->graph, i)] && !(rs_graph_flags(s->graph, i) & RS_NODE_INTERNAL))
            rs_top_k_add(&top, rs_graph_size(s->graph, i), i);
    rs_free(text);
    return rs_top_k_take(&top, count);
}

rs_cycle *rs_suspect_cycles(rs_snapshot *s, size_t k, size_t *count, size_t *total, size_t *unreachable)
{
    size_t all;
    rs_cycle *cycles = rs_cycles(s, &all);
    if (cycles == NULL)
        return NULL;
    *unreachable = 0;
    for (size_t i = 0; i < all; i++)
        *unreachable += cycles[i].garbage;
    *total = all;
    *count = all < k ? all : k;
    return cycles;
}

static int by_type_id(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static int by_member_count(const void *x, const void *y, void *arg)
{
    const rs_cycle *cycles = arg;
    size_t a = cycles[*(const size_t *)x].member_count, b = cycles[*(const size_t *)y].member_count;
    return (a > b) - (a < b);
}

int rs_cycle_shapes_init(rs_cycle_shapes *sh, rs_snapshot *s, const rs_cycle *cycles, size_t n)
{
    /* Shapes compare member counts first: only cycles whose count another
     * cycle shares need their member types (a tree of a million nodes is
     * one cycle of its own size, sorted for nothing otherwise). */
    size_t *by_count = rs_malloc((n ? n : 1) * sizeof *by_count);
    sh->cycles = cycles;
    sh->types = NULL;
    sh->at = rs_malloc((n ? n : 1) * sizeof *sh->at);
    if (by_count == NULL || sh->at == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        by_count[i] = i;
    qsort_r(by_count, n, sizeof *by_count, by_member_count, (void *)cycles);
    size_t members = 0;
    for (size_t i = 0; i < n; i++) {
        size_t count = cycles[by_count[i]].member_count;
        bool shared = (i > 0 && cycles[by_count[i - 1]].member_count == count) ||
                      (i + 1 < n && cycles[by_count[i + 1]].member_count == count);
        sh->at[by_count[i]] = shared ? 0 : SIZE_MAX;
        members += shared ? count : 0;
    }
    rs_free(by_count);
    by_count = NULL;
    sh->types = rs_malloc((members ? members : 1) * sizeof *sh->types);
    if (sh->types == NULL)
        goto nomem;
    for (size_t i = 0, at = 0; i < n; i++) {
        if (sh->at[i] == SIZE_MAX)
            continue;
        sh->at[i] = at;
        for (size_t k = 0; k < cycles[i].member_count; k++)
            sh->types[at + k] = rs_graph_type_id(s->graph, cycles[i].members[k]);
        qsort(sh->types + at, cycles[i].member_count, sizeof *sh->types, by_type_id);
        at += cycles[i].member_count;
    }
    return 0;
nomem:
    rs_free(by_count);
    rs_cycle_shapes_free(sh);
    PyErr_NoMemory();
    return -1;
}

int rs_cycle_shape_compare(const rs_cycle_shapes *sh, size_t a, size_t b)
{
    size_t na = sh->cycles[a].member_count, nb = sh->cycles[b].member_count;
    if (na != nb)
        return na < nb ? 1 : -1;
    const uint32_t *x = sh->types + sh->at[a], *y = sh->types + sh->at[b];
    for (size_t i = 0; i < na; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

void rs_cycle_shapes_free(rs_cycle_shapes *sh)
{
    rs_free(sh->types);
    rs_free(sh->at);
    sh->types = NULL;
    sh->at = NULL;
}

static int by_shape_then_rank(const void *x, const void *y, void *arg)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int r = rs_cycle_shape_compare(arg, a, b);
    return r != 0 ? r : (a > b) - (a < b);
}

static int by_folded_retained(const void *x, const void *y)
{
    const rs_cycle_fold *a = x, *b = y;
    if (a->retained != b->retained)
        return a->retained < b->retained ? 1 : -1;
    return (a->first > b->first) - (a->first < b->first);
}

rs_cycle_fold *rs_suspect_cycle_folds(rs_snapshot *s, size_t k, rs_cycle **cycles, size_t *count, size_t *total,
                                      size_t *unreachable)
{
    size_t all, shown;
    *cycles = rs_suspect_cycles(s, k, &shown, total, unreachable);
    if (*cycles == NULL)
        return NULL;
    all = *total;
    rs_cycle_shapes sh;
    size_t *order = rs_malloc((all ? all : 1) * sizeof *order);
    rs_cycle_fold *folds = rs_malloc((all ? all : 1) * sizeof *folds);
    if (order == NULL || folds == NULL || rs_cycle_shapes_init(&sh, s, *cycles, all) < 0) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        rs_free(order);
        rs_free(folds);
        rs_free(*cycles);
        *cycles = NULL;
        return NULL;
    }
    for (size_t i = 0; i < all; i++)
        order[i] = i;
    qsort_r(order, all, sizeof *order, by_shape_then_rank, &sh);
    size_t n = 0;
    for (size_t i = 0; i < all; i++) {
        const rs_cycle *c = &(*cycles)[order[i]];
        /* The ranked order is biggest first: a shape's first is its biggest. */
        if (i == 0 || rs_cycle_shape_compare(&sh, order[i - 1], order[i]) != 0)
            folds[n++] = (rs_cycle_fold){.first = order[i]};
        rs_cycle_fold *f = &folds[n - 1];
        f->count++;
        f->size += c->size;
        f->retained += c->retained;
        f->garbage += c->garbage;
    }
    qsort(folds, n, sizeof *folds, by_folded_retained);
    rs_cycle_shapes_free(&sh);
    rs_free(order);
    *count = n < k ? n : k;
    return folds;
}

size_t rs_cycle_member_types(rs_snapshot *s, const rs_cycle *c, uint32_t *types, uint64_t *counts, size_t max)
{
    /* Distinct types among the first members, then the max most common. */
    enum { DISTINCT = 16, SAMPLE = 10000 };
    uint32_t seen[DISTINCT];
    uint64_t seen_count[DISTINCT];
    size_t distinct = 0;
    for (size_t i = 0; i < c->member_count && i < SAMPLE; i++) {
        uint32_t t = rs_graph_type_id(s->graph, c->members[i]);
        size_t k = 0;
        while (k < distinct && seen[k] != t)
            k++;
        if (k == distinct) {
            if (distinct == DISTINCT)
                continue;
            seen[distinct] = t;
            seen_count[distinct++] = 0;
        }
        seen_count[k]++;
    }
    rs_top_k top = {.value = counts, .node = types, .k = max};
    for (size_t k = 0; k < distinct; k++)
        rs_top_k_add(&top, seen_count[k], seen[k]);
    return top.count;
}

/* --- results kept with the snapshot ------------------------------------------ */

/* A top-k answer computed for k: it answers any k' <= k, and any k' at
 * all once it holds fewer than k (there were no more).  Ties break by
 * node order, so the k' first of a top-k are the top-k'. */
typedef struct kept_top {
    void *items; /* NULL until computed */
    size_t count, k;
} kept_top;

enum kept_list { KEPT_SUSPECTS, KEPT_UNEXPLAINED, KEPT_STRINGS, KEPT_LISTS };

/* What one pass over every node gives the summary and the report at
 * once: the census's counts and sizes, the garbage entries and totals,
 * the unexplained suspects, and the TALLY_TOP biggest suspect candidates and
 * strings.  Five separate passes read the same node arrays five times:
 * one pass took the summary from 17.5 to 14 ms at a million objects. */
typedef struct node_tally {
    bool done;
    rs_census_row *census; /* without the retained column */
    size_t census_count;
    rs_garbage_totals garbage;
    rs_top_k top[TALLY_LISTS];
    rs_idx *unexplained; /* in node order */
    size_t unexplained_count, unexplained_cap;
    bool *data_type; /* per type id: some instance is data (not flagged
                        RS_NODE_NOT_DATA), so retained_by_type lists it */
    rs_idx *maybe_garbage; /* in node order: nodes with a garbage kind
                              among them (rs_garbage_kind_of() needs SCC,
                              which the census does not: asked later) */
    size_t maybe_garbage_count, maybe_garbage_cap;
    bool garbage_done;
    rs_garbage_entry *garbage_entries; /* by kind (rs_garbage_by_kind) */
    size_t garbage_count;
} node_tally;

struct rs_suspect_cache {
    kept_top top[KEPT_LISTS]; /* rs_suspect, rs_idx, rs_idx */
    node_tally tally;
    rs_type_retained *by_type;
    size_t by_type_count;
};

static void tally_free(node_tally *t)
{
    rs_free(t->census);
    for (size_t i = 0; i < TALLY_LISTS; i++)
        rs_top_k_free(&t->top[i]);
    rs_free(t->unexplained);
    rs_free(t->data_type);
    rs_free(t->maybe_garbage);
    rs_free(t->garbage_entries);
    *t = (node_tally){0};
}

void rs_suspect_cache_free(rs_snapshot *s)
{
    struct rs_suspect_cache *c = s->suspect_cache;
    if (c == NULL)
        return;
    for (size_t i = 0; i < KEPT_LISTS; i++)
        rs_free(c->top[i].items);
    tally_free(&c->tally);
    rs_free(c->by_type);
    rs_free(c);
    s->suspect_cache = NULL;
}

static struct rs_suspect_cache *cache_of(rs_snapshot *s)
{
    if (s->suspect_cache == NULL && (s->suspect_cache = rs_calloc(1, sizeof *s->suspect_cache)) == NULL)
        PyErr_NoMemory();
    return s->suspect_cache;
}

/* Makes room for one more item of size bytes in *items (count of them,
 * *cap allocated); false for memory. */
static bool room_for_one(void **items, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return true;
    size_t grown_cap = *cap ? 2 * *cap : 64;
    void *grown = rs_realloc(*items, grown_cap * size);
    if (grown == NULL)
        return false;
    *items = grown;
    *cap = grown_cap;
    return true;
}

/* After: t holds what node_tally says but the garbage (only the nodes
 * that may be garbage: tally_garbage() sorts them out), from one pass
 * over the nodes in node order, each figure as its own analysis defines
 * it (census.c's counts, unexplained_suspect_count(), offer_suspect(),
 * text_types()).  Needs dominators only, as the census does.  0, or -1
 * with an exception (t then holds nothing). */
static int tally_nodes(rs_snapshot *s, node_tally *t)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return -1;
    bool *text = text_types(s);
    rs_census_row *rows = rs_calloc(s->type_count ? s->type_count : 1, sizeof *rows);
    t->data_type = rs_calloc(s->type_count ? s->type_count : 1, sizeof *t->data_type);
    if (text == NULL || rows == NULL || t->data_type == NULL || rs_top_k_init(&t->top[TALLY_SUSPECTS], TALLY_TOP) < 0 ||
        rs_top_k_init(&t->top[TALLY_STRINGS], TALLY_TOP) < 0)
        goto error;
    const rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g);
    for (rs_idx i = 0; i < n; i++) {
        uint32_t flags = rs_graph_flags(g, i);
        if (flags & RS_NODE_INTERNAL)
            continue; /* counted, listed and offered by none of them */
        uint32_t type = rs_graph_type_id(g, i);
        uint64_t size = rs_graph_size(g, i);
        rows[type].count++;
        rows[type].size += size;
        if (!(flags & RS_NODE_NOT_DATA))
            t->data_type[type] = true;
        if (text[type] && rs_top_k_could_take(&t->top[TALLY_STRINGS], size))
            rs_top_k_add(&t->top[TALLY_STRINGS], size, i);
        /* A reachable node outside gc.garbage with no finalizer has no
         * garbage kind (rs_garbage_kind_of): most nodes. */
        if ((flags & (RS_NODE_GARBAGE | RS_NODE_FINALIZER)) || !rs_dom_reachable(s->dom, i)) {
            if (!room_for_one((void **)&t->maybe_garbage, t->maybe_garbage_count, &t->maybe_garbage_cap,
                              sizeof *t->maybe_garbage))
                goto error;
            t->maybe_garbage[t->maybe_garbage_count++] = i;
        }
        if (unexplained_suspect_count(s, i, flags) > 0) {
            if (!room_for_one((void **)&t->unexplained, t->unexplained_count, &t->unexplained_cap,
                              sizeof *t->unexplained))
                goto error;
            t->unexplained[t->unexplained_count++] = i;
        }
        offer_suspect(s, &t->top[TALLY_SUSPECTS], i);
    }
    if (rs_top_k_finish(&t->top[TALLY_SUSPECTS]) < 0 || rs_top_k_finish(&t->top[TALLY_STRINGS]) < 0)
        goto error;
    t->census = rs_census_finish(s, rows, &t->census_count);
    rs_free(text);
    t->done = true;
    return 0;
error:
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    rs_free(text);
    rs_free(rows);
    tally_free(t);
    return -1;
}

/* After: t's garbage entries and totals are those of its maybe_garbage
 * nodes that have a garbage kind (computing SCC if need be); the list is
 * freed.  0, or -1 with an exception. */
static int tally_garbage(rs_snapshot *s, node_tally *t)
{
    if (rs_analysis_ensure_scc(s) < 0)
        return -1;
    rs_garbage_entry *found = rs_malloc((t->maybe_garbage_count ? t->maybe_garbage_count : 1) * sizeof *found);
    if (found == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < t->maybe_garbage_count; i++) {
        uint32_t kind = rs_garbage_kind_of(s, t->maybe_garbage[i]);
        if (kind != RS_GARBAGE_KIND_COUNT)
            found[count++] = (rs_garbage_entry){.node = t->maybe_garbage[i], .kind = kind};
    }
    t->garbage_entries = rs_garbage_by_kind(found, count);
    rs_free(found);
    if (t->garbage_entries == NULL)
        return -1;
    t->garbage_count = count;
    rs_garbage_totals_of(s, t->garbage_entries, count, &t->garbage);
    rs_free(t->maybe_garbage);
    t->maybe_garbage = NULL;
    t->maybe_garbage_count = t->maybe_garbage_cap = 0;
    t->garbage_done = true;
    return 0;
}

/* s's node tally, computed on first use; NULL with an exception. */
static node_tally *tally_of(rs_snapshot *s)
{
    struct rs_suspect_cache *c = cache_of(s);
    if (c == NULL)
        return NULL;
    if (!c->tally.done && tally_nodes(s, &c->tally) < 0)
        return NULL;
    return &c->tally;
}

/* The tally's top list `which` when it answers k; NULL when it does not
 * (no exception), NULL with an exception on failure. */
static const rs_top_k *tally_top(rs_snapshot *s, enum tally_list which, size_t k)
{
    /* Past TALLY_TOP a tally already made answers when it listed fewer
     * (there were no more); none is made for such a question. */
    if (k > TALLY_TOP) {
        const node_tally *t = s->suspect_cache ? &s->suspect_cache->tally : NULL;
        return t != NULL && t->done && t->top[which].count < TALLY_TOP ? &t->top[which] : NULL;
    }
    node_tally *t = tally_of(s);
    return t ? &t->top[which] : NULL;
}

/* The unexplained suspects, in node order; NULL with an exception. */
static const rs_idx *tally_unexplained(rs_snapshot *s, size_t *count)
{
    static const rs_idx none = RS_NONE;
    node_tally *t = tally_of(s);
    if (t == NULL)
        return NULL;
    *count = t->unexplained_count;
    return t->unexplained ? t->unexplained : &none;
}

/* A copy of count items of size bytes (the caller rs_frees it); NULL with
 * MemoryError. */
static void *copy_items(const void *items, size_t count, size_t size)
{
    void *copy = rs_malloc((count ? count : 1) * size);
    if (copy == NULL)
        return PyErr_NoMemory();
    if (count)
        memcpy(copy, items, count * size);
    return copy;
}

/* The first k of what kept holds, as a copy, when it answers k; NULL
 * with *answered false otherwise, NULL with *answered true and an
 * exception on failure. */
static void *kept_answer(const kept_top *kept, size_t k, size_t size, size_t *count, bool *answered)
{
    *answered = kept->items != NULL && (k <= kept->k || kept->count < kept->k);
    if (!*answered)
        return NULL;
    *count = kept->count < k ? kept->count : k;
    return copy_items(kept->items, *count, size);
}

/* Keeps a copy of items (the top k, count of them) in kept; a failed copy
 * only means the next question computes again. */
static void keep_top(kept_top *kept, const void *items, size_t count, size_t k, size_t size)
{
    void *copy = rs_malloc((count ? count : 1) * size);
    if (copy == NULL)
        return;
    if (count)
        memcpy(copy, items, count * size);
    rs_free(kept->items);
    *kept = (kept_top){.items = copy, .count = count, .k = k};
}

/* rs_suspects and the two lists below: the kept answer, or compute(k)
 * kept for the next question. */
static void *kept_or_compute(rs_snapshot *s, enum kept_list which, size_t k, size_t size, size_t *count,
                             void *(*compute)(rs_snapshot *, size_t, size_t *))
{
    struct rs_suspect_cache *c = cache_of(s);
    if (c == NULL)
        return NULL;
    bool answered;
    void *items = kept_answer(&c->top[which], k, size, count, &answered);
    if (answered)
        return items;
    items = compute(s, k, count);
    if (items != NULL)
        keep_top(&c->top[which], items, *count, k, size);
    return items;
}

rs_suspect *rs_suspects(rs_snapshot *s, size_t k, size_t *count)
{
    return kept_or_compute(s, KEPT_SUSPECTS, k, sizeof(rs_suspect), count, compute_suspects);
}

rs_idx *rs_suspect_unexplained(rs_snapshot *s, size_t k, size_t *count)
{
    return kept_or_compute(s, KEPT_UNEXPLAINED, k, sizeof(rs_idx), count, compute_unexplained);
}

rs_idx *rs_suspect_strings(rs_snapshot *s, size_t k, size_t *count)
{
    return kept_or_compute(s, KEPT_STRINGS, k, sizeof(rs_idx), count, compute_strings);
}

/* Counts and sizes alone: the retained column walks the whole dominator
 * tree (11 ms of 14 at a million objects), which the summary, showing
 * counts and sizes, does not need. */
rs_census_row *rs_suspect_census_counts(rs_snapshot *s, size_t *count)
{
    node_tally *t = tally_of(s);
    if (t == NULL)
        return NULL;
    *count = t->census_count;
    return copy_items(t->census, t->census_count, sizeof *t->census);
}

rs_census_row *rs_suspect_census(rs_snapshot *s, size_t *count)
{
    size_t typed;
    rs_type_retained *retained = rs_suspect_types(s, &typed);
    rs_census_row *rows = retained ? rs_suspect_census_counts(s, count) : NULL;
    uint32_t *row_of = rows ? rs_malloc((s->type_count ? s->type_count : 1) * sizeof *row_of) : NULL;
    if (row_of == NULL) {
        if (rows != NULL)
            PyErr_NoMemory();
        rs_free(retained);
        rs_free(rows);
        return NULL;
    }
    /* The retained column as census.c fills it: rs_retained_by_type()'s. */
    for (uint32_t t = 0; t < s->type_count; t++)
        row_of[t] = UINT32_MAX;
    for (size_t i = 0; i < *count; i++)
        row_of[rows[i].type_id] = (uint32_t)i;
    for (size_t i = 0; i < typed; i++)
        if (row_of[retained[i].type_id] != UINT32_MAX)
            rows[row_of[retained[i].type_id]].retained = retained[i].retained;
    rs_free(row_of);
    rs_free(retained);
    return rows;
}

rs_type_retained *rs_suspect_types(rs_snapshot *s, size_t *count)
{
    struct rs_suspect_cache *c = cache_of(s);
    if (c == NULL)
        return NULL;
    if (c->by_type == NULL) {
        /* The census's counts and sizes, for the types with data. */
        node_tally *t = tally_of(s);
        rs_type_retained *rows = t ? rs_calloc(s->type_count ? s->type_count : 1, sizeof *rows) : NULL;
        if (rows == NULL) {
            if (t != NULL)
                PyErr_NoMemory();
            return NULL;
        }
        for (size_t i = 0; i < t->census_count; i++) {
            uint32_t type = t->census[i].type_id;
            if (t->data_type[type])
                rows[type] = (rs_type_retained){.count = t->census[i].count, .size = t->census[i].size};
        }
        if ((c->by_type = rs_retained_by_type(s, rows, &c->by_type_count)) == NULL)
            return NULL;
    }
    *count = c->by_type_count;
    return copy_items(c->by_type, c->by_type_count, sizeof *c->by_type);
}

/* s's node tally with its garbage classified; NULL with an exception. */
static node_tally *garbage_tally_of(rs_snapshot *s)
{
    node_tally *t = tally_of(s);
    return t == NULL || (!t->garbage_done && tally_garbage(s, t) < 0) ? NULL : t;
}

rs_garbage_entry *rs_suspect_garbage(rs_snapshot *s, size_t *count)
{
    node_tally *t = garbage_tally_of(s);
    if (t == NULL)
        return NULL;
    *count = t->garbage_count;
    return copy_items(t->garbage_entries, t->garbage_count, sizeof *t->garbage_entries);
}

int rs_suspect_garbage_totals(rs_snapshot *s, rs_garbage_totals *out)
{
    node_tally *t = garbage_tally_of(s);
    if (t == NULL)
        return -1;
    *out = t->garbage;
    return 0;
}

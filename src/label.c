/*
 * Edge labels, computed lazily, one pass over a holder for all the edges
 * asked about (never a rescan per edge).  tp_traverse only says
 * which objects a referrer holds, not under what name, so for a referrer we
 * enumerate what we know of its layout (dict items, list indexes, instance
 * attributes, function fields, frame locals, C members...) in the order its
 * tp_traverse visits them, and take the candidate whose pointer is the
 * edge's target; the n-th edge to the same target takes the n-th such
 * candidate.  What no enumerator explains is "<referent k>": never a wrong
 * name, at worst a vague one.  Labels may run Python (repr of dict keys,
 * bounded by repr.c), so they are never computed during the walk.  The
 * labels of the last node asked about are kept per direction, so asking
 * row by row costs one pass.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>
#include <structmember.h>

#include "node.h"
#include "pyinternal.h"
#include "snapshot.h"

#define KEY_REPR_MAX 40

/* One pass over a holder (src) that labels some of its edges, its "slots".
 * Each enumerator offers every candidate of the holder in tp_traverse visit
 * order; a candidate whose pointer is the target of a slot still unlabelled
 * takes the first such slot (so the n-th edge to an object gets the n-th
 * candidate with that pointer).  The pass stops once every slot has its
 * label: a holder is walked once for all of its edges, never once per edge. */
typedef struct matcher {
    rs_snapshot *snap;
    rs_idx src;
    /* One slot (a single edge): its target, matching candidates to pass over. */
    PyObject *target;
    Py_ssize_t skip;
    /* Several slots: open-addressing table target -> first unlabelled slot,
     * next[] chaining later slots with the same target (NO_SLOT ends). */
    PyObject **keys;
    uint32_t *head;
    uint32_t *next;
    size_t mask;
    PyObject **labels; /* the result per slot (new references) */
    size_t remaining;  /* slots still without a label */
    int error;         /* MemoryError while building a label */
} matcher;

#define NO_SLOT UINT32_MAX

static size_t label_items_scanned;

size_t rs_label_work(void)
{
    return label_items_scanned;
}

static size_t pointer_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot that candidate ptr labels, or -1 when none. */
static long want(matcher *m, PyObject *ptr)
{
    label_items_scanned++;
    if (ptr == NULL || m->remaining == 0)
        return -1;
    if (m->keys == NULL) {
        if (ptr != m->target)
            return -1;
        if (m->skip > 0) {
            m->skip--;
            return -1;
        }
        return 0;
    }
    for (size_t h = pointer_hash(ptr) & m->mask; m->keys[h] != NULL; h = (h + 1) & m->mask) {
        if (m->keys[h] != ptr)
            continue;
        uint32_t slot = m->head[h];
        if (slot == NO_SLOT)
            return -1;
        m->head[h] = m->next[slot];
        return (long)slot;
    }
    return -1;
}

/* Stores the label of a slot; 1 when the pass is over (all labelled, or
 * MemoryError), 0 to go on. */
static int found(matcher *m, long slot, PyObject *label)
{
    m->labels[slot] = label;
    if (label == NULL)
        m->error = 1;
    m->remaining--;
    return m->error || m->remaining == 0;
}

static int field(matcher *m, PyObject *ptr, const char *label)
{
    long slot = want(m, ptr);
    return slot >= 0 && found(m, slot, PyUnicode_FromString(label));
}

/* --- enumerators, one per layout, in tp_traverse visit order -------------- */

/* What each_member() and each_c_member() give each object member: its
 * value and name; nonzero stops the walk with that result. */
typedef int (*member_visit)(void *ctx, PyObject *value, const char *name);

/* The object members (T_OBJECT, T_OBJECT_EX) of obj among members (count
 * of them, or up to the one without a name when count < 0), to visit. */
static int each_member(PyObject *obj, PyMemberDef *members, Py_ssize_t count, member_visit visit, void *ctx)
{
    for (Py_ssize_t i = 0; members != NULL && (count < 0 ? members[i].name != NULL : i < count); i++) {
        PyMemberDef *md = &members[i];
        if (md->type != T_OBJECT && md->type != T_OBJECT_EX)
            continue;
        int r = visit(ctx, *(PyObject **)((char *)obj + md->offset), md->name);
        if (r != 0)
            return r;
    }
    return 0;
}

/* The C members declared by obj's type and its bases (tp_members, along
 * the MRO), to visit; classes defined in Python are passed over: their
 * __slots__ are an instance's (label_python_instance()). */
static int each_c_member(PyObject *obj, member_visit visit, void *ctx)
{
    PyObject *mro = Py_TYPE(obj)->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro))
        return each_member(obj, Py_TYPE(obj)->tp_members, -1, visit, ctx);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (rs_py_uses_subtype_traverse(base))
            continue;
        int r = each_member(obj, base->tp_members, -1, visit, ctx);
        if (r != 0)
            return r;
    }
    return 0;
}

/* member_visit for a matcher: the member's edge is labelled ".name". */
static int label_member(void *ctx, PyObject *value, const char *name)
{
    matcher *m = ctx;
    long slot = want(m, value);
    return slot >= 0 && found(m, slot, PyUnicode_FromFormat(".%s", name));
}

static int label_members(matcher *m, PyObject *obj, PyMemberDef *members, Py_ssize_t count)
{
    return each_member(obj, members, count, label_member, m);
}

/* An instance of a class defined in Python, as subtype_traverse sees it:
 * __slots__ of each Python base, inline attributes, __dict__, the class. */
static int label_python_instance(matcher *m, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    for (PyTypeObject *base = tp; base != NULL && rs_py_uses_subtype_traverse(base); base = base->tp_base) {
        if (Py_SIZE(base) && label_members(m, obj, (PyMemberDef *)((char *)base + Py_TYPE(base)->tp_basicsize), Py_SIZE(base)))
            return 1;
    }
    PyObject **values;
    Py_ssize_t n = rs_py_inline_attributes(obj, &values);
    for (Py_ssize_t i = 0; i < n; i++) {
        long slot = want(m, values[i]);
        if (slot < 0)
            continue;
        PyObject *name = rs_py_inline_attribute_name(tp, i);
        if (found(m, slot, name ? PyUnicode_FromFormat(".%U", name) : PyUnicode_FromFormat("<attribute %zd>", i)))
            return 1;
    }
    if (field(m, rs_py_instance_dict(obj), ".__dict__"))
        return 1;
    return field(m, (PyObject *)tp, ".__class__");
}

/* "[<repr of key>]" (value) or "<key <repr>>" (key), the repr cut short. */
static int found_key(matcher *m, long slot, PyObject *key, const char *format)
{
    Py_INCREF(key); /* a __repr__ may drop the dict's reference */
    PyObject *r = rs_safe_repr(key, KEY_REPR_MAX);
    Py_DECREF(key);
    PyObject *label = r ? PyUnicode_FromFormat(format, r) : NULL;
    Py_XDECREF(r);
    return found(m, slot, label);
}

/* A key's __repr__ may change the dict: PyDict_Next re-reads it each step
 * and a changed dict at worst leaves later edges "<referent k>". */
static int label_dict(matcher *m, PyObject *obj)
{
    int keys_visited = rs_py_dict_visits_keys(obj);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(obj, &pos, &key, &value)) {
        long slot = want(m, value);
        if (slot >= 0 && found_key(m, slot, key, "[%U]"))
            return 1;
        if (keys_visited && (slot = want(m, key)) >= 0 && found_key(m, slot, key, "<key %U>"))
            return 1;
    }
    return 0;
}

static int label_sequence(matcher *m, PyObject **items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        long slot = want(m, items[i]);
        if (slot >= 0 && found(m, slot, PyUnicode_FromFormat("[%zd]", i)))
            return 1;
    }
    return 0;
}

PyObject *rs_label_closure_owner(rs_snapshot *s, rs_idx t)
{
    PyObject *tuple = rs_snapshot_object(s, t);
    size_t count;
    const rs_idx *referrers = rs_graph_referrers(s->graph, t, &count);
    for (size_t i = 0; i < count; i++) {
        if (rs_graph_flags(s->graph, referrers[i]) & RS_NODE_INTERNAL)
            continue; /* not held by the snapshot: maybe gone */
        PyObject *r = rs_snapshot_object(s, referrers[i]);
        if (PyFunction_Check(r) && PyFunction_GET_CLOSURE(r) == tuple)
            return r;
    }
    return NULL;
}

static int label_tuple(matcher *m, PyObject *obj)
{
    PyObject *func = rs_label_closure_owner(m->snap, m->src);
    if (func == NULL)
        return label_sequence(m, &PyTuple_GET_ITEM(obj, 0), PyTuple_GET_SIZE(obj));
    PyObject *freevars = PyCode_GetFreevars((PyCodeObject *)PyFunction_GET_CODE(func));
    if (freevars == NULL) {
        PyErr_Clear();
        return label_sequence(m, &PyTuple_GET_ITEM(obj, 0), PyTuple_GET_SIZE(obj));
    }
    int r = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj) && !r; i++) {
        long slot = want(m, PyTuple_GET_ITEM(obj, i));
        if (slot < 0)
            continue;
        if (i < PyTuple_GET_SIZE(freevars))
            r = found(m, slot, PyUnicode_FromFormat("<closure var '%U'>", PyTuple_GET_ITEM(freevars, i)));
        else
            r = found(m, slot, PyUnicode_FromFormat("[%zd]", i));
    }
    Py_DECREF(freevars);
    return r;
}

static int label_set(matcher *m, PyObject *obj)
{
    Py_ssize_t pos = 0;
    PyObject *key;
    while (rs_py_set_next(obj, &pos, &key)) {
        long slot = want(m, key);
        if (slot >= 0 && found(m, slot, PyUnicode_FromString("<item>")))
            return 1;
    }
    return 0;
}

/* Whether find_label() gives obj's edges only the fields below (functions,
 * cells, methods and every kind it has no enumerator of its own for). */
static bool has_only_fields(PyObject *obj)
{
    return !rs_py_uses_subtype_traverse(Py_TYPE(obj)) && !PyDict_Check(obj) && !PyList_Check(obj) &&
           !PyTuple_Check(obj) && !PyAnySet_Check(obj) && !PyModule_Check(obj) && !PyType_Check(obj) &&
           !PyFrame_Check(obj) && !PyGen_Check(obj) && !PyCoro_CheckExact(obj) && !PyAsyncGen_CheckExact(obj) &&
           !PyExceptionInstance_Check(obj);
}

/* Where member_fields() puts the members. */
typedef struct field_list {
    rs_label_field *out;
    int n, max;
} field_list;

static int add_field(void *ctx, PyObject *value, const char *name)
{
    field_list *l = ctx;
    if (l->n == l->max)
        return -1;
    l->out[l->n++] = (rs_label_field){value, name};
    return 0;
}

/* C members declared by the type and its bases (tp_members) into out,
 * as far as max; their count, or -1 when more. */
static int member_fields(PyObject *obj, rs_label_field *out, int max)
{
    field_list l = {out, 0, max};
    return each_c_member(obj, add_field, &l) < 0 ? -1 : l.n;
}

int rs_label_fields(PyObject *obj, rs_label_field *out)
{
    if (!has_only_fields(obj))
        return -1;
    if (PyFunction_Check(obj)) {
        PyFunctionObject *f = (PyFunctionObject *)obj;
        const rs_label_field fields[] = {
            {f->func_code, "__code__"},        {f->func_globals, "__globals__"},
            {f->func_builtins, "__builtins__"}, {f->func_module, "__module__"},
            {f->func_defaults, "__defaults__"}, {f->func_kwdefaults, "__kwdefaults__"},
            {f->func_doc, "__doc__"},          {f->func_name, "__name__"},
            {f->func_dict, "__dict__"},        {f->func_closure, "__closure__"},
            {f->func_annotations, "__annotations__"}, {f->func_qualname, "__qualname__"}};
        memcpy(out, fields, sizeof fields);
        return (int)(sizeof fields / sizeof fields[0]);
    }
    if (PyCell_Check(obj)) {
        out[0] = (rs_label_field){PyCell_GET(obj), "cell_contents"};
        return 1;
    }
    if (PyMethod_Check(obj)) {
        out[0] = (rs_label_field){PyMethod_GET_FUNCTION(obj), "__func__"};
        out[1] = (rs_label_field){PyMethod_GET_SELF(obj), "__self__"};
        return 2;
    }
    if (PyCFunction_Check(obj)) {
        out[0] = (rs_label_field){((PyCFunctionObject *)obj)->m_self, "__self__"};
        out[1] = (rs_label_field){((PyCFunctionObject *)obj)->m_module, "__module__"};
        return 2;
    }
    return member_fields(obj, out, RS_LABEL_FIELDS_MAX);
}

static int label_fields(matcher *m, const rs_label_field *fields, int n)
{
    for (int i = 0; i < n; i++)
        if (label_member(m, fields[i].ptr, fields[i].name))
            return 1;
    return 0;
}

static PyObject *code_name(PyObject *code)
{
    return code && PyCode_Check(code) ? ((PyCodeObject *)code)->co_qualname : NULL;
}

/* Locals and value stack of an interpreter frame, as CPython's frame
 * traversal visits them. */
static int label_frame_data(matcher *m, rs_iframe *f)
{
    PyObject *code = (PyObject *)rs_iframe_code(f);
    if (field(m, rs_iframe_frame_object(f), "<frame object>") || field(m, rs_iframe_locals_dict(f), ".f_locals") ||
        field(m, rs_iframe_function(f), "<function>") || field(m, code, ".f_code"))
        return 1;
    int count, nlocals;
    PyObject **slots = rs_iframe_slots(f, &count, &nlocals);
    PyObject *names = code != NULL ? ((PyCodeObject *)code)->co_localsplusnames : NULL;
    for (int i = 0; i < count; i++) {
        long slot = want(m, slots[i]);
        if (slot < 0)
            continue;
        PyObject *label =
            i < nlocals && names && i < PyTuple_GET_SIZE(names)
                ? PyUnicode_FromFormat("<local '%U' in %U()>", PyTuple_GET_ITEM(names, i), code_name(code))
                : PyUnicode_FromFormat("<stack %d in %U()>", i - nlocals, code_name(code));
        if (found(m, slot, label))
            return 1;
    }
    return 0;
}

static int label_frame_object(matcher *m, PyObject *obj)
{
    PyFrameObject *fo = (PyFrameObject *)obj;
    PyObject *back = (PyObject *)PyFrame_GetBack(fo);
    int r = field(m, back, ".f_back");
    Py_XDECREF(back);
    if (r)
        return 1;
    rs_iframe *f = rs_py_frameobject_frame(obj);
    return f != NULL && label_frame_data(m, f);
}

static int label_generator(matcher *m, PyObject *obj)
{
    rs_generator_fields g;
    rs_py_generator_fields(obj, &g);
    const char *prefix = PyCoro_CheckExact(obj) ? "cr" : PyAsyncGen_CheckExact(obj) ? "ag" : "gi";
    char code_label[16];
    snprintf(code_label, sizeof code_label, ".%s_code", prefix);
    if (field(m, g.code, code_label) || field(m, g.name, ".__name__") || field(m, g.qualname, ".__qualname__"))
        return 1;
    rs_iframe *f = rs_py_generator_frame(obj);
    if (f != NULL && label_frame_data(m, f))
        return 1;
    return field(m, g.exc_value, "<handled exception>");
}

static int label_type(matcher *m, PyObject *obj)
{
    PyTypeObject *tp = (PyTypeObject *)obj;
    if (field(m, tp->tp_dict, ".__dict__") || field(m, tp->tp_cache, "<type cache>") ||
        field(m, tp->tp_mro, ".__mro__") || field(m, tp->tp_bases, ".__bases__") ||
        field(m, (PyObject *)tp->tp_base, ".__base__") || field(m, (PyObject *)Py_TYPE(obj), ".__class__"))
        return 1;
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
        return field(m, ht->ht_module, "<defining module>") || field(m, ht->ht_name, ".__name__") ||
               field(m, ht->ht_qualname, ".__qualname__") || field(m, ht->ht_slots, ".__slots__");
    }
    return 0;
}

static int label_exception(matcher *m, PyObject *obj)
{
    PyBaseExceptionObject *e = (PyBaseExceptionObject *)obj;
    return field(m, e->dict, ".__dict__") || field(m, e->args, ".args") || field(m, e->notes, ".__notes__") ||
           field(m, e->traceback, ".__traceback__") || field(m, e->context, ".__context__") ||
           field(m, e->cause, ".__cause__");
}

/* C members declared by the type and its bases (tp_members). */
static int label_c_members(matcher *m, PyObject *obj)
{
    return each_c_member(obj, label_member, m);
}

static int find_label(matcher *m, PyObject *obj)
{
    if (rs_py_uses_subtype_traverse(Py_TYPE(obj)) && label_python_instance(m, obj))
        return 1;
    if (PyDict_Check(obj))
        return label_dict(m, obj) || label_c_members(m, obj);
    if (PyList_Check(obj))
        return label_sequence(m, ((PyListObject *)obj)->ob_item, PyList_GET_SIZE(obj));
    if (PyTuple_Check(obj))
        return label_tuple(m, obj) || label_c_members(m, obj);
    if (PyAnySet_Check(obj))
        return label_set(m, obj);
    if (PyModule_Check(obj))
        return field(m, PyModule_GetDict(obj), ".__dict__") || label_c_members(m, obj);
    if (PyType_Check(obj))
        return label_type(m, obj);
    if (PyFrame_Check(obj))
        return label_frame_object(m, obj);
    if (PyGen_Check(obj) || PyCoro_CheckExact(obj) || PyAsyncGen_CheckExact(obj))
        return label_generator(m, obj);
    if (PyExceptionInstance_Check(obj))
        return label_exception(m, obj) || label_c_members(m, obj);
    rs_label_field fields[RS_LABEL_FIELDS_MAX];
    int nfields = rs_label_fields(obj, fields);
    return nfields >= 0 ? label_fields(m, fields, nfields) : label_c_members(m, obj);
}

/* Runs one pass of m over src, keeping the caller's exception state; the
 * labels are in m->labels (NULL where nothing matched).  -1 on MemoryError
 * (set, and the labels built so far left for the caller to release). */
static int run_pass(matcher *m)
{
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
    find_label(m, rs_snapshot_object(m->snap, m->src));
    if (m->error) {
        Py_XDECREF(saved_type);
        Py_XDECREF(saved_value);
        Py_XDECREF(saved_tb);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return -1;
    }
    PyErr_Restore(saved_type, saved_value, saved_tb);
    return 0;
}

/* The label of src's referent k, read straight from the dict's entry when
 * src is a dict whose layout maps visit k to an entry (pyinternal) and
 * that entry still holds target: a big dict's edge labelled in constant
 * time instead of a scan up to the entry.  1 with a new str in *label;
 * 0 when a pass is needed; -1 with MemoryError set. */
static int dict_entry_label(rs_snapshot *s, rs_idx src, size_t k, PyObject *target, PyObject **label)
{
    if (rs_snapshot_node_type(s, src) != &PyDict_Type)
        return 0;
    PyObject *key, *visited;
    int is_key;
    if (!rs_py_dict_visit_at(rs_snapshot_object(s, src), k, &key, &visited, &is_key) || visited != target)
        return 0;
    label_items_scanned++;
    Py_INCREF(key); /* a __repr__ may drop the dict's reference */
    PyObject *r = rs_safe_repr(key, KEY_REPR_MAX);
    Py_DECREF(key);
    *label = r ? PyUnicode_FromFormat(is_key ? "<key %U>" : "[%U]", r) : NULL;
    Py_XDECREF(r);
    return *label != NULL ? 1 : -1;
}

/* Labels the (occurrence)-th edge from src to dst; k is its referent index. */
static PyObject *label_edge(rs_snapshot *s, rs_idx src, rs_idx dst, Py_ssize_t occurrence, size_t k)
{
    PyObject *label = NULL;
    int direct = dict_entry_label(s, src, k, rs_snapshot_object(s, dst), &label);
    if (direct != 0)
        return label;
    matcher m = {.snap = s, .src = src, .target = rs_snapshot_object(s, dst), .skip = occurrence,
                 .labels = &label, .remaining = 1};
    if (run_pass(&m) < 0) {
        Py_XDECREF(label);
        return NULL;
    }
    return label ? label : PyUnicode_FromFormat("<referent %zu>", k);
}

/* Labels the edges src -> targets[i] for i < count in one pass over src;
 * fallback[i] names what no candidate explains ("<referent k>").  An
 * rs_malloc'ed array of count new references, or NULL with an exception. */
static PyObject **label_edges(rs_snapshot *s, rs_idx src, const rs_idx *targets, const size_t *fallback, size_t count)
{
    size_t size = 8;
    while (size < 2 * count)
        size *= 2;
    matcher m = {.snap = s, .src = src, .mask = size - 1, .remaining = count};
    m.keys = rs_calloc(size, sizeof *m.keys);
    m.head = rs_malloc(size * sizeof *m.head);
    m.next = rs_malloc((count ? count : 1) * sizeof *m.next);
    m.labels = rs_calloc(count ? count : 1, sizeof *m.labels);
    uint32_t *tail = rs_malloc(size * sizeof *tail);
    if (m.keys == NULL || m.head == NULL || m.next == NULL || m.labels == NULL || tail == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (size_t i = 0; i < count; i++) {
        PyObject *ptr = rs_snapshot_object(s, targets[i]);
        size_t h = pointer_hash(ptr) & m.mask;
        while (m.keys[h] != NULL && m.keys[h] != ptr)
            h = (h + 1) & m.mask;
        m.next[i] = NO_SLOT;
        if (m.keys[h] == NULL) {
            m.keys[h] = ptr;
            m.head[h] = (uint32_t)i;
        } else {
            m.next[tail[h]] = (uint32_t)i;
        }
        tail[h] = (uint32_t)i;
    }
    if (run_pass(&m) < 0)
        goto error;
    for (size_t i = 0; i < count; i++)
        if (m.labels[i] == NULL && (m.labels[i] = PyUnicode_FromFormat("<referent %zu>", fallback[i])) == NULL)
            goto error;
    rs_free(m.keys);
    rs_free(m.head);
    rs_free(m.next);
    rs_free(tail);
    return m.labels;
error:
    for (size_t i = 0; m.labels != NULL && i < count; i++)
        Py_XDECREF(m.labels[i]);
    rs_free(m.labels);
    rs_free(m.keys);
    rs_free(m.head);
    rs_free(m.next);
    rs_free(tail);
    return NULL;
}

/* Every referent label of src, in referent order (one pass). */
static PyObject **referent_labels(rs_snapshot *s, rs_idx src, size_t *count)
{
    const rs_idx *targets = rs_graph_referents(s->graph, src, count);
    size_t *fallback = rs_malloc((*count ? *count : 1) * sizeof *fallback);
    if (fallback == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t k = 0; k < *count; k++)
        fallback[k] = k;
    PyObject **labels = label_edges(s, src, targets, fallback, *count);
    rs_free(fallback);
    return labels;
}

/* Where dst sits in a holder's referents found by binary search, which is
 * exact when they are in node order (a container filled in creation order
 * mostly is) and the holder has one edge to dst; count when the search
 * misses (then the caller scans). */
static size_t sorted_position(const rs_idx *targets, size_t count, rs_idx dst)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (targets[mid] < dst)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && targets[lo] == dst ? lo : count;
}

/* Every referrer label of dst, in referrer order: one pass over each
 * distinct referrer (its edges to dst are adjacent in the list). */
static PyObject **referrer_labels(rs_snapshot *s, rs_idx dst, size_t *count)
{
    const rs_idx *sources = rs_graph_referrers(s->graph, dst, count);
    PyObject **labels = rs_calloc(*count ? *count : 1, sizeof *labels);
    rs_idx *targets = rs_malloc((*count ? *count : 1) * sizeof *targets);
    size_t *fallback = rs_malloc((*count ? *count : 1) * sizeof *fallback);
    if (labels == NULL || targets == NULL || fallback == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (size_t j = 0; j < *count;) {
        rs_idx src = sources[j];
        size_t group = 1;
        while (j + group < *count && sources[j + group] == src)
            group++;
        size_t fcount, o = 0;
        const rs_idx *out = rs_graph_referents(s->graph, src, &fcount);
        if (group == 1 && (fallback[0] = sorted_position(out, fcount, dst)) < fcount)
            o = 1;
        for (size_t k = 0; k < fcount && o < group; k++)
            if (out[k] == dst)
                fallback[o++] = k;
        for (size_t i = 0; i < group; i++) {
            targets[i] = dst;
            if (i >= o)
                fallback[i] = fcount;
        }
        /* A dict's edges come from their entries when its layout allows:
         * no pass over the dict. */
        size_t direct = 0;
        int r = 1;
        while (direct < o && direct < group &&
               (r = dict_entry_label(s, src, fallback[direct], rs_snapshot_object(s, dst), &labels[j + direct])) == 1)
            direct++;
        if (r < 0)
            goto error;
        if (direct == group) {
            j += group;
            continue;
        }
        for (size_t i = 0; i < direct; i++)
            Py_CLEAR(labels[j + i]);
        PyObject **part = label_edges(s, src, targets, fallback, group);
        if (part == NULL)
            goto error;
        memcpy(labels + j, part, group * sizeof *part);
        rs_free(part);
        j += group;
    }
    rs_free(targets);
    rs_free(fallback);
    return labels;
error:
    for (size_t i = 0; labels != NULL && i < *count; i++)
        Py_XDECREF(labels[i]);
    rs_free(labels);
    rs_free(targets);
    rs_free(fallback);
    return NULL;
}

static void cache_clear(rs_label_cache *c)
{
    for (size_t i = 0; c->labels != NULL && i < c->count; i++)
        Py_DECREF(c->labels[i]);
    rs_free(c->labels);
    c->labels = NULL;
    c->count = 0;
}

void rs_label_cache_free(rs_snapshot *s)
{
    for (int d = 0; d < 2; d++)
        cache_clear(&s->label_cache[d]);
}

size_t rs_label_cache_bytes(const rs_snapshot *s)
{
    size_t bytes = 0;
    for (int d = 0; d < 2; d++) {
        const rs_label_cache *c = &s->label_cache[d];
        bytes += c->count * sizeof *c->labels;
        for (size_t i = 0; c->labels != NULL && i < c->count; i++)
            bytes += (size_t)PyUnicode_GET_LENGTH(c->labels[i]) * 4 + sizeof(PyUnicodeObject);
    }
    return bytes;
}

int rs_label_prepare(rs_snapshot *s, rs_idx node, int forward)
{
    rs_label_cache *c = &s->label_cache[forward ? 0 : 1];
    if (s->stored != NULL || (c->labels != NULL && c->node == node))
        return 0; /* a dump's labels are stored: nothing to prepare */
    size_t count;
    PyObject **labels = forward ? referent_labels(s, node, &count) : referrer_labels(s, node, &count);
    if (labels == NULL)
        return -1;
    /* Installed after the pass: a __repr__ during it may have asked too. */
    cache_clear(c);
    c->labels = labels;
    c->count = count;
    c->node = node;
    return 0;
}

/* The kept label i of node's edges (direction 0: referents, 1: referrers).
 * A first question about a node is answered by a pass that stops at that
 * edge (*cached = 0: the caller does it); the second labels all of the
 * node's edges in one pass and keeps them, so asking row after row (the
 * browser's rows) is linear in the node's edges.  New reference, or NULL
 * with an exception. */
static PyObject *cached_label(rs_snapshot *s, int direction, rs_idx node, size_t i, int *cached)
{
    rs_label_cache *c = &s->label_cache[direction];
    *cached = 1;
    if (c->labels == NULL || c->node != node) {
        if (c->asked != node + 1) {
            c->asked = node + 1;
            *cached = 0;
            return NULL;
        }
        if (rs_label_prepare(s, node, direction == 0) < 0)
            return NULL;
    }
    return i < c->count ? Py_NewRef(c->labels[i]) : NULL;
}

PyObject *rs_label_referent(rs_snapshot *s, rs_idx src, size_t k)
{
    size_t count;
    const rs_idx *targets = rs_graph_referents(s->graph, src, &count);
    if (k >= count)
        return PyUnicode_FromFormat("<referent %zu>", k);
    if (s->stored != NULL)
        return rs_node_stored_referent_label(s, src, k);
    int cached;
    PyObject *label = cached_label(s, 0, src, k, &cached);
    if (cached)
        return label;
    Py_ssize_t occurrence = 0;
    for (size_t i = 0; i < k; i++)
        occurrence += targets[i] == targets[k];
    return label_edge(s, src, targets[k], occurrence, k);
}

PyObject *rs_label_referrer(rs_snapshot *s, rs_idx dst, size_t j)
{
    size_t count;
    const rs_idx *sources = rs_graph_referrers(s->graph, dst, &count);
    if (j >= count)
        return PyUnicode_FromString("<referrer>");
    if (s->stored != NULL)
        return rs_node_stored_referrer_label(s, dst, j);
    int cached;
    PyObject *label = cached_label(s, 1, dst, j, &cached);
    if (cached)
        return label;
    rs_idx src = sources[j];
    Py_ssize_t occurrence = 0;
    for (size_t i = j; i > 0 && sources[i - 1] == src; i--)
        occurrence++;
    /* The referent index of that edge, for the "<referent k>" fallback. */
    size_t fcount;
    const rs_idx *targets = rs_graph_referents(s->graph, src, &fcount);
    bool single = (j == 0 || sources[j - 1] != src) && (j + 1 == count || sources[j + 1] != src);
    size_t k = single ? sorted_position(targets, fcount, dst) : fcount;
    if (k == fcount) {
        k = 0;
        for (Py_ssize_t seen = -1; k < fcount; k++)
            if (targets[k] == dst && ++seen == occurrence)
                break;
    }
    return label_edge(s, src, dst, occurrence, k);
}

/* "thread 'MainThread' frame worker() app.py:12" */
PyObject *rs_label_frame(rs_snapshot *s, uint32_t frame)
{
    PyObject *where = rs_node_frame_text(s, frame);
    PyObject *label = where ? PyUnicode_FromFormat("thread '%s' frame %U", s->threads[s->frames[frame].thread].name,
                                                   where)
                            : NULL;
    Py_XDECREF(where);
    return label;
}

PyObject *rs_label_root(rs_snapshot *s, const rs_root *root)
{
    if (s->stored != NULL)
        return rs_node_stored_root_label(s, root);
    if (root->kind == RS_ROOT_MODULE) {
        PyObject *name = PyUnicode_FromString(s->root_info[root->info].module);
        PyObject *label = name ? PyUnicode_FromFormat("sys.modules[%R]", name) : NULL;
        Py_XDECREF(name);
        return label;
    }
    if (root->kind != RS_ROOT_FRAME)
        return PyUnicode_FromString("<held by C/interpreter>");
    const rs_root_info *info = &s->root_info[root->info];
    PyObject *frame = rs_label_frame(s, info->frame);
    if (frame == NULL)
        return NULL;
    PyCodeObject *code = (PyCodeObject *)s->frames[info->frame].code;
    PyObject *label;
    switch (info->slot) {
    case RS_SLOT_FUNCTION:
        label = PyUnicode_FromFormat("%U <function>", frame);
        break;
    case RS_SLOT_CODE:
        label = PyUnicode_FromFormat("%U <code>", frame);
        break;
    case RS_SLOT_LOCALS:
        label = PyUnicode_FromFormat("%U <f_locals>", frame);
        break;
    case RS_SLOT_FRAME:
        label = PyUnicode_FromFormat("%U <frame object>", frame);
        break;
    default:
        if (info->slot < code->co_nlocalsplus)
            label = PyUnicode_FromFormat("%U <local '%U'>", frame,
                                         PyTuple_GET_ITEM(code->co_localsplusnames, info->slot));
        else
            label = PyUnicode_FromFormat("%U <stack %d>", frame, info->slot - code->co_nlocalsplus);
    }
    Py_DECREF(frame);
    return label;
}

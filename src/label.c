/*
 * Edge labels, computed lazily, one edge at a time.  tp_traverse only says
 * which objects a referrer holds, not under what name, so for a referrer we
 * enumerate what we know of its layout (dict items, list indexes, instance
 * attributes, function fields, frame locals, C members...) in the order its
 * tp_traverse visits them, and take the candidate whose pointer is the
 * edge's target; the n-th edge to the same target takes the n-th such
 * candidate.  What no enumerator explains is "<referent k>": never a wrong
 * name, at worst a vague one.  Labels may run Python (repr of dict keys),
 * so they are never computed during the walk.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>
#include <structmember.h>

#include "pyinternal.h"
#include "snapshot.h"

#define KEY_REPR_MAX 40

typedef struct matcher {
    rs_snapshot *snap;
    rs_idx src;
    PyObject *target;
    Py_ssize_t skip;  /* matching candidates still to pass over */
    PyObject *label;  /* the result, once found */
    int error;        /* MemoryError while building the label */
} matcher;

/* 1 when ptr is the wanted edge (and the label is to be built). */
static int want(matcher *m, PyObject *ptr)
{
    if (ptr == NULL || ptr != m->target)
        return 0;
    if (m->skip > 0) {
        m->skip--;
        return 0;
    }
    return 1;
}

static int found(matcher *m, PyObject *label)
{
    m->label = label;
    if (label == NULL)
        m->error = 1;
    return 1;
}

static int field(matcher *m, PyObject *ptr, const char *label)
{
    return want(m, ptr) ? found(m, PyUnicode_FromString(label)) : 0;
}

/* --- safe text ------------------------------------------------------------ */

/* text with control characters escaped (a repr must never move the cursor
 * or change colours) and cut to max_len characters, "..." marking a cut. */
static PyObject *escape_text(PyObject *text, Py_ssize_t max_len)
{
    if (max_len < 4)
        max_len = 4;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_UCS4 *out = PyMem_Malloc((size_t)(max_len + 8) * sizeof(Py_UCS4));
    if (out == NULL)
        return PyErr_NoMemory();
    Py_ssize_t o = 0;
    int cut = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        char esc[8];
        int elen = 0;
        if (ch == '\n' || ch == '\r' || ch == '\t')
            elen = snprintf(esc, sizeof esc, "\\%c", ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't');
        else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && ch < 0xa0))
            elen = snprintf(esc, sizeof esc, "\\x%02x", (unsigned)ch);
        else if (ch == 0x2028 || ch == 0x2029 || (ch >= 0x202a && ch <= 0x202e) ||
                 (ch >= 0x2066 && ch <= 0x2069))
            elen = snprintf(esc, sizeof esc, "\\u%04x", (unsigned)ch);
        Py_ssize_t need = elen ? elen : 1;
        if (o + need > max_len - (i + 1 < len ? 3 : 0)) {
            cut = 1;
            break;
        }
        if (elen)
            for (int e = 0; e < elen; e++)
                out[o++] = (Py_UCS4)esc[e];
        else
            out[o++] = ch;
    }
    if (cut)
        for (int e = 0; e < 3; e++)
            out[o++] = '.';
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, o);
    PyMem_Free(out);
    return result;
}

PyObject *rs_escape_text(PyObject *text, Py_ssize_t max_len)
{
    return escape_text(text, max_len);
}

PyObject *rs_safe_repr(PyObject *obj, Py_ssize_t max_len)
{
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
    PyObject *repr = NULL;
    if (Py_EnterRecursiveCall(" in refscope's safe repr") == 0) {
        repr = PyObject_Repr(obj);
        Py_LeaveRecursiveCall();
    }
    PyObject *result;
    if (repr != NULL) {
        result = escape_text(repr, max_len);
        Py_DECREF(repr);
    } else {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        const char *name = type ? ((PyTypeObject *)type)->tp_name : "unknown error";
        const char *dot = strrchr(name, '.');
        result = PyUnicode_FromFormat("<repr failed: %s>", dot ? dot + 1 : name);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    if (result == NULL) {
        Py_XDECREF(saved_type);
        Py_XDECREF(saved_value);
        Py_XDECREF(saved_tb);
        return NULL;
    }
    PyErr_Restore(saved_type, saved_value, saved_tb);
    return result;
}

/* --- enumerators, one per layout, in tp_traverse visit order -------------- */

static int label_members(matcher *m, PyObject *obj, PyMemberDef *members, Py_ssize_t count)
{
    for (Py_ssize_t i = 0; members != NULL && (count < 0 ? members[i].name != NULL : i < count); i++) {
        PyMemberDef *md = &members[i];
        if (md->type != T_OBJECT && md->type != T_OBJECT_EX)
            continue;
        PyObject *value = *(PyObject **)((char *)obj + md->offset);
        if (want(m, value))
            return found(m, PyUnicode_FromFormat(".%s", md->name));
    }
    return 0;
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
        if (want(m, values[i])) {
            PyObject *name = rs_py_inline_attribute_name(tp, i);
            return found(m, name ? PyUnicode_FromFormat(".%U", name) : PyUnicode_FromFormat("<attribute %zd>", i));
        }
    }
    if (field(m, rs_py_instance_dict(obj), ".__dict__"))
        return 1;
    return field(m, (PyObject *)tp, ".__class__");
}

/* "[<repr of key>]" (value) or "<key <repr>>" (key), the repr cut short. */
static int found_key(matcher *m, PyObject *key, const char *format)
{
    Py_INCREF(key); /* a __repr__ may drop the dict's reference */
    PyObject *r = rs_safe_repr(key, KEY_REPR_MAX);
    Py_DECREF(key);
    PyObject *label = r ? PyUnicode_FromFormat(format, r) : NULL;
    Py_XDECREF(r);
    return found(m, label);
}

static int label_dict(matcher *m, PyObject *obj)
{
    int keys_visited = rs_py_dict_visits_keys(obj);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(obj, &pos, &key, &value)) {
        if (want(m, value))
            return found_key(m, key, "[%U]");
        if (keys_visited && want(m, key))
            return found_key(m, key, "<key %U>");
    }
    return 0;
}

static int label_sequence(matcher *m, PyObject **items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (want(m, items[i]))
            return found(m, PyUnicode_FromFormat("[%zd]", i));
    return 0;
}

/* The function whose __closure__ is tuple, found among its referrers. */
static PyObject *closure_owner(matcher *m, PyObject *tuple)
{
    rs_idx t = rs_snapshot_find(m->snap, tuple);
    if (t == RS_NONE)
        return NULL;
    size_t count;
    const rs_idx *referrers = rs_graph_referrers(m->snap->graph, t, &count);
    for (size_t i = 0; i < count; i++) {
        PyObject *r = rs_snapshot_object(m->snap, referrers[i]);
        if (PyFunction_Check(r) && PyFunction_GET_CLOSURE(r) == tuple)
            return r;
    }
    return NULL;
}

static int label_tuple(matcher *m, PyObject *obj)
{
    PyObject *func = closure_owner(m, obj);
    if (func == NULL)
        return label_sequence(m, &PyTuple_GET_ITEM(obj, 0), PyTuple_GET_SIZE(obj));
    PyObject *freevars = PyCode_GetFreevars((PyCodeObject *)PyFunction_GET_CODE(func));
    if (freevars == NULL) {
        PyErr_Clear();
        return label_sequence(m, &PyTuple_GET_ITEM(obj, 0), PyTuple_GET_SIZE(obj));
    }
    int r = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj); i++) {
        if (!want(m, PyTuple_GET_ITEM(obj, i)))
            continue;
        if (i < PyTuple_GET_SIZE(freevars))
            r = found(m, PyUnicode_FromFormat("<closure var '%U'>", PyTuple_GET_ITEM(freevars, i)));
        else
            r = found(m, PyUnicode_FromFormat("[%zd]", i));
        break;
    }
    Py_DECREF(freevars);
    return r;
}

static int label_set(matcher *m, PyObject *obj)
{
    Py_ssize_t pos = 0;
    PyObject *key;
    while (rs_py_set_next(obj, &pos, &key))
        if (want(m, key))
            return found(m, PyUnicode_FromString("<item>"));
    return 0;
}

static int label_function(matcher *m, PyObject *obj)
{
    PyFunctionObject *f = (PyFunctionObject *)obj;
    return field(m, f->func_code, ".__code__") || field(m, f->func_globals, ".__globals__") ||
           field(m, f->func_module, ".__module__") || field(m, f->func_defaults, ".__defaults__") ||
           field(m, f->func_kwdefaults, ".__kwdefaults__") || field(m, f->func_doc, ".__doc__") ||
           field(m, f->func_name, ".__name__") || field(m, f->func_dict, ".__dict__") ||
           field(m, f->func_closure, ".__closure__") || field(m, f->func_annotations, ".__annotations__") ||
           field(m, f->func_qualname, ".__qualname__") || field(m, f->func_builtins, ".__builtins__");
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
        if (!want(m, slots[i]))
            continue;
        if (i < nlocals && names && i < PyTuple_GET_SIZE(names))
            return found(m, PyUnicode_FromFormat("<local '%U' in %U()>", PyTuple_GET_ITEM(names, i), code_name(code)));
        return found(m, PyUnicode_FromFormat("<stack %d in %U()>", i - nlocals, code_name(code)));
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
    PyObject *mro = Py_TYPE(obj)->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro))
        return label_members(m, obj, Py_TYPE(obj)->tp_members, -1);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (rs_py_uses_subtype_traverse(base))
            continue; /* its __slots__ were handled as an instance's */
        if (label_members(m, obj, base->tp_members, -1))
            return 1;
    }
    return 0;
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
    if (PyFunction_Check(obj))
        return label_function(m, obj);
    if (PyCell_Check(obj))
        return field(m, PyCell_GET(obj), ".cell_contents");
    if (PyMethod_Check(obj))
        return field(m, PyMethod_GET_FUNCTION(obj), ".__func__") || field(m, PyMethod_GET_SELF(obj), ".__self__");
    if (PyCFunction_Check(obj))
        return field(m, ((PyCFunctionObject *)obj)->m_self, ".__self__") ||
               field(m, ((PyCFunctionObject *)obj)->m_module, ".__module__");
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
    return label_c_members(m, obj);
}

/* Labels the (occurrence)-th edge from src to dst; k is its referent index. */
static PyObject *label_edge(rs_snapshot *s, rs_idx src, rs_idx dst, Py_ssize_t occurrence, size_t k)
{
    matcher m = {.snap = s, .src = src, .target = rs_snapshot_object(s, dst), .skip = occurrence};
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
    find_label(&m, rs_snapshot_object(s, src));
    if (m.label == NULL && !m.error)
        m.label = PyUnicode_FromFormat("<referent %zu>", k);
    if (m.label == NULL) {
        Py_XDECREF(saved_type);
        Py_XDECREF(saved_value);
        Py_XDECREF(saved_tb);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    PyErr_Restore(saved_type, saved_value, saved_tb);
    return m.label;
}

PyObject *rs_label_referent(rs_snapshot *s, rs_idx src, size_t k)
{
    size_t count;
    const rs_idx *targets = rs_graph_referents(s->graph, src, &count);
    if (k >= count)
        return PyUnicode_FromFormat("<referent %zu>", k);
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
    rs_idx src = sources[j];
    Py_ssize_t occurrence = 0;
    for (size_t i = j; i > 0 && sources[i - 1] == src; i--)
        occurrence++;
    /* The referent index of that edge, for the "<referent k>" fallback. */
    size_t fcount;
    const rs_idx *targets = rs_graph_referents(s->graph, src, &fcount);
    size_t k = 0;
    for (Py_ssize_t seen = -1; k < fcount; k++)
        if (targets[k] == dst && ++seen == occurrence)
            break;
    return label_edge(s, src, dst, occurrence, k);
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "thread 'MainThread' frame worker() app.py:12" */
PyObject *rs_label_frame(rs_snapshot *s, uint32_t frame)
{
    const rs_frame_info *fi = &s->frames[frame];
    PyCodeObject *code = (PyCodeObject *)fi->code;
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL)
        PyErr_Clear();
    return PyUnicode_FromFormat("thread '%s' frame %U() %s:%d", s->threads[fi->thread].name, code->co_qualname,
                                file ? basename_of(file) : "?", fi->line);
}

PyObject *rs_label_root(rs_snapshot *s, const rs_root *root)
{
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

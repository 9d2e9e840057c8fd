/*
 * The node interface (node.h): each question about one object answered
 * twice, from the live object of a snapshot taken here, and from the
 * records of a heap dump (s->stored) that dump_read.c rebuilt into a
 * snapshot.  A dump holds what its writer (dump.c) stored: short reprs,
 * strings in full up to a limit, labels of every edge, roots, frames with
 * their locals by name, closure variables by name, allocation tracebacks
 * when tracemalloc traced; what it does not hold (the type objects, the
 * objects' values beyond their reprs) is answered as well as the records
 * allow, and said so in the answer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dump.h"
#include "module.h"
#include "module_analysis.h"
#include "node.h"
#include "pyinternal.h"
#include "refscope/dom.h"

/* --- kinds -------------------------------------------------------------------- */

#define KIND_EXACT 0x80u

/* The kind of a live type: exact types first, then subclasses. */
static uint8_t live_kind(PyTypeObject *tp)
{
    static const struct {
        PyTypeObject *type;
        enum rs_node_kind kind;
    } table[] = {
        {&PyDict_Type, RS_KIND_DICT},       {&PyList_Type, RS_KIND_LIST},
        {&PyTuple_Type, RS_KIND_TUPLE},     {&PySet_Type, RS_KIND_SET},
        {&PyFrozenSet_Type, RS_KIND_SET},   {&PyUnicode_Type, RS_KIND_STR},
        {&PyBytes_Type, RS_KIND_BYTES},     {&PyByteArray_Type, RS_KIND_BYTEARRAY},
        {&PyLong_Type, RS_KIND_SCALAR},     {&PyFloat_Type, RS_KIND_SCALAR},
        {&PyComplex_Type, RS_KIND_SCALAR},  {&PyCell_Type, RS_KIND_CELL},
        {&PyFunction_Type, RS_KIND_FUNCTION}, {&PyMethod_Type, RS_KIND_METHOD},
        {&PyCFunction_Type, RS_KIND_CFUNCTION}, {&PyCode_Type, RS_KIND_CODE},
    };
    if (tp == NULL)
        return RS_KIND_OTHER;
    if (tp == Py_TYPE(Py_None) || tp == &PyBool_Type || tp == Py_TYPE(Py_Ellipsis) ||
        tp == Py_TYPE(Py_NotImplemented))
        return RS_KIND_CONSTANT | KIND_EXACT;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (tp == table[i].type)
            return (uint8_t)(table[i].kind | KIND_EXACT);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (PyType_IsSubtype(tp, table[i].type))
            return (uint8_t)table[i].kind;
    return RS_KIND_OTHER;
}

/* The kind of a stored type, by the name the walk gave it (tp_name for
 * builtin types). */
static uint8_t stored_kind(const char *name)
{
    static const struct {
        const char *name;
        enum rs_node_kind kind;
    } table[] = {
        {"dict", RS_KIND_DICT},
        {"list", RS_KIND_LIST},
        {"tuple", RS_KIND_TUPLE},
        {"set", RS_KIND_SET},
        {"frozenset", RS_KIND_SET},
        {"str", RS_KIND_STR},
        {"bytes", RS_KIND_BYTES},
        {"bytearray", RS_KIND_BYTEARRAY},
        {"int", RS_KIND_SCALAR},
        {"float", RS_KIND_SCALAR},
        {"complex", RS_KIND_SCALAR},
        {"NoneType", RS_KIND_CONSTANT},
        {"bool", RS_KIND_CONSTANT},
        {"ellipsis", RS_KIND_CONSTANT},
        {"NotImplementedType", RS_KIND_CONSTANT},
        {"cell", RS_KIND_CELL},
        {"function", RS_KIND_FUNCTION},
        {"method", RS_KIND_METHOD},
        {"builtin_function_or_method", RS_KIND_CFUNCTION},
        {"code", RS_KIND_CODE},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0)
            return (uint8_t)(table[i].kind | KIND_EXACT);
    return RS_KIND_OTHER;
}

/* The kind byte of type t (the table is made on first use). */
static uint8_t type_kind_byte(rs_snapshot *s, uint32_t t)
{
    if (s->node_kinds == NULL) {
        uint8_t *kinds = rs_malloc(s->type_count ? s->type_count : 1);
        if (kinds == NULL)
            return RS_KIND_OTHER; /* asked again next time */
        for (uint32_t t = 0; t < s->type_count; t++)
            kinds[t] = s->stored ? stored_kind(s->types[t].name) : live_kind(s->types[t].type);
        s->node_kinds = kinds;
    }
    return s->node_kinds[t];
}

static uint8_t kind_byte(rs_snapshot *s, rs_idx n)
{
    return type_kind_byte(s, rs_graph_type_id(s->graph, n));
}

enum rs_node_kind rs_type_kind(rs_snapshot *s, uint32_t type_id)
{
    return (enum rs_node_kind)(type_kind_byte(s, type_id) & ~KIND_EXACT);
}

bool rs_type_kind_exact(rs_snapshot *s, uint32_t type_id)
{
    return (type_kind_byte(s, type_id) & KIND_EXACT) != 0;
}

enum rs_node_kind rs_node_kind(rs_snapshot *s, rs_idx n)
{
    return (enum rs_node_kind)(kind_byte(s, n) & ~KIND_EXACT);
}

bool rs_node_kind_exact(rs_snapshot *s, rs_idx n)
{
    return (kind_byte(s, n) & KIND_EXACT) != 0;
}

/* --- the dump's records --------------------------------------------------------- */

static const rs_dump_node *record(const rs_snapshot *s, rs_idx n)
{
    return &s->stored->nodes[n];
}

/* Edges of stored node n: [*first, *end) into TARGETS and LABELS. */
static void edge_range(const rs_dump *d, rs_idx n, uint32_t *first, uint32_t *end)
{
    *first = d->nodes[n].edge_start;
    *end = n + 1 < d->header->node_count ? d->nodes[n + 1].edge_start : (uint32_t)d->header->edge_count;
}

/* The edge number of the occurrence-th edge src -> dst (0 = the first),
 * or UINT32_MAX when there is none. */
static uint32_t stored_edge(const rs_dump *d, rs_idx src, rs_idx dst, size_t occurrence)
{
    uint32_t e, end;
    edge_range(d, src, &e, &end);
    for (; e < end; e++)
        if (d->targets[e] == dst && occurrence-- == 0)
            return e;
    return UINT32_MAX;
}

const char *rs_snapshot_origin(const rs_snapshot *s, char *buf, size_t len)
{
    if (s->stored == NULL)
        return NULL;
    const rs_dump_header *h = s->stored->header;
    char when[32] = "?";
    time_t t = (time_t)h->time;
    struct tm tm;
    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    snprintf(buf, len, "dump of PID %llu, taken %s, Python %.32s", (unsigned long long)h->pid, when,
             h->python_version);
    return buf;
}

/* --- reprs and values ----------------------------------------------------------- */

/* "<app.Node object at 0x7f...>": what a dump shows for an object whose
 * repr it did not store.  New str. */
static PyObject *stored_placeholder(rs_snapshot *s, rs_idx n)
{
    return PyUnicode_FromFormat("<%s object at %p>", rs_snapshot_type_name(s, n),
                                (void *)rs_graph_addr(s->graph, n));
}

PyObject *rs_node_repr(rs_snapshot *s, rs_idx n, Py_ssize_t max_len)
{
    if (s->stored == NULL)
        return rs_safe_repr(rs_snapshot_object(s, n), max_len);
    uint32_t id = record(s, n)->repr;
    PyObject *text = id == RS_DUMP_NO_STRING ? stored_placeholder(s, n) : rs_dump_string(s->stored, id);
    PyObject *safe = text ? rs_escape_text(text, max_len) : NULL;
    Py_XDECREF(text);
    return safe;
}

/* "".join(parts), stealing parts (NULL passes through). */
static PyObject *join_stolen(const char *separator, PyObject *parts)
{
    if (parts == NULL)
        return NULL;
    PyObject *sep = PyUnicode_FromString(separator);
    PyObject *text = sep ? PyUnicode_Join(sep, parts) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(parts);
    return text;
}

static PyObject *exception_text(PyObject *exc)
{
    PyObject *traceback = PyImport_ImportModule("traceback");
    PyObject *parts = traceback ? PyObject_CallMethod(traceback, "format_exception", "O", exc) : NULL;
    Py_XDECREF(traceback);
    return join_stolen("", parts);
}

PyObject *rs_node_value_text(rs_snapshot *s, rs_idx n, Py_ssize_t max_len)
{
    if (s->stored != NULL) {
        uint32_t id = record(s, n)->repr;
        return id == RS_DUMP_NO_STRING ? stored_placeholder(s, n) : rs_dump_string(s->stored, id);
    }
    PyObject *obj = rs_snapshot_object(s, n);
    if (PyUnicode_Check(obj))
        return PyUnicode_Substring(obj, 0, max_len);
    if (PyExceptionInstance_Check(obj)) {
        PyObject *text = exception_text(obj);
        if (text != NULL)
            return text;
        PyErr_Clear();
    }
    return rs_safe_repr(obj, max_len);
}

/* --- allocation sites ----------------------------------------------------------- */

bool rs_node_tracing(rs_snapshot *s)
{
    if (s->stored != NULL)
        return s->stored->header->tracemalloc != 0;
    PyObject *tracemalloc = PyImport_ImportModule("tracemalloc");
    PyObject *tracing = tracemalloc ? PyObject_CallMethod(tracemalloc, "is_tracing", NULL) : NULL;
    bool on = tracing == Py_True;
    Py_XDECREF(tracing);
    Py_XDECREF(tracemalloc);
    PyErr_Clear();
    return on;
}

static PyObject *no_traceback(rs_snapshot *s)
{
    if (!rs_node_tracing(s))
        PyErr_SetString(rs_error, s->stored ? "the dump has no allocation tracebacks: tracemalloc was not tracing "
                                              "when it was written (run the program with PYTHONTRACEMALLOC=25)"
                                            : "tracemalloc is not tracing: run the program with PYTHONTRACEMALLOC=25 "
                                              "(or call refscope.mark(trace=True)) to record allocation sites");
    else
        PyErr_SetString(rs_error, "no allocation site recorded (allocated before tracemalloc started)");
    return NULL;
}

PyObject *rs_node_allocation_text(rs_snapshot *s, rs_idx n)
{
    if (s->stored != NULL) {
        /* Stored as tracemalloc formats it, most recent call last. */
        uint32_t id = rs_dump_allocation_of(s->stored, n);
        PyObject *body = id == RS_DUMP_NO_STRING ? no_traceback(s) : rs_dump_string(s->stored, id);
        PyObject *r = body ? PyUnicode_FromFormat("Allocated at (most recent call last):\n%U", body) : NULL;
        Py_XDECREF(body);
        return r;
    }
    if (!rs_node_tracing(s))
        return no_traceback(s);
    PyObject *body = rs_allocation_traceback_text(rs_snapshot_object(s, n));
    if (body == NULL)
        return PyErr_Occurred() ? NULL : no_traceback(s);
    PyObject *text = PyUnicode_FromFormat("Allocated at (most recent call last):\n%U", body);
    Py_DECREF(body);
    return text;
}

PyObject *rs_node_allocation_site(rs_snapshot *s, rs_idx n)
{
    if (s->stored == NULL)
        return rs_allocation_site(rs_snapshot_object(s, n));
    uint32_t id = rs_dump_allocation_of(s->stored, n);
    if (id == RS_DUMP_NO_STRING)
        Py_RETURN_NONE;
    /* The most recent frame is the last '  File "name", line N' line:
     * "name:N", as str() of a tracemalloc.Frame reads. */
    const rs_dump *d = s->stored;
    const char *text = d->string_bytes + d->string_index[id];
    size_t len = (size_t)(d->string_index[id + 1] - d->string_index[id]);
    static const char head[] = "File \"", middle[] = "\", line ";
    const char *last = NULL;
    for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), head, sizeof head - 1)) != NULL; p++)
        last = p;
    const char *name = last ? last + sizeof head - 1 : NULL;
    const char *end = name ? memmem(name, len - (size_t)(name - text), middle, sizeof middle - 1) : NULL;
    if (end == NULL)
        Py_RETURN_NONE;
    const char *number = end + sizeof middle - 1, *stop = number;
    while (stop < text + len && *stop >= '0' && *stop <= '9')
        stop++;
    PyObject *file = PyUnicode_DecodeUTF8(name, end - name, "replace");
    PyObject *line = file ? PyUnicode_DecodeASCII(number, stop - number, "replace") : NULL;
    PyObject *site = line ? PyUnicode_FromFormat("%U:%U", file, line) : NULL;
    Py_XDECREF(file);
    Py_XDECREF(line);
    return site;
}

/* --- strings ---------------------------------------------------------------------- */

/* Characters (or bytes) of the literal a stored str/bytes repr spells:
 * "'ab\\ncd'" is 5; a repr the writer cut ends "... (N characters)". */
static Py_ssize_t literal_length(const char *text, size_t len)
{
    /* "... (1234 characters)" or "... (1234 bytes)" at the end: the length. */
    static const char *const units[] = {" characters)", " bytes)"};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t unit = strlen(units[u]);
        if (len <= unit || memcmp(text + len - unit, units[u], unit) != 0)
            continue;
        size_t end = len - unit, start = end;
        while (start > 0 && text[start - 1] >= '0' && text[start - 1] <= '9' && end - start < 18)
            start--;
        if (start < end && start >= 5 && memcmp(text + start - 5, "... (", 5) == 0) {
            Py_ssize_t count = 0;
            for (size_t k = start; k < end; k++)
                count = count * 10 + (text[k] - '0');
            return count;
        }
    }
    size_t i = 0;
    if (i < len && text[i] == 'b')
        i++;
    if (i >= len || (text[i] != '\'' && text[i] != '"'))
        return -1;
    char quote = text[i++];
    Py_ssize_t count = 0;
    while (i < len && text[i] != quote) {
        if (text[i] == '\\' && i + 1 < len) {
            char c = text[i + 1];
            i += c == 'x' ? 4 : c == 'u' ? 6 : c == 'U' ? 10 : 2;
        } else {
            unsigned char c = (unsigned char)text[i++];
            while (c >= 0xc0 && i < len && ((unsigned char)text[i] & 0xc0) == 0x80)
                i++;
        }
        count++;
    }
    return count;
}

Py_ssize_t rs_node_text_length(rs_snapshot *s, rs_idx n)
{
    if (s->stored == NULL) {
        /* Only live: a dump may come from another Python, with another
         * sizeof(PyASCIIObject). */
        if (rs_graph_flags(s->graph, n) & RS_NODE_SIZED_TEXT)
            return (Py_ssize_t)(rs_graph_size(s->graph, n) -
                                (rs_node_kind(s, n) == RS_KIND_STR ? RS_ASCII_TEXT_BASE : RS_BYTES_TEXT_BASE));
        PyObject *obj = rs_snapshot_object(s, n);
        if (PyUnicode_Check(obj))
            return PyUnicode_GET_LENGTH(obj);
        if (PyBytes_Check(obj))
            return PyBytes_GET_SIZE(obj);
        if (PyByteArray_Check(obj))
            return PyByteArray_GET_SIZE(obj);
        return -1;
    }
    enum rs_node_kind kind = rs_node_kind(s, n);
    uint32_t id = record(s, n)->repr;
    if ((kind != RS_KIND_STR && kind != RS_KIND_BYTES && kind != RS_KIND_BYTEARRAY) || id == RS_DUMP_NO_STRING)
        return -1;
    const rs_dump *d = s->stored;
    const char *text = d->string_bytes + d->string_index[id];
    size_t len = (size_t)(d->string_index[id + 1] - d->string_index[id]);
    if (kind == RS_KIND_BYTEARRAY) { /* stored as "<bytearray of N items>" */
        static const char head[] = "<bytearray of ";
        size_t k = sizeof head - 1;
        if (len <= k || memcmp(text, head, k) != 0)
            return -1;
        Py_ssize_t items = 0;
        for (; k < len && k < sizeof head + 18 && text[k] >= '0' && text[k] <= '9'; k++)
            items = items * 10 + (text[k] - '0');
        return k < len && text[k] == ' ' ? items : -1;
    }
    return literal_length(text, len);
}

bool rs_node_is_instance_dict(rs_snapshot *s, rs_idx owner, rs_idx d)
{
    if (s->stored == NULL)
        return rs_py_instance_dict(rs_snapshot_object(s, owner)) == rs_snapshot_object(s, d);
    uint32_t e = stored_edge(s->stored, owner, d, 0);
    if (e == UINT32_MAX)
        return false;
    PyObject *label = rs_dump_edge_label(s->stored, e);
    bool is_dict = label != NULL && PyUnicode_CompareWithASCIIString(label, ".__dict__") == 0;
    Py_XDECREF(label);
    PyErr_Clear();
    return is_dict;
}

/* --- finalizers, functions, closures, frames -------------------------------------- */

PyObject *rs_node_finalizer(rs_snapshot *s, rs_idx n, bool *legacy)
{
    static PyObject *del_name;
    const char *type_name = rs_snapshot_type_name(s, n);
    *legacy = false;
    if (s->stored != NULL)
        return (rs_graph_flags(s->graph, n) & RS_NODE_FINALIZER) ? PyUnicode_FromFormat("finalizer of %s", type_name)
                                                                  : NULL;
    PyTypeObject *tp = Py_TYPE(rs_snapshot_object(s, n));
    if (tp->tp_del != NULL) {
        *legacy = true;
        return PyUnicode_FromFormat("legacy tp_del of %s", type_name);
    }
    if (tp->tp_finalize == NULL)
        return NULL;
    if (del_name == NULL && (del_name = PyUnicode_InternFromString("__del__")) == NULL)
        return NULL;
    PyObject *del = rs_py_type_lookup(tp, del_name);
    if (del != NULL && PyFunction_Check(del))
        return PyUnicode_FromFormat("__del__ of %s", type_name);
    return PyUnicode_FromFormat("tp_finalize of %s", type_name);
}

bool rs_node_items_reversed(rs_snapshot *s, rs_idx n)
{
    enum rs_node_kind kind = rs_node_kind(s, n);
    size_t count;
    const rs_idx *referents = rs_graph_referents(s->graph, n, &count);
    if ((kind != RS_KIND_LIST && kind != RS_KIND_TUPLE) || !rs_node_kind_exact(s, n) || count < 2)
        return false;
    if (s->stored != NULL) {
        uint32_t code = s->stored->labels[s->stored->nodes[n].edge_start];
        return RS_DUMP_LABEL_KIND(code) == RS_DUMP_LABEL_ITEM && RS_DUMP_LABEL_VALUE(code) == count - 1;
    }
    PyObject *obj = rs_snapshot_object(s, n);
    if (Py_SIZE(obj) != (Py_ssize_t)count)
        return false;
    PyObject *last = kind == RS_KIND_LIST ? PyList_GET_ITEM(obj, count - 1) : PyTuple_GET_ITEM(obj, count - 1);
    return rs_snapshot_object(s, referents[0]) == last;
}

PyObject *rs_node_weakref_text(rs_snapshot *s, rs_idx n, Py_ssize_t max_len)
{
    if (!(rs_graph_flags(s->graph, n) & RS_NODE_WEAKREF))
        return NULL;
    if (s->stored != NULL)
        return PyUnicode_FromString("weak reference (a dump does not keep its target; not a strong edge)");
    PyObject *target = rs_py_weakref_target(rs_snapshot_object(s, n));
    if (target == NULL) {
        PyErr_Clear();
        return PyUnicode_FromString("weak reference to nothing: its target is gone");
    }
    PyObject *repr = rs_safe_repr(target, max_len);
    PyObject *r = repr ? PyUnicode_FromFormat("weak reference to: %s %U (not a strong edge, never on a path)",
                                              Py_TYPE(target)->tp_name, repr)
                       : NULL;
    Py_XDECREF(repr);
    Py_DECREF(target);
    return r;
}

/* The text of string id as a pointer and length into the dump. */
static const char *stored_text(const rs_dump *d, uint32_t id, size_t *len)
{
    *len = (size_t)(d->string_index[id + 1] - d->string_index[id]);
    return d->string_bytes + d->string_index[id];
}

/* true when text[0..len) starts with prefix and goes on with one of the
 * characters in next ("" accepts any). */
static bool starts_with(const char *text, size_t len, const char *prefix, const char *next)
{
    size_t k = strlen(prefix);
    return len >= k && memcmp(text, prefix, k) == 0 && (!*next || (len > k && strchr(next, text[k]) != NULL));
}

bool rs_node_stored_refscope_own(rs_snapshot *s, rs_idx n)
{
    const rs_dump *d = s->stored;
    size_t len;
    uint32_t repr = d->nodes[n].repr;
    enum rs_node_kind kind = rs_node_kind(s, n);
    if (kind == RS_KIND_CFUNCTION)
        return repr != RS_DUMP_NO_STRING &&
               starts_with(stored_text(d, repr, &len), len, "<built-in function refscope_", "");
    if (kind != RS_KIND_DICT)
        return false;
    uint32_t e, end;
    edge_range(d, n, &e, &end);
    for (; e < end; e++) {
        uint32_t code = d->labels[e];
        if (RS_DUMP_LABEL_KIND(code) != RS_DUMP_LABEL_STRING)
            continue;
        const char *label = stored_text(d, code, &len);
        if (len != 12 || memcmp(label, "['__name__']", 12) != 0)
            continue;
        uint32_t value = d->nodes[d->targets[e]].repr;
        if (value == RS_DUMP_NO_STRING)
            return false;
        const char *text = stored_text(d, value, &len);
        return starts_with(text, len, "'refscope", "'.");
    }
    return false;
}

PyObject *rs_node_live_object(rs_snapshot *s, rs_idx n)
{
    return s->stored ? NULL : rs_snapshot_object(s, n);
}

rs_idx rs_node_function_code(rs_snapshot *s, rs_idx f)
{
    size_t count;
    const rs_idx *referents = rs_graph_referents(s->graph, f, &count);
    for (size_t i = 0; i < count; i++)
        if (rs_node_kind(s, referents[i]) == RS_KIND_CODE)
            return referents[i];
    return RS_NONE;
}

PyObject *rs_node_function_name(rs_snapshot *s, rs_idx n)
{
    if (s->stored == NULL) {
        PyObject *f = rs_snapshot_object(s, n);
        return PyFunction_Check(f) ? Py_NewRef(((PyFunctionObject *)f)->func_qualname)
                                   : PyUnicode_FromString(rs_snapshot_type_name(s, n));
    }
    /* The writer stores a function's own repr, "<function NAME at 0x...>". */
    const rs_dump *d = s->stored;
    uint32_t id = record(s, n)->repr;
    if (id != RS_DUMP_NO_STRING) {
        const char *text = d->string_bytes + d->string_index[id];
        size_t len = (size_t)(d->string_index[id + 1] - d->string_index[id]);
        static const char head[] = "<function ";
        const char *at = len > sizeof head ? memmem(text, len, " at 0x", 6) : NULL;
        if (at != NULL && memcmp(text, head, sizeof head - 1) == 0)
            return PyUnicode_DecodeUTF8(text + sizeof head - 1, at - text - (Py_ssize_t)(sizeof head - 1), "replace");
    }
    return PyUnicode_FromString(rs_snapshot_type_name(s, n));
}

int rs_node_cell_owner(rs_snapshot *s, rs_idx cell, PyObject **function, PyObject **name)
{
    if (s->stored != NULL) {
        const rs_dump *d = s->stored;
        for (size_t i = 0; i < d->closure_count; i++) {
            if (d->closures[i].cell != cell)
                continue;
            *function = rs_node_function_name(s, d->closures[i].function);
            *name = *function ? rs_dump_string(d, d->closures[i].name) : NULL;
            if (*name == NULL) {
                Py_CLEAR(*function);
                PyErr_Clear();
                return 0;
            }
            return 1;
        }
        return 0;
    }
    size_t count;
    const rs_idx *tuples = rs_graph_referrers(s->graph, cell, &count);
    PyObject *cell_obj = rs_snapshot_object(s, cell);
    for (size_t i = 0; i < count; i++) {
        PyObject *t = rs_snapshot_object(s, tuples[i]);
        if (!PyTuple_Check(t))
            continue;
        size_t fcount;
        const rs_idx *funcs = rs_graph_referrers(s->graph, tuples[i], &fcount);
        for (size_t j = 0; j < fcount; j++) {
            PyObject *f = rs_snapshot_object(s, funcs[j]);
            if (!PyFunction_Check(f) || PyFunction_GET_CLOSURE(f) != t)
                continue;
            PyObject *freevars = PyCode_GetFreevars((PyCodeObject *)PyFunction_GET_CODE(f));
            if (freevars == NULL) {
                PyErr_Clear();
                return 0;
            }
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(t) && k < PyTuple_GET_SIZE(freevars); k++) {
                if (PyTuple_GET_ITEM(t, k) == cell_obj) {
                    *function = Py_NewRef(((PyFunctionObject *)f)->func_qualname);
                    *name = Py_NewRef(PyTuple_GET_ITEM(freevars, k));
                    Py_DECREF(freevars);
                    return 1;
                }
            }
            Py_DECREF(freevars);
        }
    }
    return 0;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

PyObject *rs_node_frame_text(rs_snapshot *s, uint32_t frame)
{
    if (s->stored != NULL) {
        const rs_dump_frame *f = &s->stored->frames[frame];
        PyObject *name = rs_dump_string(s->stored, f->function);
        PyObject *where = name ? rs_dump_string(s->stored, f->where) : NULL;
        PyObject *r = where ? PyUnicode_FromFormat("%U() %U", name, where) : NULL;
        Py_XDECREF(name);
        Py_XDECREF(where);
        return r;
    }
    const rs_frame_info *fi = &s->frames[frame];
    PyCodeObject *code = (PyCodeObject *)fi->code;
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL)
        PyErr_Clear();
    return PyUnicode_FromFormat("%U() %s:%d", code->co_qualname, file ? basename_of(file) : "?", fi->line);
}

int rs_node_frame_parts(rs_snapshot *s, uint32_t frame, PyObject **function, PyObject **file, int *line)
{
    *function = *file = NULL;
    *line = 0;
    if (s->stored == NULL) {
        PyCodeObject *code = (PyCodeObject *)s->frames[frame].code;
        *function = Py_NewRef(code->co_qualname);
        *file = Py_NewRef(code->co_filename);
        *line = s->frames[frame].line;
        return 0;
    }
    /* The dump keeps "file.py:12": split at its last colon. */
    const rs_dump_frame *f = &s->stored->frames[frame];
    PyObject *where = rs_dump_string(s->stored, f->where);
    *function = where ? rs_dump_string(s->stored, f->function) : NULL;
    if (*function == NULL) {
        Py_XDECREF(where);
        return -1;
    }
    Py_ssize_t colon = PyUnicode_FindChar(where, ':', 0, PyUnicode_GET_LENGTH(where), -1);
    if (colon >= 0) {
        PyObject *number = PyUnicode_Substring(where, colon + 1, PyUnicode_GET_LENGTH(where));
        long value = number ? PyLong_AsLong(number) : -1; /* digits written by the dump */
        Py_XDECREF(number);
        if (PyErr_Occurred())
            PyErr_Clear();
        else
            *line = (int)value;
        *file = PyUnicode_Substring(where, 0, colon);
        Py_DECREF(where);
    } else {
        *file = where;
    }
    if (*file == NULL) {
        Py_CLEAR(*function);
        return -1;
    }
    return 0;
}

/* --- labels, closures and locals of a dump ------------------------------------------ */

PyObject *rs_node_stored_referent_label(rs_snapshot *s, rs_idx src, size_t k)
{
    return rs_dump_edge_label(s->stored, s->stored->nodes[src].edge_start + (uint32_t)k);
}

PyObject *rs_node_stored_referrer_label(rs_snapshot *s, rs_idx dst, size_t j)
{
    size_t count;
    const rs_idx *sources = rs_graph_referrers(s->graph, dst, &count);
    if (j >= count)
        return PyUnicode_FromString("?");
    /* The occurrence-th edge src -> dst, as label.c numbers repeated edges. */
    rs_idx src = sources[j];
    size_t occurrence = 0;
    for (size_t i = j; i > 0 && sources[i - 1] == src; i--)
        occurrence++;
    uint32_t e = stored_edge(s->stored, src, dst, occurrence);
    return e == UINT32_MAX ? PyUnicode_FromString("?") : rs_dump_edge_label(s->stored, e);
}

PyObject *rs_node_stored_root_label(rs_snapshot *s, const rs_root *root)
{
    return rs_dump_string(s->stored, s->stored->roots[root->info].label);
}

void rs_node_stored_memory(const rs_snapshot *s, rs_process_memory *out)
{
    const rs_dump_header *h = s->stored->header;
    out->rss = h->memory_rss;
    out->have_arenas = h->have_arenas != 0;
    out->arena_bytes = h->arena_bytes;
    out->arena_count = h->arena_count;
    out->arena_used = h->arena_used;
    out->arena_free = h->arena_free;
    out->arena_overhead = h->arena_overhead;
}

/* Biggest retained value first; ties in file order, which is node order
 * and cell order within a function, as closures.c breaks them. */
static int by_retained_desc(const void *a, const void *b)
{
    const rs_closure_var *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained < y->retained ? 1 : -1;
    return x->var < y->var ? -1 : x->var > y->var;
}

rs_closure_var *rs_node_stored_closures(rs_snapshot *s, size_t *count)
{
    if (rs_analysis_ensure_dominators(s) < 0)
        return NULL;
    const rs_dump *d = s->stored;
    rs_closure_var *vars = rs_malloc((d->closure_count ? d->closure_count : 1) * sizeof *vars);
    if (vars == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < d->closure_count; i++) {
        const rs_dump_closure *c = &d->closures[i];
        vars[i] = (rs_closure_var){.function = c->function, .cell = c->cell, .value = c->value, .var = (uint32_t)i,
                                   .retained = rs_dom_retained(s->dom, c->value)};
    }
    qsort(vars, d->closure_count, sizeof *vars, by_retained_desc);
    *count = d->closure_count;
    return vars;
}

PyObject *rs_node_stored_closure_name(rs_snapshot *s, const rs_closure_var *cv)
{
    return rs_dump_string(s->stored, s->stored->closures[cv->var].name);
}

rs_local *rs_node_stored_frame_locals(rs_snapshot *s, uint32_t frame, size_t *count)
{
    rs_dump *d = s->stored;
    if (d->local_names == NULL) {
        PyObject *names = PyTuple_New((Py_ssize_t)d->local_count);
        for (size_t i = 0; names != NULL && i < d->local_count; i++) {
            PyObject *name = rs_dump_string(d, d->locals[i].name);
            if (name == NULL)
                Py_CLEAR(names);
            else
                PyTuple_SET_ITEM(names, (Py_ssize_t)i, name);
        }
        if (names == NULL)
            return NULL;
        d->local_names = names;
    }
    const rs_dump_frame *f = &d->frames[frame];
    rs_local *locals = rs_malloc((f->local_count ? f->local_count : 1) * sizeof *locals);
    if (locals == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (uint32_t k = 0; k < f->local_count; k++)
        locals[k] = (rs_local){.name = PyTuple_GET_ITEM(d->local_names, f->first_local + k),
                               .value = d->locals[f->first_local + k].value};
    *count = f->local_count;
    return locals;
}

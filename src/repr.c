/*
 * Bounded, safe reprs.  A repr that refscope shows (a label's dict key, a
 * report line, a browser row) is written into a fixed character budget:
 * builtin containers, str, bytes, bytearray and int are written by
 * refscope itself, first items only, so a 33 MB tuple or a million-digit
 * int costs what the line shows, not what the object holds.  Other objects
 * still get their own __repr__, guarded: an exception becomes
 * "<repr failed: E>", control characters are escaped, deep recursion stops.
 * For containers small enough to fit, the text equals repr(obj).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "snapshot.h"

/* Containers nested deeper than this are shown as "...". */
#define DEPTH_MAX 32
/* ints up to this many bits are written by int.__repr__ (at most 617
 * digits); bigger ones are described, never converted. */
#define INT_BITS_MAX 2048
/* The longest repr any caller may ask for. */
#define REPR_LEN_MAX ((Py_ssize_t)1 << 24)

static size_t repr_items_visited;

size_t rs_repr_work(void)
{
    return repr_items_visited;
}

typedef struct repr_out {
    Py_UCS4 *buf;
    Py_ssize_t len;
    Py_ssize_t max;
    Py_ssize_t clean; /* the longest length ending a whole piece with room for "..." */
    int cut;          /* something did not fit: the text ends in "..." */
    int depth;
} repr_out;

/* Appends n characters, all or none; 0, or -1 (and cut) when full. */
static int put_chars(repr_out *o, const Py_UCS4 *chars, Py_ssize_t n)
{
    if (o->cut || o->len + n > o->max) {
        o->cut = 1;
        return -1;
    }
    memcpy(o->buf + o->len, chars, (size_t)n * sizeof *chars);
    o->len += n;
    if (o->len <= o->max - 3)
        o->clean = o->len;
    return 0;
}

static int put_char(repr_out *o, Py_UCS4 ch)
{
    return put_chars(o, &ch, 1);
}

static int put_ascii(repr_out *o, const char *text)
{
    Py_UCS4 chars[64];
    Py_ssize_t n = 0;
    for (; text[n] != '\0' && n < (Py_ssize_t)(sizeof chars / sizeof chars[0]); n++)
        chars[n] = (unsigned char)text[n];
    return put_chars(o, chars, n);
}

/* The escape for a character that must not reach a terminal as is (control
 * characters, line/paragraph separators, bidi overrides); 0 when none. */
static int terminal_escape(Py_UCS4 ch, char *esc, size_t size)
{
    if (ch == '\n' || ch == '\r' || ch == '\t')
        return snprintf(esc, size, "\\%c", ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't');
    if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && ch < 0xa0))
        return snprintf(esc, size, "\\x%02x", (unsigned)ch);
    if (ch == 0x2028 || ch == 0x2029 || (ch >= 0x202a && ch <= 0x202e) || (ch >= 0x2066 && ch <= 0x2069) ||
        (ch >= 0xd800 && ch <= 0xdfff))
        return snprintf(esc, size, "\\u%04x", (unsigned)ch);
    return 0;
}

/* Someone else's text (a __repr__'s result), escaped for a terminal. */
static void put_text(repr_out *o, PyObject *text)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < len && !o->cut; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        char esc[16];
        if (terminal_escape(ch, esc, sizeof esc))
            put_ascii(o, esc);
        else
            put_char(o, ch);
    }
}

/* Python's choice of quote for a str/bytes repr, judged on the part that
 * can be shown (a cut repr does not round-trip anyway). */
static Py_UCS4 quote_for(int kind, const void *data, Py_ssize_t len, Py_ssize_t budget)
{
    int single = 0, dbl = 0;
    for (Py_ssize_t i = 0; i < len && i < budget; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        single |= ch == '\'';
        dbl |= ch == '"';
    }
    return single && !dbl ? '"' : '\'';
}

/* One character of a str or bytes literal, escaped as unicode_repr and
 * bytes_repr do. */
static void put_literal_char(repr_out *o, Py_UCS4 ch, Py_UCS4 quote, int is_bytes)
{
    char esc[16];
    if (ch == quote || ch == '\\')
        snprintf(esc, sizeof esc, "\\%c", (char)ch);
    else if (ch == '\t' || ch == '\n' || ch == '\r')
        snprintf(esc, sizeof esc, "\\%c", ch == '\t' ? 't' : ch == '\n' ? 'n' : 'r');
    else if (ch < ' ' || ch == 0x7f || (is_bytes && ch > 0x7f))
        snprintf(esc, sizeof esc, "\\x%02x", (unsigned)ch);
    else if (ch < 0x7f || Py_UNICODE_ISPRINTABLE(ch)) {
        put_char(o, ch);
        return;
    } else if (ch <= 0xff)
        snprintf(esc, sizeof esc, "\\x%02x", (unsigned)ch);
    else if (ch <= 0xffff)
        snprintf(esc, sizeof esc, "\\u%04x", (unsigned)ch);
    else
        snprintf(esc, sizeof esc, "\\U%08x", (unsigned)ch);
    put_ascii(o, esc);
}

static void put_str(repr_out *o, PyObject *str)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(str);
    int kind = PyUnicode_KIND(str);
    const void *data = PyUnicode_DATA(str);
    Py_UCS4 quote = quote_for(kind, data, len, o->max - o->len);
    put_char(o, quote);
    for (Py_ssize_t i = 0; i < len && !o->cut; i++)
        put_literal_char(o, PyUnicode_READ(kind, data, i), quote, 0);
    put_char(o, quote);
}

static void put_bytes(repr_out *o, const char *bytes, Py_ssize_t len)
{
    Py_UCS4 quote = quote_for(PyUnicode_1BYTE_KIND, bytes, len, o->max - o->len);
    put_ascii(o, "b");
    put_char(o, quote);
    for (Py_ssize_t i = 0; i < len && !o->cut; i++)
        put_literal_char(o, (unsigned char)bytes[i], quote, 1);
    put_char(o, quote);
}

/* The type's short name, as builtin reprs of subclasses write it. */
static void put_type_name(repr_out *o, PyTypeObject *tp)
{
    const char *name = tp->tp_name, *dot = strrchr(name, '.');
    put_ascii(o, dot ? dot + 1 : name);
}

static void put_failure(repr_out *o)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    const char *name = type && PyType_Check(type) ? ((PyTypeObject *)type)->tp_name : "unknown error";
    const char *dot = strrchr(name, '.');
    put_ascii(o, "<repr failed: ");
    put_ascii(o, dot ? dot + 1 : name);
    put_ascii(o, ">");
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void put_object(repr_out *o, PyObject *obj);

/* Types whose __repr__ once took longer than SLOW_REPR_SECONDS (it reads
 * a socket, takes a lock, sleeps): their objects are then written in the
 * default form, so one such type stalls a screen once, not once per row
 * and redraw.  A call already running cannot be cut short.  The types are
 * held (strong references) so that a freed type's address, reused by a new
 * type, is never taken for it; the list is dropped at each snapshot. */
#define SLOW_REPR_SECONDS 0.5
#define SLOW_TYPES_MAX 32
static PyTypeObject *slow_types[SLOW_TYPES_MAX];
static size_t slow_next; /* ring: the oldest entry is replaced */

void rs_repr_forget_slow(void)
{
    for (size_t i = 0; i < SLOW_TYPES_MAX; i++)
        Py_CLEAR(slow_types[i]);
    slow_next = 0;
}

static bool is_slow(PyTypeObject *tp)
{
    for (size_t i = 0; i < SLOW_TYPES_MAX; i++)
        if (slow_types[i] == tp)
            return true;
    return false;
}

static void remember_slow(PyTypeObject *tp)
{
    PyTypeObject *old = slow_types[slow_next];
    Py_INCREF(tp);
    slow_types[slow_next] = tp;
    slow_next = (slow_next + 1) % SLOW_TYPES_MAX;
    Py_XDECREF(old);
}

/* A user type's own __repr__, guarded. */
static void put_foreign(repr_out *o, PyObject *obj)
{
    PyObject *repr = NULL;
    PyTypeObject *tp = Py_TYPE(obj);
    if (is_slow(tp)) {
        char text[160];
        const char *dot = strrchr(tp->tp_name, '.');
        snprintf(text, sizeof text, "<%.100s object at %p; slow __repr__ skipped>", dot ? dot + 1 : tp->tp_name,
                 (void *)obj);
        put_ascii(o, text);
        return;
    }
    if (Py_EnterRecursiveCall(" in refscope's safe repr") == 0) {
        double start = rs_monotonic_seconds();
        repr = PyObject_Repr(obj);
        Py_LeaveRecursiveCall();
        if (rs_monotonic_seconds() - start > SLOW_REPR_SECONDS)
            remember_slow(tp);
    }
    if (repr == NULL) {
        put_failure(o);
        return;
    }
    put_text(o, repr);
    Py_DECREF(repr);
}

static void put_int(repr_out *o, PyObject *obj)
{
    PyObject *bits = PyObject_CallMethod(obj, "bit_length", NULL);
    long long n = bits ? PyLong_AsLongLong(bits) : -1;
    Py_XDECREF(bits);
    if (n < 0) {
        put_failure(o);
        return;
    }
    if (n <= INT_BITS_MAX) {
        put_foreign(o, obj);
        return;
    }
    int overflow = 0; /* -1 or +1 here: the sign without converting */
    (void)PyLong_AsLongLongAndOverflow(obj, &overflow);
    PyErr_Clear();
    char text[64];
    snprintf(text, sizeof text, "<%sint of %lld bits>", overflow < 0 ? "negative " : "", n);
    put_ascii(o, text);
}

/* ", " between items, then the item; 0 to go on, -1 when full. */
static int put_item(repr_out *o, PyObject *item, Py_ssize_t i)
{
    repr_items_visited++;
    if (i > 0)
        put_ascii(o, ", ");
    Py_INCREF(item); /* its __repr__ may drop the container's reference */
    put_object(o, item);
    Py_DECREF(item);
    return o->cut ? -1 : 0;
}

static void put_list(repr_out *o, PyObject *obj)
{
    put_char(o, '[');
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(obj) && put_item(o, PyList_GET_ITEM(obj, i), i) == 0; i++)
        ;
    put_char(o, ']');
}

static void put_tuple(repr_out *o, PyObject *obj)
{
    Py_ssize_t n = PyTuple_GET_SIZE(obj);
    put_char(o, '(');
    for (Py_ssize_t i = 0; i < n && put_item(o, PyTuple_GET_ITEM(obj, i), i) == 0; i++)
        ;
    if (n == 1)
        put_char(o, ',');
    put_char(o, ')');
}

static void put_dict(repr_out *o, PyObject *obj)
{
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    put_char(o, '{');
    while (!o->cut && PyDict_Next(obj, &pos, &key, &value)) {
        Py_INCREF(value); /* the key's __repr__ may change the dict */
        if (put_item(o, key, i++) == 0 && put_ascii(o, ": ") == 0)
            put_object(o, value);
        Py_DECREF(value);
    }
    put_char(o, '}');
}

static void put_set(repr_out *o, PyObject *obj)
{
    int bare = Py_IS_TYPE(obj, &PySet_Type);
    if (PySet_GET_SIZE(obj) == 0) {
        put_type_name(o, Py_TYPE(obj));
        put_ascii(o, "()");
        return;
    }
    if (!bare) {
        put_type_name(o, Py_TYPE(obj));
        put_char(o, '(');
    }
    put_char(o, '{');
    PyObject *it = PyObject_GetIter(obj), *item;
    for (Py_ssize_t i = 0; it != NULL && !o->cut && (item = PyIter_Next(it)) != NULL; i++) {
        put_item(o, item, i);
        Py_DECREF(item);
    }
    Py_XDECREF(it);
    if (PyErr_Occurred()) { /* changed size during iteration */
        PyErr_Clear();
        o->cut = 1;
    }
    put_char(o, '}');
    if (!bare)
        put_char(o, ')');
}

/* Containers refscope writes itself, by the repr slot they use (so a
 * subclass that does not override __repr__ is written the same way). */
static const struct {
    PyTypeObject *type;
    void (*put)(repr_out *o, PyObject *obj);
    const char *recursive; /* what repr() writes for a container inside itself */
} containers[] = {
    {&PyList_Type, put_list, "[...]"},
    {&PyTuple_Type, put_tuple, "(...)"},
    {&PyDict_Type, put_dict, "{...}"},
    {&PySet_Type, put_set, "set(...)"},
    {&PyFrozenSet_Type, put_set, "frozenset(...)"},
};

static void put_object(repr_out *o, PyObject *obj)
{
    if (o->cut)
        return;
    reprfunc repr = Py_TYPE(obj)->tp_repr;
    if (repr == PyUnicode_Type.tp_repr && PyUnicode_Check(obj)) {
        put_str(o, obj);
        return;
    }
    if (repr == PyBytes_Type.tp_repr && PyBytes_Check(obj)) {
        put_bytes(o, PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
        return;
    }
    if (repr == PyByteArray_Type.tp_repr && PyByteArray_Check(obj)) {
        put_type_name(o, Py_TYPE(obj));
        put_char(o, '(');
        put_bytes(o, PyByteArray_AS_STRING(obj), PyByteArray_GET_SIZE(obj));
        put_char(o, ')');
        return;
    }
    if (repr == PyLong_Type.tp_repr && PyLong_Check(obj)) {
        put_int(o, obj);
        return;
    }
    for (size_t c = 0; c < sizeof containers / sizeof containers[0]; c++) {
        if (repr != containers[c].type->tp_repr || !PyObject_TypeCheck(obj, containers[c].type))
            continue;
        if (o->depth >= DEPTH_MAX) {
            o->cut = 1;
            return;
        }
        int seen = Py_ReprEnter(obj);
        if (seen != 0) {
            if (seen < 0)
                put_failure(o);
            else
                put_ascii(o, containers[c].recursive);
            return;
        }
        o->depth++;
        containers[c].put(o, obj);
        o->depth--;
        Py_ReprLeave(obj);
        return;
    }
    put_foreign(o, obj);
}

/* The text written, "..." ending it when something was cut (never in the
 * middle of an escape); frees the buffer.  New str, or NULL on MemoryError. */
static PyObject *finish(repr_out *o)
{
    if (o->cut) {
        o->len = o->clean;
        for (int e = 0; e < 3; e++)
            o->buf[o->len++] = '.';
    }
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o->buf, o->len);
    PyMem_Free(o->buf);
    return result;
}

/* A writer of at most max_len characters (4 at least, room for "x...";
 * 16M at most, so the buffer size cannot overflow); -1 with MemoryError. */
static int start(repr_out *o, Py_ssize_t max_len)
{
    *o = (repr_out){.max = max_len < 4 ? 4 : max_len > REPR_LEN_MAX ? REPR_LEN_MAX : max_len};
    o->buf = PyMem_Malloc((size_t)(o->max + 1) * sizeof *o->buf);
    if (o->buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

PyObject *rs_safe_repr(PyObject *obj, Py_ssize_t max_len)
{
    repr_out o;
    if (start(&o, max_len) < 0)
        return NULL;
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
    put_object(&o, obj);
    PyObject *result = finish(&o);
    if (result == NULL) {
        Py_XDECREF(saved_type);
        Py_XDECREF(saved_value);
        Py_XDECREF(saved_tb);
        return NULL;
    }
    PyErr_Restore(saved_type, saved_value, saved_tb);
    return result;
}

PyObject *rs_escape_text(PyObject *text, Py_ssize_t max_len)
{
    repr_out o;
    if (start(&o, max_len) < 0)
        return NULL;
    put_text(&o, text);
    return finish(&o);
}

/*
 * Heap dumps.  Writing streams the snapshot out in passes over its arrays
 * (nodes, targets, labels, roots, ...) through one FILE buffer, each
 * section checksummed as it goes; only the distinct strings (type names,
 * labels, reprs) are kept in memory, deduplicated, until the end.  The
 * header, with the section table, is written last at offset 0.
 * dump_read.c reads them back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "dump.h"
#include "module.h"
#include "module_analysis.h"
#include "pyinternal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "refscope dumps are little-endian; this writer maps structs directly"
#endif

_Static_assert(sizeof(rs_dump_header) == 568, "dump header layout");
_Static_assert(sizeof(rs_dump_node) == 40, "dump node layout");
_Static_assert(sizeof(rs_dump_thread) == 24, "dump thread layout");

/* Bounds of what a dump stores per object. */
#define REPR_MAX 80         /* characters of a repr */
#define STRING_REPR_MAX 200 /* characters of a str/bytes repr */
#define LABEL_PER_EDGE_MAX 64 /* holders with more edges get one-pass labels */

/* --- CRC-32 (IEEE 802.3, reflected), table built once --------------------- */

/* Slicing by 8: crc_table[k][b] is the CRC of byte b followed by k zero
 * bytes, so eight bytes cost eight lookups and no loop per bit or byte. */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
    if (crc_table[0][1] != 0)
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
}

uint32_t rs_dump_crc32(uint32_t crc, const void *data, size_t len)
{
    crc_init();
    const unsigned char *p = data;
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
              crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    for (; len > 0; p++, len--)
        crc = crc_table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* --- string pool: distinct strings, each once ----------------------------- */

typedef struct string_pool {
    char *bytes;
    size_t len, cap;
    uint64_t *offsets; /* offsets[id], plus the end */
    uint32_t count, offsets_cap;
    uint64_t *slots;   /* open addressing: hash << 32 | (id + 1), 0 = empty */
    size_t slot_count; /* power of two */
} string_pool;

/* A 32-bit hash of len bytes, eight at a time. */
static uint32_t hash_bytes(const char *text, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, text + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, text + i, len - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    return (uint32_t)(h ^ (h >> 29));
}

static void pool_free(string_pool *p)
{
    rs_free(p->bytes);
    rs_free(p->offsets);
    rs_free(p->slots);
    *p = (string_pool){0};
}

static int pool_grow_slots(string_pool *p)
{
    size_t n = p->slot_count ? p->slot_count * 2 : 1024;
    uint64_t *slots = rs_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t k = 0; k < p->slot_count; k++) {
        if (p->slots[k] == 0)
            continue;
        size_t i = (p->slots[k] >> 32) & (n - 1);
        while (slots[i] != 0)
            i = (i + 1) & (n - 1);
        slots[i] = p->slots[k];
    }
    rs_free(p->slots);
    p->slots = slots;
    p->slot_count = n;
    return 0;
}

/* The id of text in the pool, adding it.  RS_DUMP_NO_STRING on MemoryError. */
static uint32_t pool_add(string_pool *p, const char *text, size_t len)
{
    if ((size_t)(p->count + 1) * 2 > p->slot_count && pool_grow_slots(p) < 0)
        return RS_DUMP_NO_STRING;
    uint32_t hash = hash_bytes(text, len);
    size_t mask = p->slot_count - 1, i = hash & mask;
    for (; p->slots[i] != 0; i = (i + 1) & mask) {
        if ((uint32_t)(p->slots[i] >> 32) != hash)
            continue;
        uint32_t id = (uint32_t)p->slots[i] - 1;
        if (p->offsets[id + 1] - p->offsets[id] == len && memcmp(p->bytes + p->offsets[id], text, len) == 0)
            return id;
    }
    if (p->count + 2 > p->offsets_cap) {
        uint32_t cap = p->offsets_cap ? p->offsets_cap * 2 : 1024;
        uint64_t *offsets = rs_realloc(p->offsets, (size_t)cap * sizeof *offsets);
        if (offsets == NULL)
            return RS_DUMP_NO_STRING;
        p->offsets = offsets;
        p->offsets_cap = cap;
        if (p->count == 0)
            p->offsets[0] = 0;
    }
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len)
            cap *= 2;
        char *bytes = rs_realloc(p->bytes, cap);
        if (bytes == NULL)
            return RS_DUMP_NO_STRING;
        p->bytes = bytes;
        p->cap = cap;
    }
    memcpy(p->bytes + p->len, text, len);
    p->len += len;
    uint32_t id = p->count++;
    p->offsets[id + 1] = p->len;
    p->slots[i] = (uint64_t)hash << 32 | (id + 1);
    return id;
}

/* The id of a str; RS_DUMP_NO_STRING with an exception set on error. */
static uint32_t pool_add_str(string_pool *p, PyObject *text)
{
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &len);
    if (utf8 == NULL)
        return RS_DUMP_NO_STRING;
    uint32_t id = pool_add(p, utf8, (size_t)len);
    if (id == RS_DUMP_NO_STRING)
        PyErr_NoMemory();
    return id;
}

/* pool_add_str() of a new reference, which it releases (NULL: error passed on). */
static uint32_t pool_take(string_pool *p, PyObject *text)
{
    if (text == NULL)
        return RS_DUMP_NO_STRING;
    uint32_t id = pool_add_str(p, text);
    Py_DECREF(text);
    return id;
}

/* --- the writer: sections streamed through one FILE ----------------------- */

typedef struct writer {
    rs_snapshot *snap;
    FILE *file;
    rs_dump_header header;
    rs_dump_section_entry *section; /* the one being written */
    uint64_t offset;
    string_pool pool;
    int io_error;
    size_t buffered;    /* bytes in buf not yet handed to the FILE */
    unsigned char *buf; /* WRITE_BUFFER bytes: most records are 4 to 40 */
} writer;

#define WRITE_BUFFER (1 << 16)

static void flush_buffer(writer *w)
{
    if (w->buffered > 0 && !w->io_error && fwrite(w->buf, 1, w->buffered, w->file) != w->buffered)
        w->io_error = errno ? errno : EIO;
    w->buffered = 0;
}

static void write_bytes(writer *w, const void *data, size_t len)
{
    if (len == 0 || w->io_error)
        return;
    if (w->buffered + len > WRITE_BUFFER)
        flush_buffer(w);
    if (len > WRITE_BUFFER) {
        if (!w->io_error && fwrite(data, 1, len, w->file) != len)
            w->io_error = errno ? errno : EIO;
    } else {
        memcpy(w->buf + w->buffered, data, len);
        w->buffered += len;
    }
    w->offset += len;
    if (w->section != NULL) {
        w->section->crc = rs_dump_crc32(w->section->crc, data, len);
        w->section->length += len;
    }
}

static void section_begin(writer *w, uint32_t id)
{
    static const char zeros[8];
    w->section = NULL;
    write_bytes(w, zeros, (8 - w->offset % 8) % 8);
    w->section = &w->header.sections[id];
    *w->section = (rs_dump_section_entry){.id = id, .offset = w->offset};
}

static void section_end(writer *w, uint64_t count)
{
    w->section->count = count;
    w->section = NULL;
}

/* A bounded repr of obj that runs no Python code: reprs of C types whose
 * size is bounded, the first characters of a str/bytes, a short
 * description of everything else.  New str, or NULL when nothing is worth
 * storing (the reader shows "<type at address>"), NULL with an error set
 * on MemoryError. */
static PyObject *stored_repr(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (PyUnicode_CheckExact(obj) || PyBytes_CheckExact(obj)) {
        Py_ssize_t len = PyUnicode_CheckExact(obj) ? PyUnicode_GET_LENGTH(obj) : PyBytes_GET_SIZE(obj);
        if (len <= STRING_REPR_MAX)
            return rs_safe_repr(obj, STRING_REPR_MAX + 3);
        PyObject *head = PyUnicode_CheckExact(obj) ? PyUnicode_Substring(obj, 0, STRING_REPR_MAX)
                                                   : PyBytes_FromStringAndSize(PyBytes_AS_STRING(obj), STRING_REPR_MAX);
        PyObject *r = head ? rs_safe_repr(head, STRING_REPR_MAX + 3) : NULL;
        Py_XDECREF(head);
        PyObject *text = r ? PyUnicode_FromFormat("%U... (%zd %s)", r, len, PyUnicode_CheckExact(obj) ? "characters" : "bytes") : NULL;
        Py_XDECREF(r);
        return text;
    }
    if (PyLong_CheckExact(obj)) {
        /* Past 64 bits the decimal repr costs more than a line is worth. */
        int overflow;
        PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow)
            return rs_safe_repr(obj, REPR_MAX);
        PyObject *bits = PyObject_CallMethod(obj, "bit_length", NULL);
        PyObject *text = bits ? PyUnicode_FromFormat("<int of %S bits>", bits) : NULL;
        Py_XDECREF(bits);
        return text;
    }
    if (PyFloat_CheckExact(obj) || PyComplex_CheckExact(obj) || PyBool_Check(obj) || obj == Py_None ||
        PyModule_CheckExact(obj) || PyFunction_Check(obj) || PyCFunction_Check(obj) || PyCode_Check(obj) ||
        PyType_Check(obj))
        return rs_safe_repr(obj, REPR_MAX);
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj) || PyDict_CheckExact(obj) || PyAnySet_CheckExact(obj) ||
        PyByteArray_CheckExact(obj))
        return PyUnicode_FromFormat("<%s of %zd items>", tp->tp_name, PyObject_Length(obj));
    return NULL;
}

static int write_nodes(writer *w)
{
    rs_graph *g = w->snap->graph;
    size_t n = rs_graph_node_count(g);
    uint32_t edge = 0;
    section_begin(w, RS_DUMP_NODES);
    for (size_t i = 0; i < n && !w->io_error; i++) {
        rs_idx x = (rs_idx)i;
        uint32_t flags = rs_graph_flags(g, x);
        uint32_t repr = RS_DUMP_NO_STRING;
        if (!(flags & RS_NODE_INTERNAL)) {
            PyObject *r = stored_repr(rs_snapshot_object(w->snap, x));
            if (r == NULL && PyErr_Occurred())
                return -1;
            if (r != NULL && (repr = pool_take(&w->pool, r)) == RS_DUMP_NO_STRING)
                return -1;
        }
        long unexplained = (flags & RS_NODE_INTERNAL) ? 0 : rs_snapshot_unexplained(w->snap, x);
        rs_dump_node rec = {
            .address = rs_graph_addr(g, x),
            .size = rs_graph_size(g, x),
            .refcount = rs_graph_refcount(g, x),
            .unexplained = (int32_t)unexplained,
            .type_id = rs_graph_type_id(g, x),
            .flags = flags,
            .edge_start = edge,
            .repr = repr,
        };
        size_t count;
        rs_graph_referents(g, x, &count);
        edge += (uint32_t)count;
        write_bytes(w, &rec, sizeof rec);
    }
    section_end(w, n);
    return 0;
}

static int write_targets(writer *w)
{
    rs_graph *g = w->snap->graph;
    size_t n = rs_graph_node_count(g);
    section_begin(w, RS_DUMP_TARGETS);
    for (size_t i = 0; i < n; i++) {
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, (rs_idx)i, &count);
        write_bytes(w, targets, count * sizeof *targets);
    }
    section_end(w, rs_graph_edge_count(g));
    return 0;
}

/* The number N of a label prefix + N + suffix (N decimal, no leading
 * zero, below 2^30), or -1 when the label is not of that form. */
static long label_number(const char *text, size_t len, const char *prefix, const char *suffix)
{
    size_t pre = strlen(prefix), suf = strlen(suffix);
    if (len <= pre + suf || len - pre - suf > 10 || memcmp(text, prefix, pre) != 0 ||
        memcmp(text + len - suf, suffix, suf) != 0 || (text[pre] == '0' && len - pre - suf > 1))
        return -1;
    long n = 0;
    for (size_t i = pre; i < len - suf; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        n = n * 10 + (text[i] - '0');
    }
    return n < (1l << 30) ? n : -1;
}

/* A label as a code: "[N]", "<referent N>" and "<item>" without a string. */
static uint32_t label_code(writer *w, PyObject *label)
{
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(label, &len);
    if (text == NULL)
        return RS_DUMP_NO_STRING;
    long number;
    if ((number = label_number(text, (size_t)len, "[", "]")) >= 0)
        return (RS_DUMP_LABEL_ITEM << 30) | (uint32_t)number;
    if ((number = label_number(text, (size_t)len, "<referent ", ">")) >= 0)
        return (RS_DUMP_LABEL_REFERENT << 30) | (uint32_t)number;
    if (len == 6 && memcmp(text, "<item>", 6) == 0)
        return RS_DUMP_LABEL_SET_ITEM << 30;
    uint32_t id = pool_add_str(&w->pool, label);
    if (id >= (1u << 30) && id != RS_DUMP_NO_STRING) {
        PyErr_SetString(rs_error, "too many distinct edge labels for a dump (2^30)");
        return RS_DUMP_NO_STRING;
    }
    return id;
}

/* One pass over a wide dict/list/tuple/set: its items enumerated once and
 * hashed by pointer, so labelling costs the holder's width once instead of
 * once per edge.  As in label.c, the n-th edge to the same object takes the
 * n-th item that holds it (whatever order tp_traverse visits them in), and
 * an edge no item explains gets "<referent k>". */
typedef struct wide_item {
    PyObject *ptr;
    PyObject *key;  /* dict entries: the key (a strong reference) */
    int kind;       /* 0 value "[key]", 1 key "<key ...>", 2 index "[i]" */
    Py_ssize_t index;
    size_t next;    /* the next item holding the same pointer, or SIZE_MAX */
} wide_item;

typedef struct wide_slot {
    PyObject *ptr;  /* NULL: empty */
    size_t head;    /* the first item not yet matched, or SIZE_MAX */
    size_t tail;
} wide_slot;

static size_t wide_enumerate(PyObject *obj, wide_item *items, size_t max)
{
    size_t n = 0;
    if (PyDict_CheckExact(obj)) {
        int keys = rs_py_dict_visits_keys(obj);
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(obj, &pos, &key, &value) && n + 2 <= max) {
            items[n++] = (wide_item){.ptr = value, .key = key, .kind = 0};
            if (keys)
                items[n++] = (wide_item){.ptr = key, .key = key, .kind = 1};
        }
    } else if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
        Py_ssize_t size = PySequence_Fast_GET_SIZE(obj);
        PyObject **seq = PySequence_Fast_ITEMS(obj);
        for (Py_ssize_t i = 0; i < size && n < max; i++)
            items[n++] = (wide_item){.ptr = seq[i], .kind = 2, .index = i};
    }
    return n;
}

/* The slot of ptr in a table of mask + 1 slots. */
static wide_slot *wide_slot_of(wide_slot *slots, size_t mask, PyObject *ptr)
{
    size_t i = ((uintptr_t)ptr >> 4) * 11400714819323198485ull & mask;
    while (slots[i].ptr != NULL && slots[i].ptr != ptr)
        i = (i + 1) & mask;
    return &slots[i];
}

/* The label code of items[j]; RS_DUMP_NO_STRING with an exception set. */
static uint32_t wide_label(writer *w, const wide_item *item)
{
    if (item->kind == 2)
        return (RS_DUMP_LABEL_ITEM << 30) | (uint32_t)(item->index & 0x3fffffff);
    PyObject *kr = rs_safe_repr(item->key, 40);
    PyObject *label = kr ? PyUnicode_FromFormat(item->kind == 0 ? "[%U]" : "<key %U>", kr) : NULL;
    Py_XDECREF(kr);
    uint32_t code = label ? label_code(w, label) : RS_DUMP_NO_STRING;
    Py_XDECREF(label);
    return code;
}

static int write_wide_labels(writer *w, PyObject *obj, const rs_idx *targets, size_t count)
{
    size_t max = 2 * count + 2, slot_count = 16;
    while (slot_count < 2 * max)
        slot_count *= 2;
    wide_item *items = rs_malloc(max * sizeof *items);
    wide_slot *slots = rs_calloc(slot_count, sizeof *slots);
    if (items == NULL || slots == NULL) {
        rs_free(items);
        rs_free(slots);
        PyErr_NoMemory();
        return -1;
    }
    size_t n = PyAnySet_CheckExact(obj) ? 0 : wide_enumerate(obj, items, max);
    for (size_t j = 0; j < n; j++) {
        Py_XINCREF(items[j].key); /* a key's __repr__ may change the dict */
        items[j].next = SIZE_MAX;
        wide_slot *slot = wide_slot_of(slots, slot_count - 1, items[j].ptr);
        if (slot->ptr == NULL)
            *slot = (wide_slot){.ptr = items[j].ptr, .head = j, .tail = j};
        else if (slot->head == SIZE_MAX)
            slot->head = slot->tail = j;
        else
            slot->tail = items[slot->tail].next = j;
    }
    int r = 0;
    for (size_t k = 0; k < count && r == 0; k++) {
        uint32_t code = PyAnySet_CheckExact(obj) ? RS_DUMP_LABEL_SET_ITEM << 30
                                                 : (RS_DUMP_LABEL_REFERENT << 30) | (uint32_t)(k & 0x3fffffff);
        wide_slot *slot = n ? wide_slot_of(slots, slot_count - 1, rs_snapshot_object(w->snap, targets[k])) : NULL;
        if (slot != NULL && slot->ptr != NULL && slot->head != SIZE_MAX) {
            size_t j = slot->head;
            slot->head = items[j].next;
            if ((code = wide_label(w, &items[j])) == RS_DUMP_NO_STRING)
                r = -1;
        }
        write_bytes(w, &code, sizeof code);
    }
    for (size_t j = 0; j < n; j++)
        Py_XDECREF(items[j].key);
    rs_free(items);
    rs_free(slots);
    return r;
}

static int write_labels(writer *w)
{
    rs_snapshot *s = w->snap;
    size_t n = rs_graph_node_count(s->graph);
    section_begin(w, RS_DUMP_LABELS);
    for (size_t i = 0; i < n && !w->io_error; i++) {
        size_t count;
        const rs_idx *targets = rs_graph_referents(s->graph, (rs_idx)i, &count);
        PyObject *obj = rs_snapshot_object(s, (rs_idx)i);
        bool internal = rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL;
        if (!internal && count > LABEL_PER_EDGE_MAX &&
            (PyDict_CheckExact(obj) || PyList_CheckExact(obj) || PyTuple_CheckExact(obj) || PyAnySet_CheckExact(obj))) {
            if (write_wide_labels(w, obj, targets, count) < 0)
                return -1;
            continue;
        }
        for (size_t k = 0; k < count; k++) {
            uint32_t code = (RS_DUMP_LABEL_REFERENT << 30) | (uint32_t)(k & 0x3fffffff);
            /* Wide holders of other types get the placeholder past the bound:
             * a label costs the holder's width, so no quadratic dump. */
            if (!internal && k < 4 * LABEL_PER_EDGE_MAX) {
                PyObject *label = rs_label_referent(s, (rs_idx)i, k);
                code = label ? label_code(w, label) : RS_DUMP_NO_STRING;
                Py_XDECREF(label);
                if (code == RS_DUMP_NO_STRING)
                    return -1;
            }
            write_bytes(w, &code, sizeof code);
        }
    }
    section_end(w, rs_graph_edge_count(s->graph));
    return 0;
}

static int write_roots(writer *w)
{
    size_t count;
    const rs_root *roots = rs_graph_roots(w->snap->graph, &count);
    section_begin(w, RS_DUMP_ROOTS);
    for (size_t i = 0; i < count; i++) {
        uint32_t label = pool_take(&w->pool, rs_label_root(w->snap, &roots[i]));
        if (label == RS_DUMP_NO_STRING)
            return -1;
        rs_dump_root rec = {.target = roots[i].target, .kind = roots[i].kind, .label = label};
        write_bytes(w, &rec, sizeof rec);
    }
    section_end(w, count);
    return 0;
}

static int write_types(writer *w)
{
    section_begin(w, RS_DUMP_TYPES);
    for (uint32_t t = 0; t < w->snap->type_count; t++) {
        uint32_t id = pool_add(&w->pool, w->snap->types[t].name, strlen(w->snap->types[t].name));
        if (id == RS_DUMP_NO_STRING) {
            PyErr_NoMemory();
            return -1;
        }
        write_bytes(w, &id, sizeof id);
    }
    section_end(w, w->snap->type_count);
    return 0;
}

/* Threads, frames and locals are small (a few per thread): collected in
 * memory, then written as three sections. */
typedef struct frame_tables {
    rs_dump_thread *threads;
    rs_dump_frame *frames;
    rs_dump_local *locals;
    size_t thread_count, frame_count, local_count;
    size_t frame_cap, local_cap;
} frame_tables;

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Appends a frame (code, line) with its locals (taken: freed here). */
static int add_frame(writer *w, frame_tables *t, PyObject *code_obj, int line, rs_local *locals, size_t nlocals)
{
    if (locals == NULL)
        return -1;
    int r = -1;
    if (t->frame_count == t->frame_cap) {
        size_t cap = t->frame_cap ? 2 * t->frame_cap : 64;
        rs_dump_frame *frames = rs_realloc(t->frames, cap * sizeof *frames);
        if (frames == NULL)
            goto done;
        t->frames = frames;
        t->frame_cap = cap;
    }
    if (t->local_count + nlocals > t->local_cap) {
        size_t cap = t->local_cap ? 2 * t->local_cap : 256;
        while (cap < t->local_count + nlocals)
            cap *= 2;
        rs_dump_local *more = rs_realloc(t->locals, cap * sizeof *more);
        if (more == NULL)
            goto done;
        t->locals = more;
        t->local_cap = cap;
    }
    PyCodeObject *code = (PyCodeObject *)code_obj;
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL)
        PyErr_Clear();
    rs_dump_frame f = {.first_local = (uint32_t)t->local_count, .local_count = (uint32_t)nlocals};
    f.function = pool_add_str(&w->pool, code->co_qualname);
    f.where = pool_take(&w->pool, PyUnicode_FromFormat("%s:%d", file ? basename_of(file) : "?", line));
    if (f.function == RS_DUMP_NO_STRING || f.where == RS_DUMP_NO_STRING)
        goto error_set;
    for (size_t i = 0; i < nlocals; i++) {
        uint32_t name = pool_add_str(&w->pool, locals[i].name);
        if (name == RS_DUMP_NO_STRING)
            goto error_set;
        t->locals[t->local_count++] = (rs_dump_local){.name = name, .value = locals[i].value};
    }
    t->frames[t->frame_count++] = f;
    r = 0;
    goto error_set;
done:
    PyErr_NoMemory();
error_set:
    rs_free(locals);
    return r;
}

static int collect_frames(writer *w, frame_tables *t)
{
    rs_snapshot *s = w->snap;
    t->threads = rs_calloc((size_t)s->thread_count + 1, sizeof *t->threads);
    if (t->threads == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t k = 0; k < s->thread_count; k++) {
        const rs_thread_info *ti = &s->threads[k];
        rs_dump_thread *th = &t->threads[t->thread_count++];
        *th = (rs_dump_thread){.has_ident = 1, .ident = ti->ident, .first_frame = (uint32_t)t->frame_count};
        if ((th->name = pool_add(&w->pool, ti->name, strlen(ti->name))) == RS_DUMP_NO_STRING) {
            PyErr_NoMemory();
            return -1;
        }
        for (uint32_t f = ti->first_frame; f < ti->first_frame + ti->frame_count; f++) {
            if (s->frames[f].refscope) /* `refscope run`'s bootstrap, as frames() hides it */
                continue;
            size_t count;
            rs_local *locals = rs_frame_locals(s, f, &count);
            if (add_frame(w, t, s->frames[f].code, s->frames[f].line, locals, count) < 0)
                return -1;
        }
        th->frame_count = (uint32_t)t->frame_count - th->first_frame;
    }
    size_t count;
    rs_suspended_frame *suspended = rs_suspended_frames(s, &count);
    if (suspended == NULL)
        return -1;
    rs_dump_thread *th = &t->threads[t->thread_count++];
    static const char suspended_name[] = "<suspended generators and coroutines>";
    *th = (rs_dump_thread){.first_frame = (uint32_t)t->frame_count,
                           .name = pool_add(&w->pool, suspended_name, sizeof suspended_name - 1)};
    int r = th->name == RS_DUMP_NO_STRING ? (PyErr_NoMemory(), -1) : 0;
    for (size_t i = 0; r == 0 && i < count; i++) {
        size_t nlocals;
        rs_local *locals = rs_generator_locals(s, suspended[i].generator, &nlocals);
        r = add_frame(w, t, suspended[i].code, suspended[i].line, locals, nlocals);
    }
    rs_free(suspended);
    th->frame_count = (uint32_t)t->frame_count - th->first_frame;
    return r;
}

static int write_frames(writer *w)
{
    frame_tables t = {0};
    int r = collect_frames(w, &t);
    if (r == 0) {
        section_begin(w, RS_DUMP_THREADS);
        write_bytes(w, t.threads, t.thread_count * sizeof *t.threads);
        section_end(w, t.thread_count);
        section_begin(w, RS_DUMP_FRAMES);
        write_bytes(w, t.frames, t.frame_count * sizeof *t.frames);
        section_end(w, t.frame_count);
        section_begin(w, RS_DUMP_LOCALS);
        write_bytes(w, t.locals, t.local_count * sizeof *t.locals);
        section_end(w, t.local_count);
    }
    rs_free(t.threads);
    rs_free(t.frames);
    rs_free(t.locals);
    return r;
}

static int write_closures(writer *w)
{
    size_t count;
    rs_closure_var *vars = rs_closures(w->snap, &count);
    if (vars == NULL)
        return -1;
    int r = 0;
    section_begin(w, RS_DUMP_CLOSURES);
    for (size_t i = 0; r == 0 && i < count; i++) {
        uint32_t name = pool_take(&w->pool, rs_closure_var_name(w->snap, &vars[i]));
        rs_dump_closure rec = {.function = vars[i].function, .value = vars[i].value, .name = name, .cell = vars[i].cell};
        if (name == RS_DUMP_NO_STRING)
            r = -1;
        else
            write_bytes(w, &rec, sizeof rec);
    }
    section_end(w, count);
    rs_free(vars);
    return r;
}

/* obj's allocation traceback as tracemalloc's Traceback.format() lines,
 * most recent call last, or NULL (no error) when it has none. */
static PyObject *traceback_text(PyObject *obj)
{
    PyObject *tb = rs_allocation_traceback(obj);
    if (tb == NULL || tb == Py_None) {
        Py_XDECREF(tb);
        return NULL;
    }
    PyObject *lines = PyObject_CallMethod(tb, "format", NULL);
    Py_DECREF(tb);
    PyObject *sep = lines ? PyUnicode_FromString("\n") : NULL;
    PyObject *text = sep ? PyUnicode_Join(sep, lines) : NULL;
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    return text;
}

/* 1 when tracemalloc traces allocations, 0 when not, -1 on error.  Asked
 * before anything is written: importing tracemalloc can change objects the
 * labels describe (an import refreshes the path finders' caches). */
static int tracing_allocations(void)
{
    PyObject *tracemalloc = PyImport_ImportModule("tracemalloc");
    PyObject *tracing = tracemalloc ? PyObject_CallMethod(tracemalloc, "is_tracing", NULL) : NULL;
    Py_XDECREF(tracemalloc);
    if (tracing == NULL)
        return -1;
    int on = tracing == Py_True;
    Py_DECREF(tracing);
    return on;
}

static int write_allocations(writer *w)
{
    rs_snapshot *s = w->snap;
    section_begin(w, RS_DUMP_ALLOCATIONS);
    size_t written = 0, n = w->header.tracemalloc ? rs_graph_node_count(s->graph) : 0;
    for (size_t i = 0; i < n; i++) {
        if (rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL)
            continue;
        PyObject *text = traceback_text(rs_snapshot_object(s, (rs_idx)i));
        if (text == NULL) {
            if (PyErr_Occurred())
                return -1;
            continue;
        }
        rs_dump_allocation rec = {.node = (uint32_t)i, .traceback = pool_take(&w->pool, text)};
        if (rec.traceback == RS_DUMP_NO_STRING)
            return -1;
        write_bytes(w, &rec, sizeof rec);
        written++;
    }
    section_end(w, written);
    return 0;
}

static void write_strings(writer *w)
{
    uint64_t zero = 0;
    section_begin(w, RS_DUMP_STRING_INDEX);
    if (w->pool.count == 0)
        write_bytes(w, &zero, sizeof zero);
    else
        write_bytes(w, w->pool.offsets, ((size_t)w->pool.count + 1) * sizeof *w->pool.offsets);
    section_end(w, w->pool.count);
    section_begin(w, RS_DUMP_STRING_BYTES);
    write_bytes(w, w->pool.bytes, w->pool.len);
    section_end(w, w->pool.len);
    w->header.string_count = w->pool.count;
}

static int fill_header(writer *w)
{
    rs_snapshot *s = w->snap;
    rs_dump_header *h = &w->header;
    rs_process_memory m;
    int tracing = tracing_allocations();
    if (tracing < 0 || rs_process_memory_read(s, &m) < 0)
        return -1;
    h->tracemalloc = (uint32_t)tracing;
    memcpy(h->magic, RS_DUMP_MAGIC, sizeof h->magic);
    h->version = RS_DUMP_VERSION;
    h->header_size = sizeof *h;
    h->section_count = RS_DUMP_SECTION_COUNT;
    h->pid = (uint64_t)getpid();
    h->time = (int64_t)time(NULL);
    snprintf(h->python_version, sizeof h->python_version, "%s", PY_VERSION);
    h->node_count = rs_graph_node_count(s->graph);
    h->edge_count = rs_graph_edge_count(s->graph);
    h->visible_count = s->visible_count;
    h->snapshot_seconds = s->seconds;
    h->memory_objects = m.objects;
    h->memory_rss = m.rss;
    h->have_arenas = m.have_arenas;
    h->arena_bytes = m.arena_bytes;
    h->arena_count = m.arena_count;
    h->arena_used = m.arena_used;
    h->arena_free = m.arena_free;
    h->arena_overhead = m.arena_overhead;
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int rs_dump_write(rs_snapshot *s, const char *path)
{
    double start = now_seconds();
    if (rs_graph_edge_count(s->graph) >= UINT32_MAX) {
        PyErr_SetString(rs_error, "this snapshot has too many edges for a dump (2^32)");
        return -1;
    }
    size_t tmp_len = strlen(path) + 32;
    char *tmp = rs_malloc(tmp_len);
    if (tmp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    snprintf(tmp, tmp_len, "%s.%ld.tmp", path, (long)getpid());
    writer w = {.snap = s, .buf = rs_malloc(WRITE_BUFFER)};
    if (w.buf == NULL) {
        rs_free(tmp);
        PyErr_NoMemory();
        return -1;
    }
    /* A dump holds the program's data (its strings): for its owner only. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    w.file = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (w.file == NULL) {
        if (fd >= 0)
            close(fd);
        rs_free(w.buf);
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(errno));
        rs_free(tmp);
        return -1;
    }
    write_bytes(&w, &w.header, sizeof w.header); /* placeholder, rewritten last */
    int r = -1;
    if (fill_header(&w) < 0 || write_nodes(&w) < 0 || write_targets(&w) < 0 || write_labels(&w) < 0 ||
        write_roots(&w) < 0 || write_types(&w) < 0 || write_frames(&w) < 0 || write_closures(&w) < 0 ||
        write_allocations(&w) < 0)
        goto done;
    write_strings(&w);
    w.header.write_seconds = now_seconds() - start;
    w.header.header_crc = 0;
    w.header.header_crc = rs_dump_crc32(0, &w.header, sizeof w.header);
    flush_buffer(&w);
    if (!w.io_error && (fflush(w.file) != 0 || fseek(w.file, 0, SEEK_SET) != 0))
        w.io_error = errno ? errno : EIO;
    w.offset = 0;
    write_bytes(&w, &w.header, sizeof w.header);
    flush_buffer(&w);
    if (!w.io_error && fflush(w.file) != 0)
        w.io_error = errno ? errno : EIO;
    if (w.io_error) {
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(w.io_error));
        goto done;
    }
    r = 0;
done:
    if (fclose(w.file) != 0 && r == 0) {
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(errno));
        r = -1;
    }
    if (r == 0 && rename(tmp, path) != 0) {
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(errno));
        r = -1;
    }
    if (r < 0)
        unlink(tmp);
    rs_free(tmp);
    rs_free(w.buf);
    pool_free(&w.pool);
    return r;
}

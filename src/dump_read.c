/*
 * Reading heap dumps (the format is dump.h's and man/refscope.1's).  The
 * file is mapped and checked in stages (header, checksums, every count and
 * index in range) so that no later access can leave the mapping; then an
 * rs_graph is rebuilt whose node i is record i, so that the graph-only
 * analyses (census, paths, SCC, dominators, garbage, retained sizes) run
 * over a dump exactly as over a live snapshot.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "dump.h"
#include "module.h"
#include "refscope/dom.h"
#include "refscope/scc.h"

static PyObject *bad_file(const char *path, const char *what)
{
    PyErr_Format(rs_error, "%s is not a usable refscope dump: %s", path, what);
    return NULL;
}

/* Record size of each section (0: bytes). */
static const size_t record_size[RS_DUMP_SECTION_COUNT] = {
    [RS_DUMP_NODES] = sizeof(rs_dump_node),
    [RS_DUMP_TARGETS] = sizeof(uint32_t),
    [RS_DUMP_LABELS] = sizeof(uint32_t),
    [RS_DUMP_ROOTS] = sizeof(rs_dump_root),
    [RS_DUMP_TYPES] = sizeof(uint32_t),
    [RS_DUMP_THREADS] = sizeof(rs_dump_thread),
    [RS_DUMP_FRAMES] = sizeof(rs_dump_frame),
    [RS_DUMP_LOCALS] = sizeof(rs_dump_local),
    [RS_DUMP_CLOSURES] = sizeof(rs_dump_closure),
    [RS_DUMP_ALLOCATIONS] = sizeof(rs_dump_allocation),
    [RS_DUMP_STRING_INDEX] = sizeof(uint64_t),
    [RS_DUMP_STRING_BYTES] = 1,
    [RS_DUMP_BIG_SIZES] = sizeof(rs_dump_big_size),
};

/* Bytes of a header with section_count sections (its fixed part, then the
 * table: version 1 has one section fewer). */
static size_t header_bytes(uint32_t section_count)
{
    return offsetof(rs_dump_header, sections) + section_count * sizeof(rs_dump_section_entry);
}

static uint32_t section_count_of(uint32_t version)
{
    return version == 1 ? RS_DUMP_SECTION_COUNT_V1 : RS_DUMP_SECTION_COUNT;
}

/* Stage 1: after it, the header is whole, of a version this reader
 * knows, and every section lies inside the file with a length that
 * matches its count. */
static const char *check_header(const unsigned char *map, size_t len)
{
    if (len < 8 || memcmp(map, RS_DUMP_MAGIC, 8) != 0)
        return "it does not start with the dump magic (write one with refscope.dump() or refscope dump PID)";
    if (len < header_bytes(0))
        return "the file is truncated (shorter than a dump header)";
    /* A copy, as long as this version's header, the rest zero: version
     * 1's is one section entry shorter than the struct. */
    rs_dump_header h;
    memcpy(&h, map, header_bytes(0));
    if (h.version < RS_DUMP_VERSION_OLDEST || h.version > RS_DUMP_VERSION) {
        static char text[128];
        snprintf(text, sizeof text, "it is dump format version %u; this refscope reads versions %u to %u", h.version,
                 RS_DUMP_VERSION_OLDEST, RS_DUMP_VERSION);
        return text;
    }
    uint32_t sections = section_count_of(h.version);
    size_t size = header_bytes(sections);
    if (len < size)
        return "the file is truncated (shorter than a dump header)";
    memset(&h, 0, sizeof h);
    memcpy(&h, map, size);
    uint32_t crc = h.header_crc;
    h.header_crc = 0;
    if (h.header_size != size || h.section_count != sections || rs_dump_crc32(0, &h, size) != crc)
        return "the header's checksum does not match (the file is damaged)";
    bool ended = false;
    for (size_t i = 0; i < sizeof h.python_version; i++) {
        char c = h.python_version[i];
        if (c == '\0')
            ended = true;
        else if (ended || c < ' ' || c > '~')
            return "the header's Python version is not text (the file is damaged)";
    }
    if (!ended)
        return "the header's Python version is not text (the file is damaged)";
    for (uint32_t i = 0; i < sections; i++) {
        const rs_dump_section_entry *e = &h.sections[i];
        if (e->id != i || e->offset % 8 != 0 || e->offset > len || e->length > len - e->offset)
            return "the file is truncated (a section ends past its end)";
        size_t record = i == RS_DUMP_NODES && h.version == 1 ? sizeof(rs_dump_node_v1) : record_size[i];
        uint64_t expected = i == RS_DUMP_STRING_INDEX ? (e->count + 1) * 8 : e->count * record;
        if (e->count > len || e->length != expected)
            return "a section's length does not match its record count";
    }
    return NULL;
}

/* Stage 2: every section's bytes are the ones written. */
static const char *check_checksums(const unsigned char *map, const rs_dump_header *h)
{
    for (uint32_t i = 0; i < h->section_count; i++) {
        const rs_dump_section_entry *e = &h->sections[i];
        if (rs_dump_crc32(0, map + e->offset, e->length) != e->crc)
            return "a section's checksum does not match (the file is damaged)";
    }
    return NULL;
}

static bool string_ok(const rs_dump *d, uint32_t id, bool optional)
{
    return id < d->header->string_count || (optional && id == RS_DUMP_NO_STRING);
}

/* Stage 3: after it, every count agrees with the header, every node, edge,
 * string and type index is in range and the CSR offsets never decrease, so
 * the rest of refscope may index without checking. */
static const char *check_structure(rs_dump *d)
{
    const rs_dump_header *h = d->header;
    const rs_dump_section_entry *s = h->sections;
    uint64_t n = h->node_count, e = h->edge_count, strings = h->string_count;
    if (s[RS_DUMP_NODES].count != n || s[RS_DUMP_TARGETS].count != e || s[RS_DUMP_LABELS].count != e ||
        s[RS_DUMP_STRING_INDEX].count != strings || n >= RS_NONE || e >= UINT32_MAX || strings >= RS_DUMP_NO_STRING)
        return "the section counts disagree with the header";
    if (h->visible_count > n)
        return "the header counts more visible objects than objects";
    const uint64_t *index = d->string_index;
    if (index[0] != 0 || index[strings] != s[RS_DUMP_STRING_BYTES].length)
        return "the string table is damaged";
    for (uint64_t i = 0; i < strings; i++)
        if (index[i + 1] < index[i])
            return "the string table is damaged";
    uint64_t visible = 0, big = 0;
    for (uint64_t i = 0; i < n; i++) {
        const rs_dump_node *x = &d->nodes[i];
        uint64_t end = i + 1 < n ? d->nodes[i + 1].edge_start : e;
        if ((i == 0 && x->edge_start != 0) || x->edge_start > end || end > e)
            return "an object's edge list lies outside the edge table";
        if (x->type_id >= d->type_count || !string_ok(d, x->repr, true) || x->address == 0)
            return "an object names a type or text the dump does not have";
        visible += !(x->flags & RS_NODE_INTERNAL);
        big += x->size == RS_DUMP_SIZE_BIG;
    }
    if (visible != h->visible_count)
        return "the header's visible object count is wrong";
    /* Each node marked big has its entry, and only those: rs_dump_node_size()
     * then always finds one. */
    if (big != d->big_size_count)
        return "the table of big sizes does not match the objects";
    for (size_t i = 0; i < d->big_size_count; i++) {
        const rs_dump_big_size *b = &d->big_sizes[i];
        if (b->node >= n || d->nodes[b->node].size != RS_DUMP_SIZE_BIG || b->size < RS_DUMP_SIZE_BIG ||
            (i > 0 && b->node <= d->big_sizes[i - 1].node))
            return "the table of big sizes does not match the objects";
    }
    for (uint64_t k = 0; k < e; k++) {
        uint32_t code = d->labels[k];
        if (d->targets[k] >= n || (RS_DUMP_LABEL_KIND(code) == RS_DUMP_LABEL_STRING && !string_ok(d, code, false)))
            return "an edge points outside the object table";
    }
    for (size_t i = 0; i < d->root_count; i++)
        if (d->roots[i].target >= n || d->roots[i].kind >= RS_ROOT_KIND_COUNT || !string_ok(d, d->roots[i].label, false))
            return "a root points outside the object table";
    for (size_t i = 0; i < d->type_count; i++)
        if (!string_ok(d, d->types[i], false))
            return "a type name is missing";
    for (size_t i = 0; i < d->thread_count; i++) {
        const rs_dump_thread *t = &d->threads[i];
        if (!string_ok(d, t->name, false) || t->first_frame > d->frame_count ||
            t->frame_count > d->frame_count - t->first_frame)
            return "a thread's frames lie outside the frame table";
    }
    for (size_t i = 0; i < d->frame_count; i++) {
        const rs_dump_frame *f = &d->frames[i];
        if (!string_ok(d, f->function, false) || !string_ok(d, f->where, false) || f->first_local > d->local_count ||
            f->local_count > d->local_count - f->first_local)
            return "a frame's locals lie outside the local table";
    }
    for (size_t i = 0; i < d->local_count; i++)
        if (!string_ok(d, d->locals[i].name, false) || d->locals[i].value >= n)
            return "a local points outside the object table";
    for (size_t i = 0; i < d->closure_count; i++) {
        const rs_dump_closure *c = &d->closures[i];
        if (c->function >= n || c->value >= n || c->cell >= n || !string_ok(d, c->name, false))
            return "a closure points outside the object table";
    }
    for (size_t i = 0; i < d->allocation_count; i++)
        if (d->allocations[i].node >= n || !string_ok(d, d->allocations[i].traceback, false) ||
            (i > 0 && d->allocations[i].node <= d->allocations[i - 1].node))
            return "an allocation traceback points outside the object table";
    return NULL;
}

/* true when text[0..len) is UTF-8 without NUL (a C string Python can decode). */
static bool utf8_text(const unsigned char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = text[i];
        size_t more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
        if (c == 0 || more == 4 || (more == 1 && c < 0xc2) || i + more >= len + (more == 0))
            return false;
        for (size_t k = 1; k <= more; k++)
            if ((text[i + k] & 0xc0) != 0x80)
                return false;
        i += more + 1;
    }
    return true;
}

/* The threads and frames tables as the walk fills them, from the stored
 * ones (the suspended generators' entry becomes a thread of its own): the
 * frames have no code object; node.c answers for them.  0, or -1 (memory). */
static int build_frames(rs_dump *d)
{
    rs_snapshot *s = d->snap;
    s->threads = rs_calloc(d->thread_count ? d->thread_count : 1, sizeof *s->threads);
    s->frames = rs_calloc(d->frame_count ? d->frame_count : 1, sizeof *s->frames);
    if (s->threads == NULL || s->frames == NULL)
        return -1;
    for (size_t t = 0; t < d->thread_count; t++) {
        const rs_dump_thread *th = &d->threads[t];
        uint32_t id = th->name;
        size_t len = (size_t)(d->string_index[id + 1] - d->string_index[id]);
        char *name = rs_malloc(len + 1);
        if (name == NULL)
            return -1;
        memcpy(name, d->string_bytes + d->string_index[id], len);
        name[len] = '\0';
        s->threads[t] = (rs_thread_info){.ident = (unsigned long)th->ident, .name = name,
                                         .first_frame = th->first_frame, .frame_count = th->frame_count};
        s->thread_count = (uint32_t)t + 1;
        for (uint32_t f = th->first_frame; f < th->first_frame + th->frame_count; f++)
            s->frames[f] = (rs_frame_info){.thread = (uint32_t)t, .depth = f - th->first_frame,
                                           .function = RS_NONE};
    }
    s->frame_count = (uint32_t)d->frame_count;
    return 0;
}

/* Stage 4: the graph, node i = record i, as the walk would have built it. */
static int build_snapshot(rs_dump *d, const char *path)
{
    const rs_dump_header *h = d->header;
    size_t n = (size_t)h->node_count;
    rs_snapshot *s = rs_calloc(1, sizeof *s);
    if (s == NULL)
        goto nomem;
    d->snap = s;
    s->visible_count = (size_t)h->visible_count;
    s->seconds = h->snapshot_seconds;
    s->types = rs_calloc(d->type_count ? d->type_count : 1, sizeof *s->types);
    if (s->types == NULL)
        goto nomem;
    for (size_t t = 0; t < d->type_count; t++) {
        uint32_t id = d->types[t];
        size_t len = d->string_index[id + 1] - d->string_index[id];
        if (!utf8_text((const unsigned char *)d->string_bytes + d->string_index[id], len)) {
            bad_file(path, "a type name is not UTF-8 text");
            return -1;
        }
        if ((s->types[t].name = rs_malloc(len + 1)) == NULL)
            goto nomem;
        memcpy(s->types[t].name, d->string_bytes + d->string_index[id], len);
        s->types[t].name[len] = '\0';
        s->type_count = (uint32_t)t + 1;
    }
    rs_graph *g = s->graph = rs_graph_new(n, (size_t)h->edge_count);
    if (g == NULL)
        goto nomem;
    /* Interned a batch at a time, so that the hash table's misses overlap
     * (one at a time, they were half of the load's time). */
    enum { INTERN_BATCH = 1024 };
    uintptr_t addrs[INTERN_BATCH];
    rs_idx got[INTERN_BATCH];
    for (size_t first = 0; first < n; first += INTERN_BATCH) {
        size_t count = n - first < INTERN_BATCH ? n - first : INTERN_BATCH;
        for (size_t j = 0; j < count; j++)
            addrs[j] = (uintptr_t)d->nodes[first + j].address;
        if (rs_graph_intern_many(g, addrs, count, got) < 0)
            goto nomem;
        for (size_t j = 0; j < count; j++)
            if (got[j] != first + j) {
                bad_file(path, "two objects have the same address");
                return -1;
            }
    }
    for (size_t i = 0; i < n; i++) {
        const rs_dump_node *x = &d->nodes[i];
        uint32_t end = i + 1 < n ? d->nodes[i + 1].edge_start : (uint32_t)h->edge_count;
        /* Node i is record i, so targets are node indexes already
         * (check_structure() saw each below the node count). */
        if (rs_graph_begin_edges(g, (rs_idx)i) < 0 || rs_graph_add_edges_to(g, d->targets + x->edge_start, end - x->edge_start) < 0)
            goto nomem;
        uint64_t size = rs_dump_node_size(d, (uint32_t)i);
        rs_graph_set_size(g, (rs_idx)i, size);
        if (!(x->flags & RS_NODE_INTERNAL))
            s->visible_bytes += size;
        rs_graph_set_refcount(g, (rs_idx)i, x->refcount);
        rs_graph_set_type_id(g, (rs_idx)i, x->type_id);
        rs_graph_add_flags(g, (rs_idx)i, x->flags);
    }
    for (size_t r = 0; r < d->root_count; r++)
        if (rs_graph_add_root(g, d->roots[r].target, d->roots[r].kind, (uint32_t)r) < 0)
            goto nomem;
    if (rs_graph_finish(g) < 0 || rs_graph_node_count(g) != n)
        goto nomem;
    if (build_frames(d) < 0)
        goto nomem;
    s->stored = d;
    return 0;
nomem:
    PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory to open the dump");
    return -1;
}

static void free_snapshot(rs_snapshot *s)
{
    if (s == NULL)
        return;
    rs_scc_free(s->scc);
    rs_dom_free(s->dom);
    rs_dom_order_free(s->dom_order);
    rs_retained_memo_free(s->retained_memo);
    rs_suspect_cache_free(s);
    rs_graph_free(s->graph);
    for (uint32_t t = 0; t < s->type_count; t++)
        rs_free(s->types[t].name);
    rs_free(s->types);
    for (uint32_t t = 0; t < s->thread_count; t++)
        rs_free(s->threads[t].name);
    rs_free(s->threads);
    rs_free(s->frames);
    rs_free(s->node_kinds);
    rs_label_cache_free(s);
    rs_free(s);
}

/* A version 1 file read as version 2: its header with an empty BIG_SIZES
 * entry, its node records narrowed, the sizes that need 64 bits listed
 * apart, in one block (d->converted).  0, or -1 when out of memory.
 * After check_header(), before check_structure(), which checks the result
 * as it would a version 2 file. */
static int convert_v1(rs_dump *d, const unsigned char *map)
{
    const rs_dump_header *file = (const rs_dump_header *)map;
    const rs_dump_node_v1 *old = (const void *)(map + file->sections[RS_DUMP_NODES].offset);
    size_t n = (size_t)file->sections[RS_DUMP_NODES].count, big = 0;
    for (size_t i = 0; i < n; i++)
        big += old[i].size >= RS_DUMP_SIZE_BIG;
    char *block = rs_malloc(sizeof(rs_dump_header) + n * sizeof(rs_dump_node) + big * sizeof(rs_dump_big_size));
    if (block == NULL)
        return -1;
    d->converted = block;
    rs_dump_header *h = (rs_dump_header *)block;
    rs_dump_node *nodes = (rs_dump_node *)(block + sizeof *h);
    rs_dump_big_size *sizes = (rs_dump_big_size *)(nodes + n);
    memset(h, 0, sizeof *h);
    memcpy(h, map, header_bytes(RS_DUMP_SECTION_COUNT_V1));
    h->sections[RS_DUMP_BIG_SIZES] = (rs_dump_section_entry){.id = RS_DUMP_BIG_SIZES, .count = big};
    big = 0;
    for (size_t i = 0; i < n; i++) {
        const rs_dump_node_v1 *x = &old[i];
        nodes[i] = (rs_dump_node){.address = x->address, .size = x->size < RS_DUMP_SIZE_BIG ? (uint32_t)x->size : RS_DUMP_SIZE_BIG,
                                  .refcount = x->refcount, .type_id = x->type_id, .flags = x->flags,
                                  .edge_start = x->edge_start, .repr = x->repr};
        if (x->size >= RS_DUMP_SIZE_BIG)
            sizes[big++] = (rs_dump_big_size){.node = (uint32_t)i, .size = x->size};
    }
    d->header = h;
    d->nodes = nodes;
    d->big_sizes = sizes;
    d->big_size_count = big;
    return 0;
}

rs_dump *rs_dump_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        PyErr_Format(rs_error, "cannot open the dump %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        bad_file(path, "it is not a regular file");
        return NULL;
    }
    rs_dump *d = rs_calloc(1, sizeof *d);
    if (d == NULL) {
        close(fd);
        PyErr_NoMemory();
        return NULL;
    }
    d->map_len = (size_t)st.st_size;
    if (d->map_len > 0) {
        d->map = mmap(NULL, d->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (d->map == MAP_FAILED) {
            d->map = NULL;
            close(fd);
            PyErr_Format(rs_error, "cannot map the dump %s: %s", path, strerror(errno));
            rs_dump_close(d);
            return NULL;
        }
    }
    close(fd);
    const unsigned char *map = d->map ? d->map : (const unsigned char *)"";
    const char *why = check_header(map, d->map_len);
    if (why == NULL)
        why = check_checksums(map, (const rs_dump_header *)map);
    if (why != NULL) {
        bad_file(path, why);
        rs_dump_close(d);
        return NULL;
    }
    const rs_dump_header *h = d->header = (const rs_dump_header *)map;
#define SECTION(id) ((const void *)(map + h->sections[id].offset))
    if (h->version == 1) {
        /* Its table has no BIG_SIZES entry: not to be read past its end. */
        if (convert_v1(d, map) < 0) {
            rs_dump_close(d);
            PyErr_SetString(PyExc_MemoryError, "refscope: not enough memory to open the dump");
            return NULL;
        }
        h = d->header;
    } else {
        d->nodes = SECTION(RS_DUMP_NODES);
        d->big_sizes = SECTION(RS_DUMP_BIG_SIZES);
        d->big_size_count = (size_t)h->sections[RS_DUMP_BIG_SIZES].count;
    }
    d->targets = SECTION(RS_DUMP_TARGETS);
    d->labels = SECTION(RS_DUMP_LABELS);
    d->roots = SECTION(RS_DUMP_ROOTS);
    d->types = SECTION(RS_DUMP_TYPES);
    d->threads = SECTION(RS_DUMP_THREADS);
    d->frames = SECTION(RS_DUMP_FRAMES);
    d->locals = SECTION(RS_DUMP_LOCALS);
    d->closures = SECTION(RS_DUMP_CLOSURES);
    d->allocations = SECTION(RS_DUMP_ALLOCATIONS);
    d->string_index = SECTION(RS_DUMP_STRING_INDEX);
    d->string_bytes = SECTION(RS_DUMP_STRING_BYTES);
#undef SECTION
    d->root_count = (size_t)h->sections[RS_DUMP_ROOTS].count;
    d->type_count = (size_t)h->sections[RS_DUMP_TYPES].count;
    d->thread_count = (size_t)h->sections[RS_DUMP_THREADS].count;
    d->frame_count = (size_t)h->sections[RS_DUMP_FRAMES].count;
    d->local_count = (size_t)h->sections[RS_DUMP_LOCALS].count;
    d->closure_count = (size_t)h->sections[RS_DUMP_CLOSURES].count;
    d->allocation_count = (size_t)h->sections[RS_DUMP_ALLOCATIONS].count;
    why = check_structure(d);
    if (why != NULL) {
        bad_file(path, why);
        rs_dump_close(d);
        return NULL;
    }
    if (build_snapshot(d, path) < 0) {
        rs_dump_close(d);
        return NULL;
    }
    return d;
}

void rs_dump_close(rs_dump *d)
{
    if (d == NULL)
        return;
    free_snapshot(d->snap);
    Py_XDECREF(d->local_names);
    if (d->map != NULL)
        munmap(d->map, d->map_len);
    rs_free(d->converted);
    rs_free(d);
}

PyObject *rs_dump_string(const rs_dump *d, uint32_t id)
{
    if (id == RS_DUMP_NO_STRING)
        return PyUnicode_FromString("");
    const char *text = d->string_bytes + d->string_index[id];
    Py_ssize_t len = (Py_ssize_t)(d->string_index[id + 1] - d->string_index[id]);
    return PyUnicode_DecodeUTF8(text, len, "replace");
}

PyObject *rs_dump_edge_label(const rs_dump *d, uint32_t e)
{
    uint32_t code = d->labels[e];
    switch (RS_DUMP_LABEL_KIND(code)) {
    case RS_DUMP_LABEL_ITEM:
        return PyUnicode_FromFormat("[%u]", RS_DUMP_LABEL_VALUE(code));
    case RS_DUMP_LABEL_REFERENT:
        return PyUnicode_FromFormat("<referent %u>", RS_DUMP_LABEL_VALUE(code));
    case RS_DUMP_LABEL_SET_ITEM:
        return PyUnicode_FromString("<item>");
    default:
        return rs_dump_string(d, code);
    }
}

/* The first of count records (stride bytes apart, each starting with its
 * node as a u32, by increasing node) whose node is node or after. */
static size_t by_node(const void *records, size_t count, size_t stride, uint32_t node)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t at;
        memcpy(&at, (const char *)records + mid * stride, sizeof at);
        if (at < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t rs_dump_node_size(const rs_dump *d, uint32_t node)
{
    uint32_t size = d->nodes[node].size;
    if (size != RS_DUMP_SIZE_BIG)
        return size;
    /* check_structure(): every big node has its entry. */
    return d->big_sizes[by_node(d->big_sizes, d->big_size_count, sizeof *d->big_sizes, node)].size;
}

uint32_t rs_dump_allocation_of(const rs_dump *d, uint32_t node)
{
    size_t lo = by_node(d->allocations, d->allocation_count, sizeof *d->allocations, node);
    return lo < d->allocation_count && d->allocations[lo].node == node ? d->allocations[lo].traceback
                                                                       : RS_DUMP_NO_STRING;
}

int rs_dump_reseal(const char *path)
{
    FILE *f = fopen(path, "r+b");
    if (f == NULL)
        return -1;
    rs_dump_header h;
    memset(&h, 0, sizeof h);
    int r = -1;
    if (fread(&h, header_bytes(0), 1, f) != 1 || h.version < RS_DUMP_VERSION_OLDEST || h.version > RS_DUMP_VERSION ||
        h.section_count != section_count_of(h.version))
        goto done;
    size_t size = header_bytes(h.section_count);
    if (fread((char *)&h + header_bytes(0), size - header_bytes(0), 1, f) != 1)
        goto done;
    for (uint32_t i = 0; i < h.section_count; i++) {
        rs_dump_section_entry *e = &h.sections[i];
        if (fseek(f, (long)e->offset, SEEK_SET) != 0)
            goto done;
        uint32_t crc = 0;
        unsigned char buf[65536];
        for (uint64_t left = e->length; left > 0;) {
            size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
            size_t got = fread(buf, 1, want, f);
            if (got == 0)
                break;
            crc = rs_dump_crc32(crc, buf, got);
            left -= got;
        }
        e->crc = crc;
    }
    h.header_crc = 0;
    h.header_crc = rs_dump_crc32(0, &h, size);
    if (fseek(f, 0, SEEK_SET) == 0 && fwrite(&h, size, 1, f) == 1)
        r = 0;
done:
    if (fclose(f) != 0)
        r = -1;
    return r;
}

/*
 * Heap dumps: a snapshot written to a file as fixed-size little-endian
 * sections (the layout is in man/refscope.1, FILES), and read back through
 * mmap into a graph the analyses run over without the live process.
 * All calls need the GIL; errors are refscope.Error (bad file, I/O) or
 * MemoryError, set as Python exceptions.
 */
#ifndef REFSCOPE_DUMP_H
#define REFSCOPE_DUMP_H

#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

#define RS_DUMP_MAGIC "REFSDUMP"
#define RS_DUMP_VERSION 2
/* The oldest format version the reader still opens: version 1 stored each
 * node in 40 bytes (rs_dump_node_v1), with a 64-bit size and the count of
 * unexplained references, which the reader works out from the graph. */
#define RS_DUMP_VERSION_OLDEST 1

/* Section ids, in file order; the header's section table has one entry each. */
enum rs_dump_section {
    RS_DUMP_NODES = 0,    /* rs_dump_node[node_count] */
    RS_DUMP_TARGETS,      /* uint32 target[edge_count], CSR by node's edge_start */
    RS_DUMP_LABELS,       /* uint32 label code[edge_count], see RS_DUMP_LABEL_* */
    RS_DUMP_ROOTS,        /* rs_dump_root[root_count] */
    RS_DUMP_TYPES,        /* uint32 name string[type_count] */
    RS_DUMP_THREADS,      /* rs_dump_thread[] */
    RS_DUMP_FRAMES,       /* rs_dump_frame[] */
    RS_DUMP_LOCALS,       /* rs_dump_local[] */
    RS_DUMP_CLOSURES,     /* rs_dump_closure[] */
    RS_DUMP_ALLOCATIONS,  /* rs_dump_allocation[], by increasing node */
    RS_DUMP_STRING_INDEX, /* uint64 offset[string_count + 1] into STRING_BYTES */
    RS_DUMP_STRING_BYTES, /* UTF-8 text of every string, back to back */
    RS_DUMP_BIG_SIZES,    /* rs_dump_big_size[], by increasing node (version 2 on) */
    RS_DUMP_SECTION_COUNT
};

/* Sections of a version 1 file: all but BIG_SIZES. */
#define RS_DUMP_SECTION_COUNT_V1 RS_DUMP_BIG_SIZES

/* A label code: the top two bits say how to read the low 30. */
#define RS_DUMP_LABEL_STRING 0u   /* string id */
#define RS_DUMP_LABEL_ITEM 1u     /* "[N]" */
#define RS_DUMP_LABEL_REFERENT 2u /* "<referent N>" */
#define RS_DUMP_LABEL_SET_ITEM 3u /* "<item>" */
#define RS_DUMP_LABEL_KIND(code) ((code) >> 30)
#define RS_DUMP_LABEL_VALUE(code) ((code) & 0x3fffffffu)

#define RS_DUMP_NO_STRING UINT32_MAX

typedef struct rs_dump_section_entry {
    uint32_t id;
    uint32_t crc;    /* CRC-32 (IEEE) of the section's bytes */
    uint64_t offset; /* from the start of the file, 8-byte aligned */
    uint64_t length; /* bytes */
    uint64_t count;  /* records */
} rs_dump_section_entry;

typedef struct rs_dump_header {
    char magic[8];          /* RS_DUMP_MAGIC */
    uint32_t version;       /* RS_DUMP_VERSION */
    uint32_t header_size;   /* sizeof(rs_dump_header) */
    uint32_t header_crc;    /* CRC-32 of the header with this field 0 */
    uint32_t section_count; /* RS_DUMP_SECTION_COUNT */
    uint64_t pid;
    int64_t time;           /* seconds since the epoch, when the dump was written */
    char python_version[32]; /* "3.11.7", NUL-padded */
    uint64_t node_count;
    uint64_t edge_count;
    uint64_t visible_count;
    uint64_t string_count;
    double snapshot_seconds;
    double write_seconds;
    uint64_t memory_objects;  /* rs_process_memory of the process at dump time */
    uint64_t memory_rss;
    uint64_t arena_bytes;
    uint64_t arena_count;
    uint64_t arena_used;
    uint64_t arena_free;
    uint64_t arena_overhead;
    uint32_t have_arenas;
    uint32_t tracemalloc;     /* 1 when allocation tracebacks were stored */
    rs_dump_section_entry sections[RS_DUMP_SECTION_COUNT];
} rs_dump_header;

/* A node's record: 32 bytes, so that the biggest section of a dump is no
 * bigger than it must be (its copy into the page cache is a quarter of the
 * write's cost).  A size that does not fit 32 bits is RS_DUMP_SIZE_BIG here
 * and stored in BIG_SIZES. */
typedef struct rs_dump_node {
    uint64_t address;
    uint32_t size;        /* bytes, or RS_DUMP_SIZE_BIG */
    uint32_t refcount;
    uint32_t type_id;
    uint32_t flags;       /* enum rs_node_flag, RS_NODE_INTERNAL */
    uint32_t edge_start;  /* first index into TARGETS/LABELS; the next node's ends it */
    uint32_t repr;        /* string id, or RS_DUMP_NO_STRING */
} rs_dump_node;

#define RS_DUMP_SIZE_BIG UINT32_MAX

typedef struct rs_dump_big_size {
    uint32_t node;
    uint32_t reserved; /* 0 */
    uint64_t size;
} rs_dump_big_size;

/* A node's record in format version 1 (read, never written). */
typedef struct rs_dump_node_v1 {
    uint64_t address;
    uint64_t size;
    uint32_t refcount;
    int32_t unexplained;
    uint32_t type_id;
    uint32_t flags;
    uint32_t edge_start;
    uint32_t repr;
} rs_dump_node_v1;

typedef struct rs_dump_root {
    uint32_t target;
    uint32_t kind;  /* enum rs_root_kind */
    uint32_t label; /* string id */
} rs_dump_root;

typedef struct rs_dump_thread {
    uint32_t name;        /* string id */
    uint32_t has_ident;   /* 0 for the suspended generators' entry */
    uint64_t ident;
    uint32_t first_frame;
    uint32_t frame_count;
} rs_dump_thread;

typedef struct rs_dump_frame {
    uint32_t function; /* string id: the code's qualified name */
    uint32_t where;    /* string id: "file.py:12" */
    uint32_t first_local;
    uint32_t local_count;
} rs_dump_frame;

typedef struct rs_dump_local {
    uint32_t name; /* string id */
    uint32_t value; /* node */
} rs_dump_local;

typedef struct rs_dump_closure {
    uint32_t function; /* node */
    uint32_t value;    /* node */
    uint32_t name;     /* string id */
    uint32_t cell;     /* node */
} rs_dump_closure;

typedef struct rs_dump_allocation {
    uint32_t node;
    uint32_t traceback; /* string id: tracemalloc's Traceback.format() lines, most recent call last */
} rs_dump_allocation;

/* CRC-32 (IEEE 802.3) of len bytes, continuing crc (0 to start). */
uint32_t rs_dump_crc32(uint32_t crc, const void *data, size_t len);

/* Which ways of computing it this CPU has beyond the table: 0 none, 1
 * 128-bit folding (PCLMULQDQ), 2 also 512-bit folding (VPCLMULQDQ); and
 * rs_dump_crc32() using no way past widest, so that tests check every way
 * the host has against zlib, not only the fastest. */
int rs_dump_crc32_widest(void);
uint32_t rs_dump_crc32_using(uint32_t crc, const void *data, size_t len, int widest);

/* Writes s to path (replacing it through a temporary file next to it).
 * Runs Python for labels and reprs.  0, or -1 with an exception set. */
int rs_dump_write(rs_snapshot *s, const char *path);

/* String-table and item-table probes, and strings appended without one,
 * that the writer has made since the module loaded (a work counter for
 * tests: it grows with the heap, no faster). */
size_t rs_dump_write_work(void);

/* A dump opened for reading: the mapped file and its sections. */
typedef struct rs_dump {
    void *map;
    size_t map_len;
    const rs_dump_header *header; /* the file's, or for version 1 a copy with BIG_SIZES empty */
    const rs_dump_node *nodes;    /* the file's, or for version 1 its records converted */
    const rs_dump_big_size *big_sizes;
    const uint32_t *targets;
    const uint32_t *labels;
    const rs_dump_root *roots;
    const uint32_t *types;
    const rs_dump_thread *threads;
    const rs_dump_frame *frames;
    const rs_dump_local *locals;
    const rs_dump_closure *closures;
    const rs_dump_allocation *allocations;
    const uint64_t *string_index;
    const char *string_bytes;
    size_t root_count, type_count, thread_count, frame_count, local_count, closure_count, allocation_count,
        big_size_count;
    void *converted; /* version 1: the header copy, node records and big sizes above, in one block */
    rs_snapshot *snap; /* the graph rebuilt from the file; its types have no PyTypeObject */
    PyObject *local_names; /* node.c: tuple of the locals' names, on first use */
    PyObject *owner;       /* module.c: the refscope.Snapshot that owns the dump (borrowed), or NULL */
} rs_dump;

/* Opens, checks (magic, version, checksums, every index in range) and
 * rebuilds the graph.  Returns a dump to free with rs_dump_close(), or NULL
 * with refscope.Error (naming what is wrong) or MemoryError set. */
rs_dump *rs_dump_open(const char *path);

/* Unmaps and frees the dump; NULL accepted. */
void rs_dump_close(rs_dump *d);

/* String id as a new str ("" for RS_DUMP_NO_STRING), NULL on error. */
PyObject *rs_dump_string(const rs_dump *d, uint32_t id);

/* The label of edge number e (an index into TARGETS) as a new str. */
PyObject *rs_dump_edge_label(const rs_dump *d, uint32_t e);

/* The size of node (a record's size, or its entry in BIG_SIZES). */
uint64_t rs_dump_node_size(const rs_dump *d, uint32_t node);

/* The string id of node's stored allocation traceback (as tracemalloc's
 * Traceback.format() lines, most recent call last), or RS_DUMP_NO_STRING. */
uint32_t rs_dump_allocation_of(const rs_dump *d, uint32_t node);

/* Test hook: recomputes every checksum of the dump at path in place, so
 * tests can feed the reader structurally broken files.  0 or -1. */
int rs_dump_reseal(const char *path);

#endif

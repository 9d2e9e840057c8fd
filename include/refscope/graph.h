/*
 * refscope graph core: the nodes and edges of an object graph in compact
 * arrays, with a forward (referent) and a reverse (referrer) index in CSR
 * form and an address -> index hash.  Plain C: no Python here, so the core
 * and every analysis over it can be tested without an interpreter.
 *
 * Memory per node: address 8, size 4 (objects of 4 GiB and more keep their
 * size in a side table), refcount 4, type id 4, flags 4, forward offset 4,
 * reverse offset 4, hash 4 a slot at a load of 0.35-0.7 (3/5 when the node
 * hint was right) = 32 bytes + 5.7-11.4 (6.7) for the hash.
 * Memory per edge: forward target 4 + reverse source 4 = 8 bytes.
 *
 * Building happens in one order: intern nodes and, for node i = 0, 1, ...
 * in index order, rs_graph_begin_edges(i) then rs_graph_add_edge() for each
 * referent; nodes added by an edge get higher indexes and their own turn.
 * rs_graph_finish() then builds the reverse index; the graph is read-only
 * afterwards except for per-node attributes.
 */
#ifndef REFSCOPE_GRAPH_H
#define REFSCOPE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t rs_idx;

/* "No node": returned by lookups that find nothing and by failed adds. */
#define RS_NONE UINT32_MAX

typedef struct rs_graph rs_graph;

/* Per-node flags; the graph core stores them, the walk and analyses set them. */
enum rs_node_flag {
    RS_NODE_GC_TRACKED = 1u << 0, /* in gc.get_objects() */
    RS_NODE_IS_GC = 1u << 1,      /* gc.get_referents() traverses it */
    RS_NODE_PY_SIZEOF = 1u << 2,  /* __sizeof__ is Python code: size is tp_basicsize-based */
    RS_NODE_FINALIZER = 1u << 3,  /* has __del__ / tp_finalize / legacy tp_del */
    RS_NODE_TYPE = 1u << 4,       /* a type object */
    RS_NODE_MODULE = 1u << 5,     /* a module object */
    RS_NODE_NOT_DATA = 1u << 6,   /* edges into it are not data edges (type, module,
                                     module/globals dict, code object): left out of cycles */
    RS_NODE_ROOT = 1u << 7,       /* target of at least one root */
    RS_NODE_WEAKREF = 1u << 8,    /* a weak reference object */
    RS_NODE_GARBAGE = 1u << 9,    /* listed in gc.garbage */
    RS_NODE_ROOT_MODULE = 1u << 10, /* target of a root of kind RS_ROOT_MODULE */
    RS_NODE_ROOT_FRAME = 1u << 11,  /* ... RS_ROOT_FRAME */
    RS_NODE_ROOT_HELD = 1u << 12,   /* ... RS_ROOT_UNEXPLAINED */
    RS_NODE_IMMORTAL = 1u << 13,    /* lives as long as the interpreter (immortal object,
                                       interned string, static type): nobody retains it,
                                       the dominator tree hangs it off the super root */
    RS_NODE_PROGRAM = 1u << 14,     /* code, function, frame or C function: the
                                       program, not its data */
    RS_NODE_SIZED_TEXT = 1u << 15,  /* a str or bytes whose length its size gives
                                       (engine: rs_node_sized_text_flag) */
};

/* Root kinds, in order of preference for why-alive paths. */
enum rs_root_kind {
    RS_ROOT_MODULE = 0,      /* sys.modules['name'] */
    RS_ROOT_FRAME = 1,       /* a local / cell / stack slot of an executing frame */
    RS_ROOT_UNEXPLAINED = 2, /* refcount exceeds referrers: held by C or the interpreter */
    RS_ROOT_KIND_COUNT = 3
};

/* One root edge: from outside the graph into node `target`.  `info` is an
 * index into the owner's own table (module name, frame slot) for labels. */
typedef struct rs_root {
    rs_idx target;
    uint32_t kind;
    uint32_t info;
} rs_root;

/* Creates an empty graph sized for about node_hint nodes and edge_hint edges.
 * Returns NULL when memory cannot be had; free with rs_graph_free(). */
rs_graph *rs_graph_new(size_t node_hint, size_t edge_hint);

/* Frees the graph and all its arrays; NULL is accepted. */
void rs_graph_free(rs_graph *g);

/* Returns the index of addr, adding it as a new node when absent.
 * Returns RS_NONE when memory runs out or the index space (2^32-2) is full. */
rs_idx rs_graph_intern(rs_graph *g, uintptr_t addr);

/* Interns n addresses at once (hash slots prefetched, much faster than n
 * single calls); writes each index to out[i] when out is not NULL.
 * Returns 0, or -1 when memory runs out (some may have been added). */
int rs_graph_intern_many(rs_graph *g, const uintptr_t *addrs, size_t n, rs_idx *out);

/* Returns the index of addr, or RS_NONE when it is not a node. */
rs_idx rs_graph_find(const rs_graph *g, uintptr_t addr);

/* Looks up n addresses at once (hash slots prefetched, much faster than n
 * single calls): out[i] is the index of addrs[i], or RS_NONE. */
void rs_graph_find_many(const rs_graph *g, const uintptr_t *addrs, size_t n, rs_idx *out);

/* Starts the edge list of node src; nodes must be started in index order,
 * each exactly once, before rs_graph_finish().  Returns 0, or -1 on misuse. */
int rs_graph_begin_edges(rs_graph *g, rs_idx src);

/* Appends an edge from the node last begun to the object at addr, which is
 * interned (added as a node when new) at the latest by the next flush.
 * Returns 0, or -1 when memory runs out. */
int rs_graph_add_edge(rs_graph *g, uintptr_t addr);

/* Appends count edges from the node last begun to nodes already in the
 * graph, by index: no address is looked up (a graph rebuilt from a dump
 * knows its targets' indexes).  Returns 0, or -1 when memory runs out or a
 * target is not a node. */
int rs_graph_add_edges_to(rs_graph *g, const rs_idx *targets, size_t count);

/* Resolves pending edges so that nodes they add are counted.  0 or -1 (memory). */
int rs_graph_flush(rs_graph *g);

/* Adds a root edge into target (which must be a node) and flags the target
 * RS_NODE_ROOT and RS_NODE_ROOT_MODULE << kind.  0 or -1 (memory, bad kind). */
int rs_graph_add_root(rs_graph *g, rs_idx target, uint32_t kind, uint32_t info);

/* Ends building: closes the last edge list, builds the reverse index and
 * trims the arrays.  Returns 0, or -1 when memory runs out. */
int rs_graph_finish(rs_graph *g);

/* Counts; valid at any time (node count includes nodes not yet begun). */
size_t rs_graph_node_count(const rs_graph *g);
size_t rs_graph_edge_count(const rs_graph *g);

/* The referents of n in visit order, duplicates kept; *count receives their
 * number.  Valid after rs_graph_finish(); the array belongs to the graph. */
const rs_idx *rs_graph_referents(const rs_graph *g, rs_idx n, size_t *count);

/* Every edge target, node after node: the referents of n begin at the sum
 * of the earlier nodes' counts.  *count receives the edge count.  Valid
 * after rs_graph_finish(); the array belongs to the graph. */
const rs_idx *rs_graph_edges(const rs_graph *g, size_t *count);

/* The referrers of n, one entry per edge (a source holding n twice appears
 * twice), in increasing source index.  Valid after rs_graph_finish(). */
const rs_idx *rs_graph_referrers(const rs_graph *g, rs_idx n, size_t *count);

/* A finished graph's per-node arrays, for analyses that pass over every
 * node in order (element by element, with no call per node): node n's
 * referents are entries referent_start[n] .. referent_start[n + 1] - 1 of
 * the forward edge array, its referrers entries referrer_start[n] ..
 * referrer_start[n + 1] - 1 of the reverse one (node_count + 1 entries
 * each), its flags flags[n].  All NULL before rs_graph_finish(). */
typedef struct rs_graph_node_arrays {
    const uint32_t *referent_start;
    const uint32_t *referrer_start;
    const uint32_t *flags;
} rs_graph_node_arrays;

rs_graph_node_arrays rs_graph_arrays(const rs_graph *g);

/* The roots, in the order added. */
const rs_root *rs_graph_roots(const rs_graph *g, size_t *count);

/* Per-node attributes, stored for the walk and analyses. */
uintptr_t rs_graph_addr(const rs_graph *g, rs_idx n);
uint64_t rs_graph_size(const rs_graph *g, rs_idx n);
/* Sets n's size; 0, or -1 when a size of 4 GiB or more cannot be recorded
 * (memory). */
int rs_graph_set_size(rs_graph *g, rs_idx n, uint64_t size);
uint32_t rs_graph_refcount(const rs_graph *g, rs_idx n);
void rs_graph_set_refcount(rs_graph *g, rs_idx n, uint32_t refcount);
uint32_t rs_graph_type_id(const rs_graph *g, rs_idx n);
void rs_graph_set_type_id(rs_graph *g, rs_idx n, uint32_t type_id);
uint32_t rs_graph_flags(const rs_graph *g, rs_idx n);
void rs_graph_add_flags(rs_graph *g, rs_idx n, uint32_t flags);

/* Bytes currently allocated by the graph (arrays and hash, not the objects). */
size_t rs_graph_memory_bytes(const rs_graph *g);

/* Test hook: makes the nth allocation from now fail (n >= 1), or none (n = 0).
 * Lets tests prove that every allocation failure becomes an error return. */
void rs_alloc_fail_after(long n);

/* Bytes / blocks allocated through rs_malloc and friends and not yet freed
 * (tests use them to prove that error paths free everything). */
size_t rs_alloc_live_bytes(void);
size_t rs_alloc_live_blocks(void);

/* Bytes of freed big blocks kept mapped for the next snapshot (their pages
 * given back lazily with MADV_FREE; at most 256 MiB), and a call that
 * unmaps them all. */
size_t rs_alloc_kept_bytes(void);
void rs_alloc_release_kept(void);

/* Allocation helpers shared by the engine and analyses; they honour the
 * failure hook above.  rs_malloc/rs_calloc/rs_realloc return NULL on failure. */
void *rs_malloc(size_t size);
void *rs_calloc(size_t count, size_t size);
void *rs_realloc(void *ptr, size_t size);
void rs_free(void *ptr);

/* A copy of text from rs_malloc (free with rs_free), or NULL on failure. */
char *rs_strdup(const char *text);

#endif

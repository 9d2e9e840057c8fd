/*
 * Graph core: node attribute arrays (structure of arrays, so an analysis
 * that reads one attribute streams one array), forward edges in CSR form,
 * a reverse index built once at the end by counting sort, and an
 * open-addressing address -> index hash.
 *
 * The hash stores node indexes only (4 bytes a slot) at a load factor kept
 * between 1/3 and 1/2, and maps an address to a slot with a multiply-shift
 * ("fastrange") instead of a power-of-two mask, so its size follows the node
 * count closely.  Lookups during the build are batched: the slots of a batch
 * are prefetched first, then probed, so cache misses overlap.
 */
#include <stdbool.h>
#include <string.h>

#include "refscope/graph.h"

#define EMPTY_SLOT 0u /* slots hold index + 1 */
#define PENDING_MAX 512
#define BATCH 32
#define MAX_NODES ((size_t)RS_NONE - 1)
#define SIZE_BIG UINT32_MAX
/* The hash grows when more than 7/10 of its slots are used; it is sized
 * for a load of 3/5. */
#define HASH_LOAD_MAX_NUM 7
#define HASH_LOAD_MAX_DEN 10

struct big_size {
    rs_idx node;
    uint64_t size;
};

struct rs_graph {
    size_t node_count, node_cap;
    uintptr_t *addr;
    uint32_t *size; /* SIZE_BIG: the size is in big_sizes */
    uint32_t *refcount, *type_id, *flags;
    struct big_size *big_sizes; /* objects of 4 GiB and more: rare */
    size_t big_count, big_cap;

    uint32_t *fwd_off; /* node_cap + 1 entries */
    rs_idx *fwd;
    size_t edge_count; /* including pending */
    size_t edge_cap;
    size_t next_begin; /* next node expected by rs_graph_begin_edges */
    uintptr_t pending[PENDING_MAX];
    size_t pending_count; /* edges at the end of fwd whose target is unresolved */

    uint32_t *rev_off;
    rs_idx *rev;

    uint32_t *hash;
    size_t hash_cap;

    rs_root *roots;
    size_t root_count, root_cap;
    bool finished;
};

static inline size_t slot_of(uintptr_t addr, size_t cap)
{
    uint64_t h = (uint64_t)(addr >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(((h >> 32) * (uint64_t)cap) >> 32);
}

static bool grow_array(void **arr, size_t elem, size_t new_cap)
{
    void *p = rs_realloc(*arr, elem * new_cap);
    if (p == NULL)
        return false;
    *arr = p;
    return true;
}

/* After: every node array holds at least need entries (fwd_off need + 1). */
static int reserve_nodes(rs_graph *g, size_t need)
{
    if (need <= g->node_cap)
        return 0;
    if (need > MAX_NODES)
        return -1;
    size_t cap = g->node_cap + g->node_cap / 2;
    if (cap < need)
        cap = need;
    if (cap < 64)
        cap = 64;
    if (cap > MAX_NODES)
        cap = MAX_NODES;
    if (!grow_array((void **)&g->addr, sizeof *g->addr, cap) ||
        !grow_array((void **)&g->size, sizeof *g->size, cap) ||
        !grow_array((void **)&g->refcount, sizeof *g->refcount, cap) ||
        !grow_array((void **)&g->type_id, sizeof *g->type_id, cap) ||
        !grow_array((void **)&g->flags, sizeof *g->flags, cap) ||
        !grow_array((void **)&g->fwd_off, sizeof *g->fwd_off, cap + 1))
        return -1; /* arrays already grown stay valid and are freed with g */
    g->node_cap = cap;
    return 0;
}

static int reserve_edges(rs_graph *g, size_t need)
{
    if (need <= g->edge_cap)
        return 0;
    if (need > (size_t)UINT32_MAX)
        return -1;
    size_t cap = g->edge_cap * 2;
    if (cap < need)
        cap = need;
    if (cap < 256)
        cap = 256;
    if (cap > (size_t)UINT32_MAX)
        cap = UINT32_MAX;
    if (!grow_array((void **)&g->fwd, sizeof *g->fwd, cap))
        return -1;
    g->edge_cap = cap;
    return 0;
}

static void hash_place(uint32_t *table, size_t cap, uintptr_t addr, rs_idx idx)
{
    size_t s = slot_of(addr, cap);
    while (table[s] != EMPTY_SLOT)
        s = (s + 1 == cap) ? 0 : s + 1;
    table[s] = idx + 1;
}

/* After: the hash can take `need` nodes at load <= 7/10 without growing.
 * It is sized for a load of 3/5 at need, and at least doubles when it
 * grows, so a good node hint means no rehash and about 6.7 bytes a node. */
static int reserve_hash(rs_graph *g, size_t need)
{
    if (need * HASH_LOAD_MAX_DEN <= g->hash_cap * HASH_LOAD_MAX_NUM)
        return 0;
    size_t cap = need * 5 / 3 + 64;
    if (g->hash_cap > 0 && cap < g->hash_cap * 2)
        cap = g->hash_cap * 2;
    if (cap >= (size_t)UINT32_MAX)
        cap = UINT32_MAX - 1;
    if (need * HASH_LOAD_MAX_DEN > cap * HASH_LOAD_MAX_NUM)
        return -1;
    uint32_t *table = rs_calloc(cap, sizeof *table);
    if (table == NULL)
        return -1;
    for (size_t i = 0; i < g->node_count; i++)
        hash_place(table, cap, g->addr[i], (rs_idx)i);
    rs_free(g->hash);
    g->hash = table;
    g->hash_cap = cap;
    return 0;
}

rs_graph *rs_graph_new(size_t node_hint, size_t edge_hint)
{
    rs_graph *g = rs_calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    if (node_hint > MAX_NODES)
        node_hint = MAX_NODES;
    if (reserve_nodes(g, node_hint ? node_hint : 64) < 0 ||
        reserve_edges(g, edge_hint ? edge_hint : 256) < 0 ||
        reserve_hash(g, node_hint ? node_hint : 64) < 0) {
        rs_graph_free(g);
        return NULL;
    }
    g->fwd_off[0] = 0;
    return g;
}

void rs_graph_free(rs_graph *g)
{
    if (g == NULL)
        return;
    rs_free(g->addr);
    rs_free(g->size);
    rs_free(g->refcount);
    rs_free(g->type_id);
    rs_free(g->flags);
    rs_free(g->fwd_off);
    rs_free(g->fwd);
    rs_free(g->rev_off);
    rs_free(g->rev);
    rs_free(g->hash);
    rs_free(g->roots);
    rs_free(g->big_sizes);
    rs_free(g);
}

static rs_idx add_node(rs_graph *g, uintptr_t addr)
{
    rs_idx idx = (rs_idx)g->node_count++;
    g->addr[idx] = addr;
    g->size[idx] = 0;
    g->refcount[idx] = 0;
    g->type_id[idx] = 0;
    g->flags[idx] = 0;
    return idx;
}

/* Computes the hash slots of addrs[0..len) into slots and prefetches each
 * slot, then the address of the node each slot names, so the misses of a
 * batch overlap instead of coming one after another. */
static void prefetch_batch(const rs_graph *g, const uintptr_t *addrs, size_t len, size_t *slots)
{
    for (size_t j = 0; j < len; j++) {
        slots[j] = slot_of(addrs[j], g->hash_cap);
        __builtin_prefetch(&g->hash[slots[j]]);
    }
    for (size_t j = 0; j < len; j++) {
        uint32_t v = g->hash[slots[j]];
        if (v != EMPTY_SLOT)
            __builtin_prefetch(&g->addr[v - 1]);
    }
}

/* Probes from slot s; adds addr when absent.  Capacity must be reserved. */
static rs_idx probe_or_add(rs_graph *g, uintptr_t addr, size_t s)
{
    uint32_t *table = g->hash;
    size_t cap = g->hash_cap;
    for (;;) {
        uint32_t v = table[s];
        if (v == EMPTY_SLOT) {
            rs_idx idx = add_node(g, addr);
            table[s] = idx + 1;
            return idx;
        }
        if (g->addr[v - 1] == addr)
            return v - 1;
        s = (s + 1 == cap) ? 0 : s + 1;
    }
}

int rs_graph_intern_many(rs_graph *g, const uintptr_t *addrs, size_t n, rs_idx *out)
{
    if (g->finished)
        return -1;
    size_t slots[BATCH];
    for (size_t base = 0; base < n; base += BATCH) {
        size_t len = n - base < BATCH ? n - base : BATCH;
        /* After: a whole batch can be added without reallocating, so the
         * slots computed below stay valid while it is probed. */
        if (reserve_nodes(g, g->node_count + len) < 0 || reserve_hash(g, g->node_count + len) < 0)
            return -1;
        prefetch_batch(g, addrs + base, len, slots);
        for (size_t j = 0; j < len; j++) {
            rs_idx idx = probe_or_add(g, addrs[base + j], slots[j]);
            if (out)
                out[base + j] = idx;
        }
    }
    return 0;
}

rs_idx rs_graph_intern(rs_graph *g, uintptr_t addr)
{
    rs_idx idx;
    return rs_graph_intern_many(g, &addr, 1, &idx) < 0 ? RS_NONE : idx;
}

/* Probes from slot s for addr: its index, or RS_NONE. */
static rs_idx probe_find(const rs_graph *g, uintptr_t addr, size_t s)
{
    for (;;) {
        uint32_t v = g->hash[s];
        if (v == EMPTY_SLOT)
            return RS_NONE;
        if (g->addr[v - 1] == addr)
            return v - 1;
        s = (s + 1 == g->hash_cap) ? 0 : s + 1;
    }
}

rs_idx rs_graph_find(const rs_graph *g, uintptr_t addr)
{
    if (g->hash_cap == 0)
        return RS_NONE;
    return probe_find(g, addr, slot_of(addr, g->hash_cap));
}

void rs_graph_find_many(const rs_graph *g, const uintptr_t *addrs, size_t n, rs_idx *out)
{
    size_t slots[BATCH];
    if (g->hash_cap == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = RS_NONE;
        return;
    }
    for (size_t base = 0; base < n; base += BATCH) {
        size_t len = n - base < BATCH ? n - base : BATCH;
        prefetch_batch(g, addrs + base, len, slots);
        for (size_t j = 0; j < len; j++)
            out[base + j] = probe_find(g, addrs[base + j], slots[j]);
    }
}

int rs_graph_flush(rs_graph *g)
{
    if (g->pending_count == 0)
        return 0;
    size_t first = g->edge_count - g->pending_count;
    if (rs_graph_intern_many(g, g->pending, g->pending_count, g->fwd + first) < 0)
        return -1;
    g->pending_count = 0;
    return 0;
}

int rs_graph_begin_edges(rs_graph *g, rs_idx src)
{
    if (g->finished || src != g->next_begin || src >= g->node_count)
        return -1;
    g->fwd_off[src] = (uint32_t)g->edge_count;
    g->next_begin = (size_t)src + 1;
    return 0;
}

int rs_graph_add_edge(rs_graph *g, uintptr_t addr)
{
    if (g->finished || g->next_begin == 0)
        return -1;
    if (g->pending_count == PENDING_MAX && rs_graph_flush(g) < 0)
        return -1;
    if (reserve_edges(g, g->edge_count + 1) < 0)
        return -1;
    g->pending[g->pending_count++] = addr;
    g->edge_count++;
    return 0;
}

int rs_graph_add_edges_to(rs_graph *g, const rs_idx *targets, size_t count)
{
    if (g->finished || g->next_begin == 0)
        return -1;
    for (size_t k = 0; k < count; k++)
        if (targets[k] >= g->node_count)
            return -1;
    /* Pending edges come first in the edge array: resolve them before
     * appending after them. */
    if (rs_graph_flush(g) < 0 || reserve_edges(g, g->edge_count + count) < 0)
        return -1;
    memcpy(g->fwd + g->edge_count, targets, count * sizeof *targets);
    g->edge_count += count;
    return 0;
}

int rs_graph_add_root(rs_graph *g, rs_idx target, uint32_t kind, uint32_t info)
{
    if (target >= g->node_count || kind >= RS_ROOT_KIND_COUNT)
        return -1;
    if (g->root_count == g->root_cap) {
        size_t cap = g->root_cap ? g->root_cap * 2 : 256;
        if (!grow_array((void **)&g->roots, sizeof *g->roots, cap))
            return -1;
        g->root_cap = cap;
    }
    g->roots[g->root_count++] = (rs_root){target, kind, info};
    g->flags[target] |= RS_NODE_ROOT | (RS_NODE_ROOT_MODULE << kind);
    return 0;
}

/* After: rev_off/rev list, for every node, the sources of its in-edges in
 * increasing source order (one entry per edge). */
static int build_reverse_index(rs_graph *g)
{
    size_t n = g->node_count, e = g->edge_count;
    rs_free(g->rev_off); /* left by a finish that ran out of memory */
    rs_free(g->rev);
    g->rev_off = rs_calloc(n + 1, sizeof *g->rev_off);
    g->rev = rs_malloc((e ? e : 1) * sizeof *g->rev);
    if (g->rev_off == NULL || g->rev == NULL)
        return -1;
    for (size_t k = 0; k < e; k++)
        g->rev_off[g->fwd[k]]++;
    /* rev_off[i] = end of i's list; filling backwards leaves it at the start. */
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += g->rev_off[i];
        g->rev_off[i] = sum;
    }
    g->rev_off[n] = (uint32_t)e;
    for (size_t src = n; src-- > 0;) {
        for (size_t k = g->fwd_off[src + 1]; k-- > g->fwd_off[src];)
            g->rev[--g->rev_off[g->fwd[k]]] = (rs_idx)src;
    }
    return 0;
}

static void trim(void **arr, size_t bytes)
{
    void *p = rs_realloc(*arr, bytes ? bytes : 1);
    if (p != NULL) /* a failed shrink leaves the larger block, still valid */
        *arr = p;
}

int rs_graph_finish(rs_graph *g)
{
    if (g->finished)
        return 0;
    if (rs_graph_flush(g) < 0)
        return -1;
    /* Nodes never begun (added by the last lists) have no edges. */
    for (size_t i = g->next_begin; i <= g->node_count; i++)
        g->fwd_off[i] = (uint32_t)g->edge_count;
    g->next_begin = g->node_count;
    size_t n = g->node_count;
    trim((void **)&g->fwd, g->edge_count * sizeof *g->fwd);
    g->edge_cap = g->edge_count;
    trim((void **)&g->addr, n * sizeof *g->addr);
    trim((void **)&g->size, n * sizeof *g->size);
    trim((void **)&g->refcount, n * sizeof *g->refcount);
    trim((void **)&g->type_id, n * sizeof *g->type_id);
    trim((void **)&g->flags, n * sizeof *g->flags);
    trim((void **)&g->fwd_off, (n + 1) * sizeof *g->fwd_off);
    g->node_cap = n;
    if (build_reverse_index(g) < 0)
        return -1;
    g->finished = true;
    return 0;
}

size_t rs_graph_node_count(const rs_graph *g)
{
    return g->node_count;
}

size_t rs_graph_edge_count(const rs_graph *g)
{
    return g->edge_count;
}

const rs_idx *rs_graph_referents(const rs_graph *g, rs_idx n, size_t *count)
{
    if (!g->finished || n >= g->node_count) {
        *count = 0;
        return NULL;
    }
    *count = g->fwd_off[n + 1] - g->fwd_off[n];
    return g->fwd + g->fwd_off[n];
}

const rs_idx *rs_graph_edges(const rs_graph *g, size_t *count)
{
    if (!g->finished) {
        *count = 0;
        return NULL;
    }
    *count = g->fwd_off[g->node_count];
    return g->fwd;
}

const rs_idx *rs_graph_referrers(const rs_graph *g, rs_idx n, size_t *count)
{
    if (!g->finished || n >= g->node_count) {
        *count = 0;
        return NULL;
    }
    *count = g->rev_off[n + 1] - g->rev_off[n];
    return g->rev + g->rev_off[n];
}

rs_graph_node_arrays rs_graph_arrays(const rs_graph *g)
{
    if (!g->finished)
        return (rs_graph_node_arrays){NULL, NULL, NULL};
    return (rs_graph_node_arrays){g->fwd_off, g->rev_off, g->flags};
}

const rs_root *rs_graph_roots(const rs_graph *g, size_t *count)
{
    *count = g->root_count;
    return g->roots;
}

uintptr_t rs_graph_addr(const rs_graph *g, rs_idx n)
{
    return g->addr[n];
}

/* The place of n in big_sizes (sorted by node): its entry or where it goes. */
static size_t big_size_place(const rs_graph *g, rs_idx n)
{
    size_t lo = 0, hi = g->big_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->big_sizes[mid].node < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t rs_graph_size(const rs_graph *g, rs_idx n)
{
    if (g->size[n] != SIZE_BIG)
        return g->size[n];
    size_t i = big_size_place(g, n);
    return i < g->big_count && g->big_sizes[i].node == n ? g->big_sizes[i].size : SIZE_BIG;
}

int rs_graph_set_size(rs_graph *g, rs_idx n, uint64_t size)
{
    if (size < SIZE_BIG) {
        g->size[n] = (uint32_t)size;
        return 0;
    }
    size_t i = big_size_place(g, n);
    if (i == g->big_count || g->big_sizes[i].node != n) {
        if (g->big_count == g->big_cap) {
            size_t cap = g->big_cap ? g->big_cap * 2 : 8;
            if (!grow_array((void **)&g->big_sizes, sizeof *g->big_sizes, cap))
                return -1;
            g->big_cap = cap;
        }
        memmove(&g->big_sizes[i + 1], &g->big_sizes[i], (g->big_count - i) * sizeof *g->big_sizes);
        g->big_count++;
    }
    g->big_sizes[i] = (struct big_size){n, size};
    g->size[n] = SIZE_BIG;
    return 0;
}

uint32_t rs_graph_refcount(const rs_graph *g, rs_idx n)
{
    return g->refcount[n];
}

void rs_graph_set_refcount(rs_graph *g, rs_idx n, uint32_t refcount)
{
    g->refcount[n] = refcount;
}

uint32_t rs_graph_type_id(const rs_graph *g, rs_idx n)
{
    return g->type_id[n];
}

void rs_graph_set_type_id(rs_graph *g, rs_idx n, uint32_t type_id)
{
    g->type_id[n] = type_id;
}

uint32_t rs_graph_flags(const rs_graph *g, rs_idx n)
{
    return g->flags[n];
}

void rs_graph_add_flags(rs_graph *g, rs_idx n, uint32_t flags)
{
    g->flags[n] |= flags;
}

size_t rs_graph_memory_bytes(const rs_graph *g)
{
    size_t per_node = sizeof(uintptr_t) + 4 * sizeof(uint32_t);
    size_t bytes = sizeof *g + g->node_cap * per_node + (g->node_cap + 1) * sizeof(uint32_t);
    bytes += g->edge_cap * sizeof(rs_idx) + g->hash_cap * sizeof(uint32_t);
    bytes += g->root_cap * sizeof(rs_root) + g->big_cap * sizeof(struct big_size);
    if (g->finished)
        bytes += (g->node_count + 1) * sizeof(uint32_t) + g->edge_count * sizeof(rs_idx);
    return bytes;
}

/*
 * Tests of the graph core (src/graph.c).  Graphs are built the way the walk
 * builds them: a few addresses are interned, then node i = 0, 1, ... gets
 * its edge list in turn, and edges to new addresses add the nodes that are
 * walked later.  The result is compared with a naive adjacency list that a
 * few lines of obviously correct code compute from the same "heap".
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#endif

#include "refscope/graph.h"
#include "suites.h"

/* Fails the test with a message.  For checks inside loops over millions of
 * elements: ck_assert() records its location on every call, which would
 * dominate the run time. */
#define EXPECT(cond, ...)               \
    do {                                \
        if (!(cond))                    \
            ck_abort_msg(__VA_ARGS__);  \
    } while (0)

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* The documented memory budget after rs_graph_finish(): 48 bytes a node,
 * 8 an edge, plus the fixed part (the graph struct, hash slack, the
 * minimum root array). */
#define BUDGET_PER_NODE 48
#define BUDGET_PER_EDGE 8
#define BUDGET_FIXED 16384

static void *checked_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* splitmix64: a seeded, portable stream, so a failing seed can be replayed. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *state, uint32_t bound)
{
    return (uint32_t)(rng_next(state) % bound);
}

/* The inverse of an odd number modulo 2^64 (Newton's iteration; each step
 * doubles the number of correct low bits, starting from 3). */
static uint64_t inverse_odd(uint64_t a)
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

/*
 * A fake heap: objects 0 .. objects-1, each with its referents (object
 * numbers, duplicates and self references allowed), and the objects the
 * build interns before walking (the roots, repeats allowed).  Object o lives
 * at heap_addr(o): 16-byte aligned like a Python object, scattered by a
 * bijection so that neighbours in the heap are not neighbours in the hash.
 */
#define ADDR_BITS 26
#define ADDR_MASK ((UINT64_C(1) << ADDR_BITS) - 1)
#define ADDR_BASE UINT64_C(0x40000000)
#define ADDR_MUL UINT64_C(0x2545F491)

struct heap {
    uint32_t objects;
    uint32_t *ref_off; /* objects + 1 entries */
    uint32_t *refs;
    uint32_t *roots;
    uint32_t root_count;
};

static uintptr_t heap_addr(uint32_t obj)
{
    return (uintptr_t)(ADDR_BASE + (((obj * ADDR_MUL) & ADDR_MASK) << 4));
}

/* The object at addr, or UINT32_MAX when addr is no object of h. */
static uint32_t heap_object_at(const struct heap *h, uintptr_t addr)
{
    uint64_t offset = (uint64_t)addr - ADDR_BASE;
    if ((uint64_t)addr < ADDR_BASE || (offset & 15) != 0 || (offset >> 4) > ADDR_MASK)
        return UINT32_MAX;
    uint64_t obj = ((offset >> 4) * inverse_odd(ADDR_MUL)) & ADDR_MASK;
    return obj < h->objects ? (uint32_t)obj : UINT32_MAX;
}

static void heap_alloc(struct heap *h, uint32_t objects, uint32_t root_count)
{
    h->objects = objects;
    h->ref_off = checked_malloc(((size_t)objects + 1) * sizeof *h->ref_off);
    h->refs = NULL;
    h->roots = checked_malloc(root_count * sizeof *h->roots);
    h->root_count = root_count;
}

/* A random heap: each object has 0 .. max_degree referents, of which about
 * 1/8 are the object itself and 1/8 repeat an earlier referent of the same
 * object; the rest are uniform, so some objects are never reached. */
static void heap_random(struct heap *h, uint64_t seed, uint32_t objects, uint32_t max_degree,
                        uint32_t root_count)
{
    uint64_t rng = seed;
    heap_alloc(h, objects, root_count);
    h->ref_off[0] = 0;
    for (uint32_t o = 0; o < objects; o++)
        h->ref_off[o + 1] = h->ref_off[o] + rng_below(&rng, max_degree + 1);
    h->refs = checked_malloc(h->ref_off[objects] * sizeof *h->refs);
    for (uint32_t o = 0; o < objects; o++) {
        uint32_t first = h->ref_off[o];
        for (uint32_t k = first; k < h->ref_off[o + 1]; k++) {
            uint32_t kind = rng_below(&rng, 8);
            if (kind == 0)
                h->refs[k] = o;
            else if (kind == 1 && k > first)
                h->refs[k] = h->refs[first + rng_below(&rng, k - first)];
            else
                h->refs[k] = rng_below(&rng, objects);
        }
    }
    for (uint32_t r = 0; r < root_count; r++)
        h->roots[r] = (r > 0 && rng_below(&rng, 8) == 0) ? h->roots[r - 1] : rng_below(&rng, objects);
}

/* A heap where every object is reachable from the one root, object 0: a
 * ring o -> o + 1 plus extra_edges uniform edges spread evenly over the
 * objects, so the graph has exactly `objects` nodes and objects +
 * extra_edges edges. */
static void heap_ring(struct heap *h, uint64_t seed, uint32_t objects, uint32_t extra_edges)
{
    uint64_t rng = seed;
    heap_alloc(h, objects, 1);
    h->roots[0] = 0;
    h->ref_off[0] = 0;
    for (uint32_t o = 0; o < objects; o++) {
        uint64_t extra = (uint64_t)extra_edges * (o + 1) / objects - (uint64_t)extra_edges * o / objects;
        h->ref_off[o + 1] = h->ref_off[o] + 1 + (uint32_t)extra;
    }
    h->refs = checked_malloc(h->ref_off[objects] * sizeof *h->refs);
    for (uint32_t o = 0; o < objects; o++) {
        h->refs[h->ref_off[o]] = (o + 1) % objects;
        for (uint32_t k = h->ref_off[o] + 1; k < h->ref_off[o + 1]; k++)
            h->refs[k] = rng_below(&rng, objects);
    }
}

static void heap_free(struct heap *h)
{
    free(h->ref_off);
    free(h->refs);
    free(h->roots);
}

/* The expected graph: indexes in order of first appearance (roots, then
 * referents in walk order), referents in visit order, referrers listed per
 * edge in increasing source order. */
struct naive {
    uint32_t node_count;
    uint32_t edge_count;
    uint32_t *index_of;  /* per object; RS_NONE when never reached */
    uint32_t *object_of; /* per node */
    uint32_t *fwd_off, *fwd;
    uint32_t *rev_off, *rev;
};

static uint32_t naive_intern(struct naive *nv, uint32_t obj)
{
    if (nv->index_of[obj] == RS_NONE) {
        nv->object_of[nv->node_count] = obj;
        nv->index_of[obj] = nv->node_count++;
    }
    return nv->index_of[obj];
}

static void naive_build(struct naive *nv, const struct heap *h)
{
    nv->node_count = 0;
    nv->edge_count = 0;
    nv->index_of = checked_malloc(h->objects * sizeof *nv->index_of);
    for (uint32_t o = 0; o < h->objects; o++)
        nv->index_of[o] = RS_NONE;
    nv->object_of = checked_malloc(h->objects * sizeof *nv->object_of);
    nv->fwd_off = checked_malloc(((size_t)h->objects + 1) * sizeof *nv->fwd_off);
    nv->fwd = checked_malloc(h->ref_off[h->objects] * sizeof *nv->fwd);
    for (uint32_t r = 0; r < h->root_count; r++)
        naive_intern(nv, h->roots[r]);
    for (uint32_t i = 0; i < nv->node_count; i++) {
        uint32_t obj = nv->object_of[i];
        nv->fwd_off[i] = nv->edge_count;
        for (uint32_t k = h->ref_off[obj]; k < h->ref_off[obj + 1]; k++)
            nv->fwd[nv->edge_count++] = naive_intern(nv, h->refs[k]);
    }
    nv->fwd_off[nv->node_count] = nv->edge_count;

    uint32_t n = nv->node_count;
    nv->rev_off = checked_malloc(((size_t)n + 1) * sizeof *nv->rev_off);
    nv->rev = checked_malloc(nv->edge_count * sizeof *nv->rev);
    uint32_t *fill = checked_malloc(((size_t)n + 1) * sizeof *fill);
    memset(fill, 0, ((size_t)n + 1) * sizeof *fill);
    for (uint32_t k = 0; k < nv->edge_count; k++)
        fill[nv->fwd[k] + 1]++;
    for (uint32_t i = 0; i < n; i++)
        fill[i + 1] += fill[i];
    memcpy(nv->rev_off, fill, ((size_t)n + 1) * sizeof *fill);
    for (uint32_t src = 0; src < n; src++) {
        for (uint32_t k = nv->fwd_off[src]; k < nv->fwd_off[src + 1]; k++)
            nv->rev[fill[nv->fwd[k]]++] = src;
    }
    free(fill);
}

static void naive_free(struct naive *nv)
{
    free(nv->index_of);
    free(nv->object_of);
    free(nv->fwd_off);
    free(nv->fwd);
    free(nv->rev_off);
    free(nv->rev);
}

/* How to build, and what happened.  In retry mode a call that fails (an
 * injected allocation failure) is called again with the failure hook off,
 * as a caller that frees memory and retries would. */
struct build {
    size_t node_hint, edge_hint;
    bool intern_many; /* roots through rs_graph_intern_many() */
    bool retry;
    int failures; /* calls that returned an error */
    bool by_index; /* edges to known nodes through rs_graph_add_edges_to(), in runs */
};

/* Runs a build call (ok_expr is true on success); a failure ends the build
 * unless it may be retried once. */
#define BUILD_STEP(b, ok_expr)                      \
    while (!(ok_expr)) {                            \
        (b)->failures++;                            \
        if (!(b)->retry || (b)->failures > 1)       \
            goto error;                             \
        rs_alloc_fail_after(0);                     \
    }

static uint32_t root_kind(uint32_t r)
{
    return r % RS_ROOT_KIND_COUNT;
}

/* Builds the graph of h in walk order and finishes it.  Returns NULL when a
 * call reported an error (the graph is freed then). */
static rs_graph *graph_build(const struct heap *h, struct build *b)
{
    rs_graph *g = NULL;
    uintptr_t *root_addrs = checked_malloc(h->root_count * sizeof *root_addrs);
    rs_idx *root_idx = checked_malloc(h->root_count * sizeof *root_idx);
    for (uint32_t r = 0; r < h->root_count; r++)
        root_addrs[r] = heap_addr(h->roots[r]);

    BUILD_STEP(b, (g = rs_graph_new(b->node_hint, b->edge_hint)) != NULL);
    if (b->intern_many) {
        BUILD_STEP(b, rs_graph_intern_many(g, root_addrs, h->root_count, root_idx) == 0);
    } else {
        for (uint32_t r = 0; r < h->root_count; r++)
            BUILD_STEP(b, (root_idx[r] = rs_graph_intern(g, root_addrs[r])) != RS_NONE);
    }
    for (uint32_t r = 0; r < h->root_count; r++)
        EXPECT(rs_graph_addr(g, root_idx[r]) == root_addrs[r], "root %u interned as %u, wrong address", r,
               root_idx[r]);

    /* The walk: flush only when out of known nodes, so pending edges pile up
     * across lists as they do in the real walk. */
    for (rs_idx i = 0;; i++) {
        if (i >= rs_graph_node_count(g)) {
            BUILD_STEP(b, rs_graph_flush(g) == 0);
            if (i >= rs_graph_node_count(g))
                break;
        }
        BUILD_STEP(b, rs_graph_begin_edges(g, i) == 0);
        uint32_t obj = heap_object_at(h, rs_graph_addr(g, i));
        EXPECT(obj != UINT32_MAX, "node %u has address %#jx, not one of the heap", i,
               (uintmax_t)rs_graph_addr(g, i));
        /* With by_index, runs of edges to nodes already interned go by
         * index (up to 5 at a time), between edges by address still pending. */
        rs_idx run[5];
        size_t in_run = 0;
        for (uint32_t k = h->ref_off[obj]; k < h->ref_off[obj + 1]; k++) {
            rs_idx known = b->by_index ? rs_graph_find(g, heap_addr(h->refs[k])) : RS_NONE;
            if (known != RS_NONE && in_run < COUNT_OF(run)) {
                run[in_run++] = known;
                continue;
            }
            if (in_run > 0)
                BUILD_STEP(b, rs_graph_add_edges_to(g, run, in_run) == 0);
            in_run = 0;
            if (known != RS_NONE)
                run[in_run++] = known;
            else
                BUILD_STEP(b, rs_graph_add_edge(g, heap_addr(h->refs[k])) == 0);
        }
        if (in_run > 0)
            BUILD_STEP(b, rs_graph_add_edges_to(g, run, in_run) == 0);
    }

    for (uint32_t r = 0; r < h->root_count; r++)
        BUILD_STEP(b, rs_graph_add_root(g, root_idx[r], root_kind(r), r) == 0);
    BUILD_STEP(b, rs_graph_finish(g) == 0);
    free(root_addrs);
    free(root_idx);
    return g;

error:
    rs_graph_free(g);
    free(root_addrs);
    free(root_idx);
    return NULL;
}

/* Compares a finished graph with the naive one, node by node and address by
 * address, including absent addresses and out-of-range indexes. */
static void graph_check(const rs_graph *g, const struct heap *h, const struct naive *nv)
{
    uint32_t n = nv->node_count;
    ck_assert_uint_eq(rs_graph_node_count(g), n);
    ck_assert_uint_eq(rs_graph_edge_count(g), nv->edge_count);

    for (rs_idx i = 0; i < n; i++) {
        EXPECT(rs_graph_addr(g, i) == heap_addr(nv->object_of[i]), "node %u: address %#jx, expected %#jx", i,
               (uintmax_t)rs_graph_addr(g, i), (uintmax_t)heap_addr(nv->object_of[i]));
        size_t count;
        const rs_idx *list = rs_graph_referents(g, i, &count);
        const uint32_t *want = nv->fwd + nv->fwd_off[i];
        size_t want_count = nv->fwd_off[i + 1] - nv->fwd_off[i];
        EXPECT(count == want_count, "node %u: %zu referents, expected %zu", i, count, want_count);
        for (size_t k = 0; k < count; k++)
            EXPECT(list[k] == want[k], "node %u referent %zu: %u, expected %u", i, k, list[k], want[k]);

        list = rs_graph_referrers(g, i, &count);
        want = nv->rev + nv->rev_off[i];
        want_count = nv->rev_off[i + 1] - nv->rev_off[i];
        EXPECT(count == want_count, "node %u: %zu referrers, expected %zu", i, count, want_count);
        for (size_t k = 0; k < count; k++) {
            EXPECT(list[k] == want[k], "node %u referrer %zu: %u, expected %u", i, k, list[k], want[k]);
            EXPECT(k == 0 || list[k - 1] <= list[k], "node %u: referrers out of order at %zu", i, k);
        }
    }
    const rs_idx out_of_range[] = {n, n + 1, RS_NONE};
    for (size_t j = 0; j < COUNT_OF(out_of_range); j++) {
        size_t count = 99;
        rs_graph_referents(g, out_of_range[j], &count);
        ck_assert_uint_eq(count, 0);
        count = 99;
        rs_graph_referrers(g, out_of_range[j], &count);
        ck_assert_uint_eq(count, 0);
    }

    /* Every heap object is found exactly when reached; addr + 8 hashes to
     * the same slot as addr but is never a node. */
    for (uint32_t o = 0; o < h->objects; o++) {
        rs_idx got = rs_graph_find(g, heap_addr(o));
        EXPECT(got == nv->index_of[o], "find(object %u) = %u, expected %u", o, got, nv->index_of[o]);
        got = rs_graph_find(g, heap_addr(o) + 8);
        EXPECT(got == RS_NONE, "find(object %u + 8) = %u, expected none", o, got);
    }
    for (uint32_t o = h->objects; o < h->objects + 1000 && o <= ADDR_MASK; o++)
        EXPECT(rs_graph_find(g, heap_addr(o)) == RS_NONE, "find(non-object %u) found a node", o);
    ck_assert_uint_eq(rs_graph_find(g, 0), RS_NONE);
    ck_assert_uint_eq(rs_graph_find(g, UINTPTR_MAX), RS_NONE);

    size_t root_count;
    const rs_root *roots = rs_graph_roots(g, &root_count);
    ck_assert_uint_eq(root_count, h->root_count);
    /* Each root flags its target RS_NODE_ROOT and the flag of its kind. */
    uint32_t *want_flags = checked_malloc((n ? n : 1) * sizeof *want_flags);
    memset(want_flags, 0, (n ? n : 1) * sizeof *want_flags);
    for (uint32_t r = 0; r < h->root_count; r++) {
        rs_idx target = nv->index_of[h->roots[r]];
        EXPECT(roots[r].target == target && roots[r].kind == root_kind(r) && roots[r].info == r,
               "root %u: {%u, %u, %u}, expected {%u, %u, %u}", r, roots[r].target, roots[r].kind,
               roots[r].info, target, root_kind(r), r);
        want_flags[target] |= RS_NODE_ROOT | (RS_NODE_ROOT_MODULE << root_kind(r));
    }
    for (rs_idx i = 0; i < n; i++)
        EXPECT(rs_graph_flags(g, i) == want_flags[i], "node %u: flags %#x, expected %#x", i, rs_graph_flags(g, i),
               want_flags[i]);
    free(want_flags);
}

static const struct random_case {
    uint64_t seed;
    uint32_t objects, max_degree, roots;
    size_t node_hint, edge_hint;
    bool intern_many;
} random_cases[] = {
    {1, 1, 0, 1, 0, 0, false},             /* one node, no edges */
    {2, 1, 5, 2, 1, 1, true},              /* one node, only self edges */
    {3, 10, 3, 2, 1, 1, false},
    {4, 200, 4, 5, 0, 0, true},
    {5, 5000, 3, 20, 5000, 15000, false},  /* exact hints: no growth */
    {6, 20000, 6, 10, 1, 1, true},
    {7, 20000, 1, 300, 0, 0, false},       /* sparse: many objects never reached */
    {8, 3000, 1200, 2, 0, 0, true},        /* long lists: pending edges overflow within one list */
    {9, 20000, 12, 1, 20000, 0, false},
    {10, 17, 40, 40, 1, 1, true},          /* tiny heap, many duplicate edges and roots */
};

/* Check whether random graphs built in walk order equal the naive adjacency list. */
START_TEST(test_graph_random_matches_naive)
{
    const struct random_case *c = &random_cases[_i];
    struct heap h;
    struct naive nv;
    heap_random(&h, c->seed, c->objects, c->max_degree, c->roots);
    naive_build(&nv, &h);
    /* Edges by address only, then also by index where the target is known. */
    for (int by_index = 0; by_index < 2; by_index++) {
        struct build b = {c->node_hint, c->edge_hint, c->intern_many, false, 0, by_index};
        rs_graph *g = graph_build(&h, &b);
        ck_assert_msg(g != NULL, "seed %ju, by_index %d: build failed", (uintmax_t)c->seed, by_index);
        graph_check(g, &h, &nv);
        rs_graph_free(g);
    }
    naive_free(&nv);
    heap_free(&h);
}
END_TEST

START_TEST(test_graph_arrays_match_accessors)
{
    /* Check whether the per-node arrays of a finished graph give every
     * node's referents, referrers and flags as the accessors do, and are
     * NULL before the graph is finished. */
    rs_graph *unfinished = rs_graph_new(4, 4);
    ck_assert_ptr_nonnull(unfinished);
    rs_graph_node_arrays none = rs_graph_arrays(unfinished);
    ck_assert(none.referent_start == NULL && none.referrer_start == NULL && none.flags == NULL);
    rs_graph_free(unfinished);
    const struct random_case *c = &random_cases[_i];
    struct heap h;
    heap_random(&h, c->seed, c->objects, c->max_degree, c->roots);
    struct build b = {c->node_hint, c->edge_hint, c->intern_many, false, 0};
    rs_graph *g = graph_build(&h, &b);
    ck_assert_ptr_nonnull(g);
    rs_graph_node_arrays a = rs_graph_arrays(g);
    size_t n = rs_graph_node_count(g);
    const rs_idx *first_referent = n ? rs_graph_referents(g, 0, &(size_t){0}) : NULL;
    const rs_idx *first_referrer = n ? rs_graph_referrers(g, 0, &(size_t){0}) : NULL;
    for (rs_idx v = 0; v < n; v++) {
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, v, &count);
        EXPECT(a.referent_start[v + 1] - a.referent_start[v] == count, "node %u: referent count", v);
        EXPECT(targets == first_referent + (a.referent_start[v] - a.referent_start[0]), "node %u: referents", v);
        const rs_idx *sources = rs_graph_referrers(g, v, &count);
        EXPECT(a.referrer_start[v + 1] - a.referrer_start[v] == count, "node %u: referrer count", v);
        EXPECT(sources == first_referrer + (a.referrer_start[v] - a.referrer_start[0]), "node %u: referrers", v);
        EXPECT(a.flags[v] == rs_graph_flags(g, v), "node %u: flags", v);
    }
    if (n > 0) {
        ck_assert_uint_eq(a.referent_start[n] - a.referent_start[0], rs_graph_edge_count(g));
        ck_assert_uint_eq(a.referrer_start[n] - a.referrer_start[0], rs_graph_edge_count(g));
    }
    rs_graph_free(g);
    heap_free(&h);
}
END_TEST

/* Multiplier of slot_of() in src/graph.c, which maps addr to slot
 * ((top 32 bits of (addr >> 4) * multiplier) * cap) >> 32. */
#define SLOT_MULTIPLIER UINT64_C(0x9E3779B97F4A7C15)

static size_t mirrored_slot(uintptr_t addr, size_t cap)
{
    uint64_t h = (uint64_t)(addr >> 4) * SLOT_MULTIPLIER;
    return (size_t)(((h >> 32) * (uint64_t)cap) >> 32);
}

_Static_assert(UINTPTR_MAX == UINT64_MAX, "the collision addresses need 64-bit addresses");

/* The next address (counter *j) whose hash lands in the last slot (last =
 * true) or the first slot of every table of up to 2^20 slots: the top 32
 * bits of the product lie within 2^12 of the end or the start of their
 * range.  The multiplier is odd, so products invert to (addr >> 4). */
static uintptr_t colliding_addr(bool last, uint64_t *j)
{
    const uint64_t inverse = inverse_odd(SLOT_MULTIPLIER);
    for (;; (*j)++) {
        uint64_t top = last ? UINT32_MAX - (*j & 0xFFF) : (*j & 0xFFF);
        uint64_t x = ((top << 32) | (uint32_t)*j) * inverse;
        if (x >> 60 == 0) {
            (*j)++;
            return (uintptr_t)(x << 4);
        }
    }
}

enum collision_shape {
    CLUSTER_LAST,  /* all in the last slot: probes wrap around the table */
    CLUSTER_FIRST, /* all in slot 0 */
    CLUSTER_BOTH,  /* alternately first and last: the wrapped run meets the other */
    ALIASES,       /* groups of 8 addresses differing in the low 4 bits only (ignored by the hash) */
};

static const struct collision_case {
    enum collision_shape shape;
    uint32_t count;
    size_t node_hint; /* 1: the table grows and rehashes the clusters */
    bool intern_many;
} collision_cases[] = {
    {CLUSTER_LAST, 3000, 1, false},
    {CLUSTER_LAST, 3000, 3000, true},
    {CLUSTER_FIRST, 3000, 1, true},
    {CLUSTER_BOTH, 3000, 1, false},
    {CLUSTER_BOTH, 33, 1, true},
    {ALIASES, 4000, 1, true},
    {ALIASES, 4000, 4000, false},
};

static uintptr_t collision_addr(enum collision_shape shape, uint32_t i, uint64_t *j)
{
    switch (shape) {
    case CLUSTER_LAST:
        return colliding_addr(true, j);
    case CLUSTER_FIRST:
        return colliding_addr(false, j);
    case CLUSTER_BOTH:
        return colliding_addr(i % 2 == 1, j);
    case ALIASES:
        break;
    }
    /* Group i / 8 at a distinct 16-aligned base, scattered by an odd multiplier. */
    return (uintptr_t)(0x100000 + ((((uint64_t)(i / 8) * ADDR_MUL) & 0xFFFFFF) << 4) + i % 8);
}

/* Check whether colliding addresses are all found and colliding absent ones are not. */
START_TEST(test_graph_hash_collisions)
{
    const struct collision_case *c = &collision_cases[_i];
    /* The crafted addresses collide under the hash they mirror. */
    uint64_t probe = 0;
    const size_t caps[] = {67, 1000, 12345, (size_t)1 << 20};
    for (size_t k = 0; k < COUNT_OF(caps); k++) {
        ck_assert_uint_eq(mirrored_slot(colliding_addr(true, &probe), caps[k]), caps[k] - 1);
        ck_assert_uint_eq(mirrored_slot(colliding_addr(false, &probe), caps[k]), 0);
    }

    /* The first count addresses are interned; then come absent ones: fresh
     * addresses of the same shape and, for each interned addr, addr + 8,
     * which hashes like addr. */
    uint32_t absent_fresh = 500;
    uint32_t total = c->count + absent_fresh;
    uintptr_t *addrs = checked_malloc(total * sizeof *addrs);
    uint64_t j = 1; /* j = 0 would give address 0, which the checks below use as absent */
    for (uint32_t i = 0; i < total; i++)
        addrs[i] = collision_addr(c->shape, i, &j);

    rs_graph *g = rs_graph_new(c->node_hint, 0);
    ck_assert_ptr_nonnull(g);
    for (int pass = 0; pass < 2; pass++) { /* the second pass finds what the first added */
        if (c->intern_many) {
            rs_idx *out = checked_malloc(c->count * sizeof *out);
            ck_assert_int_eq(rs_graph_intern_many(g, addrs, c->count, out), 0);
            for (uint32_t i = 0; i < c->count; i++)
                EXPECT(out[i] == i, "pass %d: address %u interned as %u", pass, i, out[i]);
            free(out);
        } else {
            for (uint32_t i = 0; i < c->count; i++) {
                rs_idx got = rs_graph_intern(g, addrs[i]);
                EXPECT(got == i, "pass %d: address %u interned as %u", pass, i, got);
            }
        }
        ck_assert_uint_eq(rs_graph_node_count(g), c->count);
    }
    for (int finished = 0; finished < 2; finished++) {
        for (uint32_t i = 0; i < c->count; i++) {
            rs_idx got = rs_graph_find(g, addrs[i]);
            EXPECT(got == i, "finished=%d: find(address %u) = %u", finished, i, got);
            got = rs_graph_find(g, addrs[i] + 8);
            EXPECT(got == RS_NONE, "finished=%d: find(address %u + 8) = %u", finished, i, got);
        }
        for (uint32_t i = c->count; i < total; i++)
            EXPECT(rs_graph_find(g, addrs[i]) == RS_NONE, "finished=%d: absent address %u found", finished, i);
        ck_assert_uint_eq(rs_graph_find(g, 0), RS_NONE);
        /* The batched lookup answers as the single one, present or absent,
         * across batch boundaries (total is not a multiple of a batch). */
        rs_idx *found = checked_malloc(total * sizeof *found);
        rs_graph_find_many(g, addrs, total, found);
        for (uint32_t i = 0; i < total; i++)
            EXPECT(found[i] == (i < c->count ? i : RS_NONE), "finished=%d: find_many(address %u) = %u",
                   finished, i, found[i]);
        for (uint32_t i = 0; i < c->count; i++)
            addrs[i] += 8;
        rs_graph_find_many(g, addrs, c->count, found);
        for (uint32_t i = 0; i < c->count; i++) {
            addrs[i] -= 8;
            EXPECT(found[i] == RS_NONE, "finished=%d: find_many(address %u + 8) = %u", finished, i, found[i]);
        }
        free(found);
        ck_assert_int_eq(rs_graph_finish(g), 0);
    }
    rs_graph_free(g);
    free(addrs);
}
END_TEST

static const struct {
    size_t node_hint, edge_hint;
} empty_cases[] = {{0, 0}, {1, 1}, {100000, 0}, {0, 100000}};

/* Check whether an empty graph finishes, counts 0 and finds and lists nothing. */
START_TEST(test_graph_empty)
{
    rs_graph *g = rs_graph_new(empty_cases[_i].node_hint, empty_cases[_i].edge_hint);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(rs_graph_find(g, 0x1000), RS_NONE);
    ck_assert_int_eq(rs_graph_flush(g), 0);
    ck_assert_int_eq(rs_graph_finish(g), 0);
    ck_assert_int_eq(rs_graph_finish(g), 0);
    ck_assert_uint_eq(rs_graph_node_count(g), 0);
    ck_assert_uint_eq(rs_graph_edge_count(g), 0);
    const uintptr_t absent[] = {0, 0x1000, 0x7f0000001230, UINTPTR_MAX};
    for (size_t k = 0; k < COUNT_OF(absent); k++)
        ck_assert_uint_eq(rs_graph_find(g, absent[k]), RS_NONE);
    const rs_idx indexes[] = {0, 1, RS_NONE};
    for (size_t k = 0; k < COUNT_OF(indexes); k++) {
        size_t count = 99;
        rs_graph_referents(g, indexes[k], &count);
        ck_assert_uint_eq(count, 0);
        count = 99;
        rs_graph_referrers(g, indexes[k], &count);
        ck_assert_uint_eq(count, 0);
    }
    size_t root_count = 99;
    rs_graph_roots(g, &root_count);
    ck_assert_uint_eq(root_count, 0);
    ck_assert_int_eq(rs_graph_add_root(g, 0, RS_ROOT_MODULE, 0), -1);
    ck_assert_uint_gt(rs_graph_memory_bytes(g), 0);
    rs_graph_free(g);
    rs_graph_free(NULL);
}
END_TEST

/* Check whether a graph grows from hints of 1 to 100k nodes and 300k edges intact. */
START_TEST(test_graph_growth_past_hints)
{
    struct heap h;
    struct naive nv;
    heap_ring(&h, 42, 100000, 200000);
    naive_build(&nv, &h);
    ck_assert_uint_eq(nv.node_count, 100000);
    ck_assert_uint_eq(nv.edge_count, 300000);
    struct build b = {1, 1, false, false, 0};
    rs_graph *g = graph_build(&h, &b);
    ck_assert_ptr_nonnull(g);
    graph_check(g, &h, &nv);
    rs_graph_free(g);
    naive_free(&nv);
    heap_free(&h);
}
END_TEST

/* Whether an allocation failure injected k allocations ago is still due:
 * runs up to k allocations and reports whether one of them failed.
 * Disarms the hook. */
static bool alloc_failure_pending(long k)
{
    bool pending = false;
    for (long i = 0; i < k && !pending; i++) {
        void *p = rs_malloc(1);
        pending = p == NULL;
        rs_free(p);
    }
    rs_alloc_fail_after(0);
    return pending;
}

static const struct alloc_case {
    size_t node_hint, edge_hint;
    bool intern_many, retry, by_index;
} alloc_cases[] = {
    {1, 1, false, false, false},
    {1, 1, true, false, false},
    {0, 0, false, true, false},
    {1, 1, true, true, false},
    {700, 3000, false, false, false},
    {1, 1, false, false, true},
    {0, 0, true, true, true},
};

/* Check whether every allocation failure surfaces as an error and leaves a usable graph. */
START_TEST(test_graph_allocation_failure)
{
    /* Each failure must come back as NULL / -1 / RS_NONE from some call and
     * leave a graph that rs_graph_free() takes (or, in retry mode, that a
     * retry completes); builds that succeed must equal the naive graph.
     * Leaks show under valgrind. */
    const struct alloc_case *c = &alloc_cases[_i];
    struct heap h;
    struct naive nv;
    /* Enough nodes, edges and roots (> 256) for every array to grow, and
     * more than 512 edges pending at times. */
    heap_random(&h, 77, 700, 6, 300);
    naive_build(&nv, &h);
    ck_assert_uint_gt(nv.edge_count, 1000);

    int surfaced = 0;
    long k;
    for (k = 1;; k++) {
        ck_assert_msg(k < 100000, "every build saw a failure; the hook never runs out");
        struct build b = {c->node_hint, c->edge_hint, c->intern_many, c->retry, 0, c->by_index};
        rs_alloc_fail_after(k);
        rs_graph *g = graph_build(&h, &b);
        if (g == NULL) {
            rs_alloc_fail_after(0);
            ck_assert_msg(!c->retry, "k=%ld: build failed despite retry (%d failures)", k, b.failures);
            ck_assert_int_eq(b.failures, 1);
            surfaced++;
            continue;
        }
        /* A failed shrink in rs_graph_finish() is harmless and not reported,
         * so a build may succeed although its failure was consumed. */
        bool pending = alloc_failure_pending(k);
        ck_assert_int_le(b.failures, 1);
        surfaced += b.failures;
        graph_check(g, &h, &nv);
        rs_graph_free(g);
        if (pending) {
            ck_assert_int_eq(b.failures, 0);
            break;
        }
    }
    /* Most allocations of the build can fail, and did. */
    ck_assert_int_ge(surfaced, (k - 1) / 2);
    ck_assert_int_ge(surfaced, 10);
    naive_free(&nv);
    heap_free(&h);
}
END_TEST

/* Check whether roots come back in order, flag their targets by kind and refuse bad ones. */
START_TEST(test_graph_roots)
{
    static const rs_root explicit_roots[] = {
        {2, RS_ROOT_MODULE, 7}, {5, RS_ROOT_FRAME, 0}, {2, RS_ROOT_UNEXPLAINED, 1}, {19, RS_ROOT_FRAME, 3},
    };
    enum { NODES = 20, GENERATED = 300 };
    rs_root want[COUNT_OF(explicit_roots) + GENERATED];
    size_t want_count = 0;
    for (size_t k = 0; k < COUNT_OF(explicit_roots); k++)
        want[want_count++] = explicit_roots[k];
    for (uint32_t k = 0; k < GENERATED; k++) /* past the first root array: even nodes from 10 */
        want[want_count++] = (rs_root){10 + 2 * (k % 5), k % RS_ROOT_KIND_COUNT, 1000 + k};

    rs_graph *g = rs_graph_new(0, 0);
    ck_assert_ptr_nonnull(g);
    for (uint32_t i = 0; i < NODES; i++)
        ck_assert_uint_eq(rs_graph_intern(g, 0x1000 + 16 * i), i);
    rs_graph_add_flags(g, 3, RS_NODE_TYPE);
    rs_graph_add_flags(g, 5, RS_NODE_MODULE | RS_NODE_NOT_DATA);

    for (size_t k = 0; k < want_count; k++) {
        ck_assert_int_eq(rs_graph_add_root(g, want[k].target, want[k].kind, want[k].info), 0);
        if (k == 1) {
            const rs_idx non_nodes[] = {NODES, NODES + 1, RS_NONE};
            for (size_t m = 0; m < COUNT_OF(non_nodes); m++)
                ck_assert_int_eq(rs_graph_add_root(g, non_nodes[m], RS_ROOT_FRAME, 0), -1);
            const uint32_t bad_kinds[] = {RS_ROOT_KIND_COUNT, 31, UINT32_MAX};
            for (size_t m = 0; m < COUNT_OF(bad_kinds); m++)
                ck_assert_int_eq(rs_graph_add_root(g, 7, bad_kinds[m], 0), -1);
        }
    }
    ck_assert_int_eq(rs_graph_begin_edges(g, 0), 0);
    ck_assert_int_eq(rs_graph_add_edge(g, 0x1000 + 16 * 5), 0);
    ck_assert_int_eq(rs_graph_finish(g), 0);

    size_t count;
    const rs_root *roots = rs_graph_roots(g, &count);
    ck_assert_uint_eq(count, want_count);
    for (size_t k = 0; k < count; k++) {
        ck_assert_uint_eq(roots[k].target, want[k].target);
        ck_assert_uint_eq(roots[k].kind, want[k].kind);
        ck_assert_uint_eq(roots[k].info, want[k].info);
    }
    /* The generated roots give nodes 10, 12, .. 18 every kind; the explicit
     * ones give 2, 5 and 19 their own mixes.  Node 7 only met refused roots. */
    enum { ALL_KINDS = RS_NODE_ROOT | RS_NODE_ROOT_MODULE | RS_NODE_ROOT_FRAME | RS_NODE_ROOT_HELD };
    static const uint32_t want_flags[NODES] = {
        [2] = RS_NODE_ROOT | RS_NODE_ROOT_MODULE | RS_NODE_ROOT_HELD,
        [3] = RS_NODE_TYPE,
        [5] = RS_NODE_ROOT | RS_NODE_ROOT_FRAME | RS_NODE_MODULE | RS_NODE_NOT_DATA,
        [10] = ALL_KINDS,
        [12] = ALL_KINDS,
        [14] = ALL_KINDS,
        [16] = ALL_KINDS,
        [18] = ALL_KINDS,
        [19] = RS_NODE_ROOT | RS_NODE_ROOT_FRAME,
    };
    for (rs_idx i = 0; i < NODES; i++)
        ck_assert_msg(rs_graph_flags(g, i) == want_flags[i], "node %u: flags %#x, expected %#x", i,
                      rs_graph_flags(g, i), want_flags[i]);
    rs_graph_free(g);
}
END_TEST

/* Check whether a graph built from a right node hint stays within 40 bytes a
 * node and 8 an edge, and one built from a hint ten times too small within
 * 40 plus what the doubled hash costs. */
START_TEST(test_graph_memory_per_node)
{
    enum { NODES = 200000 };
    static const struct { size_t hint; double max_node_bytes; } cases[] = {{NODES, 40.0}, {NODES / 10, 32.0 + 11.5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rs_graph *g = rs_graph_new(cases[c].hint, 2 * cases[c].hint);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(rs_graph_intern(g, 0x10000), 0);
        for (rs_idx i = 0; i < NODES; i++) {
            ck_assert_int_eq(rs_graph_begin_edges(g, i), 0);
            if (i + 1 < NODES) {
                ck_assert_int_eq(rs_graph_add_edge(g, 0x10000 + 32 * (uintptr_t)(i + 1)), 0);
                ck_assert_int_eq(rs_graph_add_edge(g, 0x10000 + 32 * (uintptr_t)(i / 2)), 0);
            }
            ck_assert_int_eq(rs_graph_flush(g), 0);
        }
        ck_assert_int_eq(rs_graph_finish(g), 0);
        ck_assert_uint_eq(rs_graph_node_count(g), NODES);
        double node_bytes = ((double)rs_graph_memory_bytes(g) - 8.0 * (double)rs_graph_edge_count(g)) / NODES;
        ck_assert_msg(node_bytes <= cases[c].max_node_bytes, "hint %zu: %.1f bytes a node, expected <= %.1f",
                      cases[c].hint, node_bytes, cases[c].max_node_bytes);
        rs_graph_free(g);
    }
}
END_TEST

/* Sizes of 4 GiB and more (every third node) and below, for the attribute test. */
static uint64_t attribute_size(uint32_t i)
{
    return i % 3 == 0 ? (UINT64_C(1) << 40) + i : (i % 3 == 1 ? UINT32_MAX - 1 - i : 48 + i);
}

/* Check whether per-node attributes read back as set, default to 0 and survive finish. */
START_TEST(test_graph_node_attributes)
{
    enum { SET = 300, ADDED = 200 };
    rs_graph *g = rs_graph_new(1, 1);
    ck_assert_ptr_nonnull(g);
    for (uint32_t i = 0; i < SET; i++)
        ck_assert_uint_eq(rs_graph_intern(g, 0x1000 + 16 * i), i);
    /* Big sizes first in reverse order, so the side table fills out of order. */
    for (uint32_t i = SET; i-- > 0;)
        if (i % 3 == 0)
            ck_assert_int_eq(rs_graph_set_size(g, i, UINT64_MAX - i), 0);
    for (uint32_t i = 0; i < SET; i++) {
        ck_assert_int_eq(rs_graph_set_size(g, i, attribute_size(i)), 0);
        rs_graph_set_refcount(g, i, 3 * i + 1);
        rs_graph_set_type_id(g, i, i % 7);
        rs_graph_add_flags(g, i, RS_NODE_GC_TRACKED);
        rs_graph_add_flags(g, i, i % 2 ? RS_NODE_FINALIZER : 0);
    }
    ck_assert_int_eq(rs_graph_begin_edges(g, 0), 0);
    for (uint32_t i = 0; i < ADDED; i++)
        ck_assert_int_eq(rs_graph_add_edge(g, 0x1000 + 16 * (SET + i)), 0);
    ck_assert_int_eq(rs_graph_finish(g), 0);
    ck_assert_uint_eq(rs_graph_node_count(g), SET + ADDED);
    for (uint32_t i = 0; i < SET + ADDED; i++) {
        bool set = i < SET;
        ck_assert_uint_eq(rs_graph_addr(g, i), 0x1000 + 16 * i);
        ck_assert_uint_eq(rs_graph_size(g, i), set ? attribute_size(i) : 0);
        ck_assert_uint_eq(rs_graph_refcount(g, i), set ? 3 * i + 1 : 0);
        ck_assert_uint_eq(rs_graph_type_id(g, i), set ? i % 7 : 0);
        ck_assert_uint_eq(rs_graph_flags(g, i),
                          set ? RS_NODE_GC_TRACKED | (i % 2 ? RS_NODE_FINALIZER : 0) : 0);
    }
    rs_graph_free(g);
}
END_TEST

enum op_kind { OP_END, OP_INTERN, OP_BEGIN, OP_EDGE, OP_EDGE_TO, OP_FLUSH, OP_FINISH };

/* One build call; arg is an address number (INTERN, EDGE) or an index
 * (BEGIN, EDGE_TO); want is its expected return (an index or RS_NONE for
 * INTERN). */
struct op {
    enum op_kind kind;
    uint32_t arg;
    long long want;
};

#define NO_NODE ((long long)RS_NONE)

static const struct misuse_case {
    const char *name;
    struct op ops[12];
    size_t nodes, edges, node0_referents;
} misuse_cases[] = {
    {"edge before any begin",
     {{OP_INTERN, 0, 0}, {OP_EDGE, 1, -1}, {OP_EDGE_TO, 0, -1}, {OP_FINISH, 0, 0}},
     1, 0, 0},
    {"edge by index to no node, after one pending",
     {{OP_INTERN, 0, 0}, {OP_BEGIN, 0, 0}, {OP_EDGE, 1, 0}, {OP_EDGE_TO, 1, -1}, {OP_EDGE_TO, RS_NONE, -1},
      {OP_EDGE_TO, 0, 0}, {OP_FLUSH, 0, 0}, {OP_EDGE_TO, 1, 0}, {OP_BEGIN, 1, 0}, {OP_FINISH, 0, 0},
      {OP_EDGE_TO, 0, -1}},
     2, 3, 3},
    {"edge and begin on an empty graph",
     {{OP_EDGE, 0, -1}, {OP_BEGIN, 0, -1}, {OP_FINISH, 0, 0}},
     0, 0, 0},
    {"begin skips a node",
     {{OP_INTERN, 0, 0}, {OP_INTERN, 1, 1}, {OP_BEGIN, 1, -1}, {OP_BEGIN, 0, 0}, {OP_EDGE, 2, 0},
      {OP_FLUSH, 0, 0}, {OP_BEGIN, 2, -1}, {OP_BEGIN, 1, 0}, {OP_EDGE, 0, 0}, {OP_BEGIN, 2, 0},
      {OP_FINISH, 0, 0}},
     3, 2, 1},
    {"begin twice",
     {{OP_INTERN, 0, 0}, {OP_BEGIN, 0, 0}, {OP_EDGE, 1, 0}, {OP_BEGIN, 0, -1}, {OP_EDGE, 2, 0},
      {OP_FINISH, 0, 0}},
     3, 2, 2},
    {"begin goes back",
     {{OP_INTERN, 0, 0}, {OP_INTERN, 1, 1}, {OP_BEGIN, 0, 0}, {OP_BEGIN, 1, 0}, {OP_BEGIN, 0, -1},
      {OP_FINISH, 0, 0}},
     2, 0, 0},
    {"begin past the last node",
     {{OP_INTERN, 0, 0}, {OP_BEGIN, 1, -1}, {OP_BEGIN, RS_NONE, -1}, {OP_BEGIN, 0, 0}, {OP_FINISH, 0, 0}},
     1, 0, 0},
    {"building after finish",
     {{OP_INTERN, 0, 0}, {OP_BEGIN, 0, 0}, {OP_EDGE, 1, 0}, {OP_FINISH, 0, 0}, {OP_BEGIN, 1, -1},
      {OP_EDGE, 2, -1}, {OP_INTERN, 3, NO_NODE}, {OP_FLUSH, 0, 0}, {OP_FINISH, 0, 0}},
     2, 1, 1},
};

/* Check whether out-of-order building is refused with -1 and leaves the graph as it was. */
START_TEST(test_graph_misuse)
{
    const struct misuse_case *c = &misuse_cases[_i];
    rs_graph *g = rs_graph_new(0, 0);
    ck_assert_ptr_nonnull(g);
    for (const struct op *op = c->ops; op->kind != OP_END; op++) {
        size_t nodes = rs_graph_node_count(g), edges = rs_graph_edge_count(g);
        uintptr_t addr = 0x1000 + 16 * (uintptr_t)op->arg;
        long long got = 0;
        switch (op->kind) {
        case OP_INTERN: got = rs_graph_intern(g, addr); break;
        case OP_BEGIN: got = rs_graph_begin_edges(g, op->arg); break;
        case OP_EDGE: got = rs_graph_add_edge(g, addr); break;
        case OP_EDGE_TO: got = rs_graph_add_edges_to(g, &(rs_idx){op->arg}, 1); break;
        case OP_FLUSH: got = rs_graph_flush(g); break;
        case OP_FINISH: got = rs_graph_finish(g); break;
        case OP_END: break;
        }
        ck_assert_msg(got == op->want, "%s: op %td returned %lld, expected %lld", c->name, op - c->ops, got,
                      op->want);
        if (got == -1 || (op->kind == OP_INTERN && got == NO_NODE)) {
            ck_assert_uint_eq(rs_graph_node_count(g), nodes);
            ck_assert_uint_eq(rs_graph_edge_count(g), edges);
        }
    }
    ck_assert_uint_eq(rs_graph_node_count(g), c->nodes);
    ck_assert_uint_eq(rs_graph_edge_count(g), c->edges);
    size_t count, referents = 0, referrers = 0;
    for (rs_idx i = 0; i < c->nodes; i++) {
        rs_graph_referents(g, i, &count);
        if (i == 0)
            ck_assert_uint_eq(count, c->node0_referents);
        referents += count;
        rs_graph_referrers(g, i, &count);
        referrers += count;
    }
    ck_assert_uint_eq(referents, c->edges);
    ck_assert_uint_eq(referrers, c->edges);
    rs_graph_free(g);
}
END_TEST

/* Bytes refscope has allocated and not freed. */
static size_t heap_bytes_in_use(void)
{
    return rs_alloc_live_bytes();
}

static const struct {
    size_t node_hint, edge_hint;
} memory_cases[] = {{0, 0}, {1, 1}, {1000000, 1500000}};

/* Check whether a 1M-node, 1.5M-edge graph fits 48 bytes a node and 8 an edge. */
START_TEST(test_graph_memory_budget)
{
    /* Also whether rs_graph_memory_bytes() tells the truth, where malloc
     * statistics can say. */
    struct heap h;
    struct naive nv;
    heap_ring(&h, 1234, 1000000, 500000);
    naive_build(&nv, &h);
    size_t before = heap_bytes_in_use();
    struct build b = {memory_cases[_i].node_hint, memory_cases[_i].edge_hint, false, false, 0};
    rs_graph *g = graph_build(&h, &b);
    ck_assert_ptr_nonnull(g);
    size_t used = heap_bytes_in_use() - before;
    ck_assert_uint_eq(rs_graph_node_count(g), 1000000);
    ck_assert_uint_eq(rs_graph_edge_count(g), 1500000);

    size_t reported = rs_graph_memory_bytes(g);
    size_t budget = BUDGET_PER_NODE * rs_graph_node_count(g) + BUDGET_PER_EDGE * rs_graph_edge_count(g) +
                    BUDGET_FIXED;
    ck_assert_msg(reported <= budget, "hints %zu/%zu: %zu bytes reported, budget %zu", memory_cases[_i].node_hint,
                  memory_cases[_i].edge_hint, reported, budget);
    /* The graph reports exactly what it holds, give or take its header. */
    ck_assert_msg(used <= reported + 4096 && reported <= used + 4096, "%zu bytes allocated, %zu reported", used,
                  reported);
    graph_check(g, &h, &nv);
    rs_graph_free(g);
    naive_free(&nv);
    heap_free(&h);
}
END_TEST

Suite *suite_graph(void)
{
    Suite *s = suite_create("graph");

    TCase *tc = tcase_create("build");
    /* Check's default of 4 s is not enough for 400k nodes under ASan on a
     * machine other builds share. */
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_graph_random_matches_naive, 0, (int)COUNT_OF(random_cases));
    tcase_add_loop_test(tc, test_graph_arrays_match_accessors, 0, (int)COUNT_OF(random_cases));
    tcase_add_loop_test(tc, test_graph_hash_collisions, 0, (int)COUNT_OF(collision_cases));
    tcase_add_loop_test(tc, test_graph_empty, 0, (int)COUNT_OF(empty_cases));
    tcase_add_test(tc, test_graph_roots);
    tcase_add_test(tc, test_graph_node_attributes);
    tcase_add_test(tc, test_graph_memory_per_node);
    tcase_add_loop_test(tc, test_graph_misuse, 0, (int)COUNT_OF(misuse_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("failure");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_graph_allocation_failure, 0, (int)COUNT_OF(alloc_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_graph_growth_past_hints);
    tcase_add_loop_test(tc, test_graph_memory_budget, 0, (int)COUNT_OF(memory_cases));
    suite_add_tcase(s, tc);
    return s;
}

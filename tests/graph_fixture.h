/* Helpers for the pure-C analysis tests (scc, dom): graphs built from edge
 * lists through the graph API, a seeded PRNG, random graphs, and a heap
 * probe for leak checks.  No interpreter is involved. */
#ifndef REFSCOPE_TESTS_GRAPH_FIXTURE_H
#define REFSCOPE_TESTS_GRAPH_FIXTURE_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "refscope/graph.h"

/* ck_assert_uint_* / ck_assert_int_* / ck_assert for loops over millions
 * of values: Check writes a mark point to its pipe for every assertion that
 * passes, which would make such loops take minutes; these stay silent until
 * one fails. */
#define FIXTURE_UINT(X, OP, Y)                                                            \
    do {                                                                                  \
        uintmax_t fixture_x_ = (X), fixture_y_ = (Y);                                     \
        if (!(fixture_x_ OP fixture_y_))                                                  \
            ck_abort_msg("Assertion '%s' failed: %s == %ju, %s == %ju", #X " " #OP " " #Y, \
                         #X, fixture_x_, #Y, fixture_y_);                                 \
    } while (0)
#define FIXTURE_INT(X, OP, Y)                                                             \
    do {                                                                                  \
        intmax_t fixture_x_ = (X), fixture_y_ = (Y);                                      \
        if (!(fixture_x_ OP fixture_y_))                                                  \
            ck_abort_msg("Assertion '%s' failed: %s == %jd, %s == %jd", #X " " #OP " " #Y, \
                         #X, fixture_x_, #Y, fixture_y_);                                 \
    } while (0)
#define FIXTURE_TRUE(X)                                       \
    do {                                                      \
        if (!(X))                                             \
            ck_abort_msg("Assertion '%s' failed", #X);        \
    } while (0)

/* Node i of a fixture graph lives at this fake address. */
#define FIXTURE_ADDR(i) ((uintptr_t)0x1000 + 16 * (uintptr_t)(i))

typedef struct fixture_edge {
    uint32_t src, dst;
} fixture_edge;

/* Builds a finished graph with nodes 0 .. n-1 (node i at FIXTURE_ADDR(i))
 * and the given edges, kept in their order per source, and one root into
 * each of roots[0 .. root_count), of every kind in turn.  Fails the current
 * test when the graph API fails; free with rs_graph_free(). */
static inline rs_graph *fixture_graph(size_t n, const fixture_edge *edges, size_t edge_count,
                                      const rs_idx *roots, size_t root_count)
{
    rs_graph *g = rs_graph_new(n, edge_count);
    ck_assert_ptr_nonnull(g);
    uintptr_t *addrs = malloc((n + 1) * sizeof *addrs);
    rs_idx *idx = malloc((n + 1) * sizeof *idx);
    size_t *start = calloc(n + 2, sizeof *start);
    uint32_t *dst = malloc((edge_count + 1) * sizeof *dst);
    ck_assert(addrs && idx && start && dst);
    for (size_t i = 0; i < n; i++)
        addrs[i] = FIXTURE_ADDR(i);
    ck_assert_int_eq(rs_graph_intern_many(g, addrs, n, idx), 0);
    for (size_t i = 0; i < n; i++)
        FIXTURE_UINT(idx[i], ==, i);
    /* Stable counting sort of the edges by source. */
    for (size_t k = 0; k < edge_count; k++) {
        FIXTURE_TRUE(edges[k].src < n && edges[k].dst < n);
        start[edges[k].src + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    for (size_t k = 0; k < edge_count; k++)
        dst[start[edges[k].src]++] = edges[k].dst;
    for (size_t i = n; i > 0; i--)
        start[i] = start[i - 1];
    start[0] = 0;
    for (size_t i = 0; i < n; i++) {
        FIXTURE_INT(rs_graph_begin_edges(g, (rs_idx)i), ==, 0);
        for (size_t k = start[i]; k < start[i + 1]; k++)
            FIXTURE_INT(rs_graph_add_edge(g, FIXTURE_ADDR(dst[k])), ==, 0);
    }
    for (size_t k = 0; k < root_count; k++)
        FIXTURE_INT(rs_graph_add_root(g, roots[k], (uint32_t)(k % RS_ROOT_KIND_COUNT), 0), ==, 0);
    ck_assert_int_eq(rs_graph_finish(g), 0);
    ck_assert_uint_eq(rs_graph_node_count(g), n);
    ck_assert_uint_eq(rs_graph_edge_count(g), edge_count);
    free(addrs);
    free(idx);
    free(start);
    free(dst);
    return g;
}

/* splitmix64: small, seedable, good enough for test graphs. */
typedef struct fixture_rng {
    uint64_t state;
} fixture_rng;

static inline uint64_t fixture_next(fixture_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Returns a number in 0 .. bound-1 (bound >= 1). */
static inline uint32_t fixture_below(fixture_rng *r, uint32_t bound)
{
    return (uint32_t)(((fixture_next(r) >> 32) * (uint64_t)bound) >> 32);
}

/* Fills edges[0 .. edge_count) with random edges among n nodes: a mix of
 * uniform targets and targets near the source, so that graphs have both
 * long-range structure and many small cycles.  Self-edges and duplicates
 * occur. */
static inline void fixture_random_edges(fixture_rng *r, uint32_t n, fixture_edge *edges,
                                        size_t edge_count)
{
    for (size_t k = 0; k < edge_count; k++) {
        uint32_t src = fixture_below(r, n);
        uint32_t dst;
        if (fixture_below(r, 2) == 0) {
            dst = fixture_below(r, n);
        } else {
            uint32_t span = n < 8 ? n : 8;
            dst = (uint32_t)((src + n - span / 2 + fixture_below(r, span)) % n);
        }
        edges[k] = (fixture_edge){src, dst};
    }
}

/* Bytes refscope has allocated and not freed (exact in every build, so
 * leak checks after injected failures always bite). */
static inline size_t fixture_heap_bytes(void)
{
    return rs_alloc_live_bytes();
}

#endif

/* Strongly connected components over data edges (src/scc.c), checked against
 * a naive reference and on hand-made and very large graphs.  Pure C. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "graph_fixture.h"
#include "refscope/scc.h"

#define BIG_GRAPH_NODES 3000000u

/* Edges into NOT_DATA nodes are not data edges. */
static int is_data_edge(const rs_graph *g, rs_idx dst)
{
    return !(rs_graph_flags(g, dst) & RS_NODE_NOT_DATA);
}

/* Reference answer: reach[u * words ..] is the set of nodes u reaches over
 * data edges (u included), by one breadth-first search per node. */
static uint64_t *reference_reach(const rs_graph *g, size_t words)
{
    size_t n = rs_graph_node_count(g);
    uint64_t *reach = calloc(n * words + 1, sizeof *reach);
    rs_idx *queue = malloc((n + 1) * sizeof *queue);
    FIXTURE_TRUE(reach && queue);
    for (rs_idx u = 0; u < n; u++) {
        uint64_t *seen = reach + (size_t)u * words;
        size_t head = 0, tail = 0;
        queue[tail++] = u;
        seen[u / 64] |= 1ull << (u % 64);
        while (head < tail) {
            size_t count;
            const rs_idx *targets = rs_graph_referents(g, queue[head++], &count);
            for (size_t k = 0; k < count; k++) {
                rs_idx v = targets[k];
                if (!is_data_edge(g, v) || (seen[v / 64] >> (v % 64) & 1))
                    continue;
                seen[v / 64] |= 1ull << (v % 64);
                queue[tail++] = v;
            }
        }
    }
    free(queue);
    return reach;
}

static int reaches(const uint64_t *reach, size_t words, rs_idx u, rs_idx v)
{
    return (int)(reach[(size_t)u * words + v / 64] >> (v % 64) & 1);
}

static int has_data_self_edge(const rs_graph *g, rs_idx u)
{
    size_t count;
    const rs_idx *targets = rs_graph_referents(g, u, &count);
    for (size_t k = 0; k < count; k++)
        if (targets[k] == u && is_data_edge(g, u))
            return 1;
    return 0;
}

/* Asserts that s is exactly the SCC decomposition of g over data edges, with
 * cycles, cycle numbering and component order as documented in scc.h. */
static void assert_matches_reference(const rs_graph *g, const rs_scc *s)
{
    size_t n = rs_graph_node_count(g);
    size_t words = n / 64 + 1;
    uint64_t *reach = reference_reach(g, words);
    size_t ncomp = rs_scc_component_count(s);
    size_t *comp_size = calloc(ncomp + 1, sizeof *comp_size);
    ck_assert_ptr_nonnull(comp_size);

    for (rs_idx u = 0; u < n; u++) {
        FIXTURE_UINT(rs_scc_component(s, u), <, ncomp);
        comp_size[rs_scc_component(s, u)]++;
        for (rs_idx v = u + 1; v < n; v++) {
            int mutual = reaches(reach, words, u, v) && reaches(reach, words, v, u);
            FIXTURE_INT(rs_scc_component(s, u) == rs_scc_component(s, v), ==, mutual);
        }
    }
    for (size_t c = 0; c < ncomp; c++)
        FIXTURE_UINT(comp_size[c], >, 0); /* ids are dense */

    size_t cyclic_components = 0;
    for (size_t c = 0; c < ncomp; c++)
        cyclic_components += comp_size[c] > 1;
    for (rs_idx u = 0; u < n; u++) {
        uint32_t c = rs_scc_component(s, u);
        int expect_cycle = comp_size[c] > 1 || has_data_self_edge(g, u);
        FIXTURE_INT(rs_scc_in_cycle(s, u), ==, expect_cycle);
        if (comp_size[c] == 1 && expect_cycle)
            cyclic_components++;
        if (rs_graph_flags(g, u) & RS_NODE_NOT_DATA)
            FIXTURE_UINT(comp_size[c], ==, 1);
        /* Reverse topological order of component ids. */
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, u, &count);
        for (size_t k = 0; k < count; k++)
            if (is_data_edge(g, targets[k]))
                FIXTURE_UINT(c, >=, rs_scc_component(s, targets[k]));
    }

    FIXTURE_UINT(rs_scc_cycle_count(s), ==, cyclic_components);
    uint32_t last_component = 0;
    for (size_t cy = 0; cy < rs_scc_cycle_count(s); cy++) {
        size_t count;
        const rs_idx *m = rs_scc_cycle_members(s, cy, &count);
        FIXTURE_UINT(count, >=, 1);
        uint32_t c = rs_scc_component(s, m[0]);
        FIXTURE_UINT(count, ==, comp_size[c]);
        FIXTURE_TRUE(cy == 0 || c > last_component);
        last_component = c;
        for (size_t k = 0; k < count; k++) {
            FIXTURE_UINT(rs_scc_component(s, m[k]), ==, c);
            FIXTURE_UINT(rs_scc_cycle_of(s, m[k]), ==, cy);
            FIXTURE_TRUE(k == 0 || m[k - 1] < m[k]);
        }
    }
    for (rs_idx u = 0; u < n; u++)
        if (!rs_scc_in_cycle(s, u))
            FIXTURE_UINT(rs_scc_cycle_of(s, u), ==, RS_SCC_NO_CYCLE);
    free(comp_size);
    free(reach);
}

/* Random graph with a share of NOT_DATA nodes (percent), sizes and roots
 * irrelevant here. */
static rs_graph *random_graph(uint32_t n, size_t edge_count, uint32_t not_data_percent,
                              uint64_t seed)
{
    fixture_rng rng = {seed};
    fixture_edge *edges = malloc((edge_count + 1) * sizeof *edges);
    ck_assert_ptr_nonnull(edges);
    fixture_random_edges(&rng, n, edges, edge_count);
    rs_graph *g = fixture_graph(n, edges, edge_count, NULL, 0);
    for (rs_idx v = 0; v < n; v++)
        if (fixture_below(&rng, 100) < not_data_percent)
            rs_graph_add_flags(g, v, RS_NODE_NOT_DATA | RS_NODE_TYPE);
    free(edges);
    return g;
}

static const struct random_case {
    uint32_t nodes;
    uint32_t edges;
    uint32_t not_data_percent;
    uint64_t seed;
} random_cases[] = {
    {1, 1, 0, 1},        {2, 3, 0, 2},         {10, 15, 0, 3},      {10, 30, 20, 4},
    {100, 80, 0, 5},     {100, 150, 10, 6},    {100, 400, 30, 7},   {500, 600, 5, 8},
    {500, 1000, 20, 9},  {2000, 2000, 0, 10},  {2000, 2800, 10, 11}, {2000, 6000, 25, 12},
    {2000, 1400, 50, 13}, {2000, 2600, 0, 14}, {1000, 1500, 100, 15}, {1500, 1200, 3, 16},
};

START_TEST(test_scc_matches_reference_on_random_graphs)
{
    /* Check whether components, cycles and their order match a brute-force
     * reachability reference on random graphs of many sizes and densities. */
    const struct random_case *c = &random_cases[_i];
    rs_graph *g = random_graph(c->nodes, c->edges, c->not_data_percent, c->seed);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    assert_matches_reference(g, s);
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_self_edge_is_a_cycle)
{
    /* Check whether a data self-edge alone makes a one-node cycle, while a
     * self-edge on a NOT_DATA node (not a data edge) does not. */
    static const fixture_edge edges[] = {{0, 0}, {0, 1}, {2, 2}, {1, 3}};
    rs_graph *g = fixture_graph(4, edges, 4, NULL, 0);
    rs_graph_add_flags(g, 2, RS_NODE_NOT_DATA);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(rs_scc_in_cycle(s, 0), 1);
    ck_assert_int_eq(rs_scc_in_cycle(s, 1), 0);
    ck_assert_int_eq(rs_scc_in_cycle(s, 2), 0);
    ck_assert_int_eq(rs_scc_in_cycle(s, 3), 0);
    ck_assert_uint_eq(rs_scc_component_count(s), 4);
    ck_assert_uint_eq(rs_scc_cycle_count(s), 1);
    size_t count;
    const rs_idx *m = rs_scc_cycle_members(s, 0, &count);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(m[0], 0);
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_edge_into_not_data_breaks_cycle)
{
    /* Check whether a ring closed only through a NOT_DATA node is no cycle,
     * and a real cycle touching a NOT_DATA node leaves that node out. */
    /* 0 -> 1 -> 2(NOT_DATA) -> 0;  3 <-> 4, 3 -> 5(NOT_DATA) -> 3 */
    static const fixture_edge edges[] = {{0, 1}, {1, 2}, {2, 0}, {3, 4}, {4, 3}, {3, 5}, {5, 3}};
    rs_graph *g = fixture_graph(6, edges, 7, NULL, 0);
    rs_graph_add_flags(g, 2, RS_NODE_NOT_DATA);
    rs_graph_add_flags(g, 5, RS_NODE_NOT_DATA);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    for (rs_idx v = 0; v < 3; v++)
        ck_assert_int_eq(rs_scc_in_cycle(s, v), 0);
    ck_assert_int_eq(rs_scc_in_cycle(s, 3), 1);
    ck_assert_int_eq(rs_scc_in_cycle(s, 4), 1);
    ck_assert_int_eq(rs_scc_in_cycle(s, 5), 0);
    ck_assert_uint_eq(rs_scc_component(s, 3), rs_scc_component(s, 4));
    ck_assert_uint_ne(rs_scc_component(s, 3), rs_scc_component(s, 5));
    ck_assert_uint_eq(rs_scc_cycle_count(s), 1);
    ck_assert_uint_eq(rs_scc_component_count(s), 5);
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_module_held_instance_is_not_in_cycle)
{
    /* Check whether DESIGN.md's example holds: an instance held by a module
     * dict is not in a cycle (its loop runs through class, globals and
     * module), while a parent <-> child pair is. */
    enum { MODULE, MODULE_DICT, INSTANCE, CLASS, METHOD, CODE, PARENT, CHILD, NODES };
    static const fixture_edge edges[] = {
        {MODULE, MODULE_DICT}, {MODULE_DICT, INSTANCE}, {MODULE_DICT, PARENT},
        {INSTANCE, CLASS},     {CLASS, METHOD},         {METHOD, MODULE_DICT},
        {METHOD, CODE},        {PARENT, CHILD},         {CHILD, PARENT},
        {PARENT, CLASS},       {CHILD, CLASS},
    };
    rs_graph *g = fixture_graph(NODES, edges, sizeof edges / sizeof edges[0], NULL, 0);
    rs_graph_add_flags(g, MODULE, RS_NODE_MODULE | RS_NODE_NOT_DATA);
    rs_graph_add_flags(g, MODULE_DICT, RS_NODE_NOT_DATA);
    rs_graph_add_flags(g, CLASS, RS_NODE_TYPE | RS_NODE_NOT_DATA);
    rs_graph_add_flags(g, CODE, RS_NODE_NOT_DATA);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    static const int expect[NODES] = {[PARENT] = 1, [CHILD] = 1};
    for (rs_idx v = 0; v < NODES; v++)
        ck_assert_msg(rs_scc_in_cycle(s, v) == expect[v], "node %u", (unsigned)v);
    ck_assert_uint_eq(rs_scc_cycle_count(s), 1);
    size_t count;
    const rs_idx *m = rs_scc_cycle_members(s, 0, &count);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(m[0], PARENT);
    ck_assert_uint_eq(m[1], CHILD);
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_cycles_are_numbered_and_listed)
{
    /* Check whether two cycles get numbers 0 and 1 in component order, list
     * their members in index order, and out-of-range lookups are empty. */
    /* cycle A: 4 -> 1 -> 4;  cycle B: 0 -> 2 -> 5 -> 0;  3 points into both */
    static const fixture_edge edges[] = {{4, 1}, {1, 4}, {0, 2}, {2, 5}, {5, 0}, {3, 4}, {3, 0}};
    rs_graph *g = fixture_graph(6, edges, 7, NULL, 0);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(rs_scc_cycle_count(s), 2);
    ck_assert_uint_eq(rs_scc_component_count(s), 3);
    uint32_t a = rs_scc_cycle_of(s, 1), b = rs_scc_cycle_of(s, 0);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_lt(a, 2);
    ck_assert_uint_lt(b, 2);
    ck_assert_uint_eq(rs_scc_cycle_of(s, 3), RS_SCC_NO_CYCLE);
    size_t count;
    const rs_idx *m = rs_scc_cycle_members(s, a, &count);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(m[0], 1);
    ck_assert_uint_eq(m[1], 4);
    m = rs_scc_cycle_members(s, b, &count);
    ck_assert_uint_eq(count, 3);
    ck_assert_uint_eq(m[0], 0);
    ck_assert_uint_eq(m[1], 2);
    ck_assert_uint_eq(m[2], 5);
    ck_assert_uint_gt(rs_scc_component(s, 3), rs_scc_component(s, 0));
    ck_assert_uint_gt(rs_scc_component(s, 3), rs_scc_component(s, 1));
    ck_assert_ptr_null(rs_scc_cycle_members(s, 2, &count));
    ck_assert_uint_eq(count, 0);
    ck_assert_uint_eq(rs_scc_component(s, 6), UINT32_MAX);
    ck_assert_int_eq(rs_scc_in_cycle(s, RS_NONE), 0);
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_empty_graph)
{
    /* Check whether a graph without nodes has no components and no cycles. */
    rs_graph *g = fixture_graph(0, NULL, 0, NULL, 0);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(rs_scc_component_count(s), 0);
    ck_assert_uint_eq(rs_scc_cycle_count(s), 0);
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

/* Chain 0 -> 1 -> ... -> n-1, closed into a ring when `ring`. */
static rs_graph *long_chain(uint32_t n, int ring)
{
    fixture_edge *edges = malloc((size_t)n * sizeof *edges);
    ck_assert_ptr_nonnull(edges);
    for (uint32_t i = 0; i + 1 < n; i++)
        edges[i] = (fixture_edge){i, i + 1};
    edges[n - 1] = (fixture_edge){n - 1, 0};
    rs_graph *g = fixture_graph(n, edges, ring ? n : n - 1, NULL, 0);
    free(edges);
    return g;
}

START_TEST(test_scc_long_chain_has_no_cycle)
{
    /* Check whether a 3,000,000-node chain (search depth 3M) is 3M single
     * components in reverse topological order, with no cycle. */
    rs_graph *g = long_chain(BIG_GRAPH_NODES, 0);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(rs_scc_component_count(s), BIG_GRAPH_NODES);
    ck_assert_uint_eq(rs_scc_cycle_count(s), 0);
    for (rs_idx v = 0; v < BIG_GRAPH_NODES; v++) {
        FIXTURE_UINT(rs_scc_component(s, v), ==, BIG_GRAPH_NODES - 1 - v);
        FIXTURE_INT(rs_scc_in_cycle(s, v), ==, 0);
    }
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_long_ring_is_one_cycle)
{
    /* Check whether a 3,000,000-node ring is one cycle of 3M members. */
    rs_graph *g = long_chain(BIG_GRAPH_NODES, 1);
    rs_scc *s = rs_scc_compute(g);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(rs_scc_component_count(s), 1);
    ck_assert_uint_eq(rs_scc_cycle_count(s), 1);
    size_t count;
    const rs_idx *m = rs_scc_cycle_members(s, 0, &count);
    ck_assert_uint_eq(count, BIG_GRAPH_NODES);
    for (rs_idx v = 0; v < BIG_GRAPH_NODES; v++) {
        FIXTURE_UINT(m[v], ==, v);
        FIXTURE_UINT(rs_scc_cycle_of(s, v), ==, 0);
    }
    rs_scc_free(s);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_scc_allocation_failure_returns_null)
{
    /* Check whether failing each allocation in turn makes rs_scc_compute
     * return NULL without leaking, and the first run that needs no failing
     * allocation gives the normal answer. */
    rs_graph *g = random_graph(60, 90, 10, 99);
    rs_scc *expect = rs_scc_compute(g);
    ck_assert_ptr_nonnull(expect);
    ck_assert_uint_gt(rs_scc_cycle_count(expect), 0);
    long fail_at = 1;
    for (;; fail_at++) {
        size_t before = fixture_heap_bytes();
        rs_alloc_fail_after(fail_at);
        rs_scc *s = rs_scc_compute(g);
        rs_alloc_fail_after(0);
        if (s != NULL) {
            for (rs_idx v = 0; v < 60; v++) {
                ck_assert_uint_eq(rs_scc_component(s, v), rs_scc_component(expect, v));
                ck_assert_uint_eq(rs_scc_cycle_of(s, v), rs_scc_cycle_of(expect, v));
            }
            rs_scc_free(s);
            break;
        }
        ck_assert_uint_eq(fixture_heap_bytes(), before);
    }
    ck_assert_int_ge(fail_at, 3); /* several allocations were failed */
    rs_scc_free(expect);
    rs_graph_free(g);
}
END_TEST

Suite *suite_scc(void)
{
    Suite *s = suite_create("scc");
    TCase *tc = tcase_create("small");
    /* The brute-force references are quadratic: seconds under valgrind. */
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_scc_matches_reference_on_random_graphs, 0,
                        (int)(sizeof random_cases / sizeof random_cases[0]));
    tcase_add_test(tc, test_scc_self_edge_is_a_cycle);
    tcase_add_test(tc, test_scc_edge_into_not_data_breaks_cycle);
    tcase_add_test(tc, test_scc_module_held_instance_is_not_in_cycle);
    tcase_add_test(tc, test_scc_cycles_are_numbered_and_listed);
    tcase_add_test(tc, test_scc_empty_graph);
    tcase_add_test(tc, test_scc_allocation_failure_returns_null);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("big");
    /* Building a 3M-node graph takes a while under sanitizers and valgrind. */
    tcase_set_timeout(big, 300);
    tcase_add_test(big, test_scc_long_chain_has_no_cycle);
    tcase_add_test(big, test_scc_long_ring_is_one_cycle);
    suite_add_tcase(s, big);
    return s;
}

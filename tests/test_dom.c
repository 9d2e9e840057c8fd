/* Dominator tree and retained sizes (src/dom.c), checked against the naive
 * definition of dominance and on hand-made and very large graphs.  Pure C. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "graph_fixture.h"
#include "refscope/dom.h"

#define BIG_GRAPH_NODES 3000000u

/* Nodes reachable from the roots and immortal nodes (the super root's
 * edges) when node `removed` (or RS_NONE) is taken out of the graph, as a
 * bitset, by breadth-first search. */
static void reach_without(const rs_graph *g, rs_idx removed, uint64_t *seen, rs_idx *queue)
{
    size_t n = rs_graph_node_count(g);
    memset(seen, 0, (n / 64 + 1) * sizeof *seen);
    size_t head = 0, tail = 0, root_count;
    const rs_root *roots = rs_graph_roots(g, &root_count);
    for (size_t k = 0; k <= root_count + n; k++) {
        rs_idx u = k < root_count ? roots[k].target : RS_NONE;
        if (k >= root_count && k < root_count + n && (rs_graph_flags(g, (rs_idx)(k - root_count)) & RS_NODE_IMMORTAL))
            u = (rs_idx)(k - root_count);
        if (u != RS_NONE && u != removed && !(seen[u / 64] >> (u % 64) & 1)) {
            seen[u / 64] |= 1ull << (u % 64);
            queue[tail++] = u;
        }
        while (head < tail) {
            size_t count;
            const rs_idx *targets = rs_graph_referents(g, queue[head++], &count);
            for (size_t j = 0; j < count; j++) {
                rs_idx v = targets[j];
                if (v == removed || (seen[v / 64] >> (v % 64) & 1))
                    continue;
                seen[v / 64] |= 1ull << (v % 64);
                queue[tail++] = v;
            }
        }
    }
}

static int bit(const uint64_t *set, rs_idx i)
{
    return (int)(set[i / 64] >> (i % 64) & 1);
}

/* The naive answer: dominates(x, y) iff y is reachable and is not when x
 * is removed (or x == y). */
struct naive {
    size_t n, words;
    uint64_t *reach;   /* nothing removed */
    uint64_t *without; /* row x: reachable with x removed */
};

static struct naive naive_compute(const rs_graph *g)
{
    struct naive nv = {.n = rs_graph_node_count(g)};
    nv.words = nv.n / 64 + 1;
    nv.reach = calloc(nv.words, sizeof *nv.reach);
    nv.without = calloc(nv.n * nv.words + 1, sizeof *nv.without);
    rs_idx *queue = malloc((nv.n + 1) * sizeof *queue);
    FIXTURE_TRUE(nv.reach && nv.without && queue);
    reach_without(g, RS_NONE, nv.reach, queue);
    for (rs_idx x = 0; x < nv.n; x++)
        reach_without(g, x, nv.without + (size_t)x * nv.words, queue);
    free(queue);
    return nv;
}

static int naive_dominates(const struct naive *nv, rs_idx x, rs_idx y)
{
    if (!bit(nv->reach, y))
        return 0;
    return x == y || !bit(nv->without + (size_t)x * nv->words, y);
}

/* The immediate dominator by definition: the one strict dominator of y that
 * every other strict dominator of y dominates; RS_DOM_SUPER_ROOT when y has
 * no strict dominator.  Asserts that exactly one qualifies. */
static rs_idx naive_idom(const struct naive *nv, rs_idx y)
{
    rs_idx found = RS_DOM_SUPER_ROOT;
    int candidates = 0, strict = 0;
    for (rs_idx d = 0; d < nv->n; d++) {
        if (d == y || !naive_dominates(nv, d, y))
            continue;
        strict++;
        int dominated_by_all = 1;
        for (rs_idx s = 0; s < nv->n && dominated_by_all; s++)
            if (s != y && s != d && naive_dominates(nv, s, y) && !naive_dominates(nv, s, d))
                dominated_by_all = 0;
        if (dominated_by_all) {
            found = d;
            candidates++;
        }
    }
    FIXTURE_INT(candidates, ==, strict > 0 ? 1 : 0);
    return found;
}

static void naive_free(struct naive *nv)
{
    free(nv->reach);
    free(nv->without);
}

/* Asserts that the children of `parent` (a node or the super root) are
 * exactly the nodes whose expected immediate dominator is parent. */
static void assert_children(const rs_dom *d, rs_idx parent, const rs_idx *expect_idom, size_t n)
{
    size_t count;
    const rs_idx *kids = rs_dom_children(d, parent, &count);
    size_t k = 0;
    for (rs_idx y = 0; y < n; y++) {
        if (expect_idom[y] != parent)
            continue;
        FIXTURE_UINT(k, <, count);
        FIXTURE_UINT(kids[k], ==, y);
        k++;
    }
    FIXTURE_UINT(k, ==, count);
}

/* Asserts that d is g's dominator tree by the naive definition: reachability,
 * immediate dominators, retained sizes and children of every node and of
 * the super root. */
static void assert_matches_naive(const rs_graph *g, const rs_dom *d)
{
    struct naive nv = naive_compute(g);
    size_t n = nv.n;
    rs_idx *expect_idom = malloc((n + 1) * sizeof *expect_idom);
    ck_assert_ptr_nonnull(expect_idom);
    uint64_t reachable_size = 0;
    for (rs_idx y = 0; y < n; y++) {
        int reachable = bit(nv.reach, y);
        FIXTURE_INT(rs_dom_reachable(d, y), ==, reachable);
        expect_idom[y] = reachable ? naive_idom(&nv, y) : RS_NONE;
        FIXTURE_UINT(rs_dom_idom(d, y), ==, expect_idom[y]);
        if (reachable)
            reachable_size += rs_graph_size(g, y);
    }
    for (rs_idx x = 0; x < n; x++) {
        uint64_t retained = 0;
        for (rs_idx y = 0; y < n; y++)
            if (naive_dominates(&nv, x, y))
                retained += rs_graph_size(g, y);
        FIXTURE_UINT(rs_dom_retained(d, x), ==, retained);
        assert_children(d, x, expect_idom, n);
    }
    FIXTURE_UINT(rs_dom_retained(d, RS_DOM_SUPER_ROOT), ==, reachable_size);
    assert_children(d, RS_DOM_SUPER_ROOT, expect_idom, n);
    free(expect_idom);
    naive_free(&nv);
}

/* Computes g's dominators, asserts that they match the naive definition,
 * and frees both. */
static void match_naive_and_free(rs_graph *g)
{
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    assert_matches_naive(g, d);
    rs_dom_free(d);
    rs_graph_free(g);
}

/* Random graph with random sizes and root_count roots (duplicates possible). */
static rs_graph *random_graph(uint32_t n, size_t edge_count, size_t root_count, uint64_t seed)
{
    fixture_rng rng = {seed};
    fixture_edge *edges = malloc((edge_count + 1) * sizeof *edges);
    rs_idx *roots = malloc((root_count + 1) * sizeof *roots);
    FIXTURE_TRUE(edges && roots);
    fixture_random_edges(&rng, n, edges, edge_count);
    for (size_t k = 0; k < root_count; k++)
        roots[k] = fixture_below(&rng, n);
    rs_graph *g = fixture_graph(n, edges, edge_count, roots, root_count);
    for (rs_idx v = 0; v < n; v++) {
        rs_graph_set_size(g, v, 16 + fixture_below(&rng, 1000));
        if (fixture_below(&rng, 10) == 0) /* dominators use these edges too */
            rs_graph_add_flags(g, v, RS_NODE_NOT_DATA);
    }
    free(edges);
    free(roots);
    return g;
}

static const struct random_case {
    uint32_t nodes;
    uint32_t edges;
    uint32_t roots;
    uint64_t seed;
} random_cases[] = {
    {1, 0, 1, 1},     {1, 1, 2, 2},     {2, 1, 1, 3},     {10, 12, 1, 4},   {10, 20, 2, 5},
    {50, 60, 1, 6},   {50, 80, 3, 7},   {100, 120, 2, 8}, {100, 200, 5, 9}, {200, 260, 3, 10},
    {300, 350, 1, 11}, {300, 420, 4, 12}, {300, 900, 6, 13}, {300, 300, 0, 14}, {150, 100, 2, 15},
    {300, 330, 2, 16}, {250, 500, 1, 17},
};

START_TEST(test_dom_matches_naive_definition_on_random_graphs)
{
    /* Check whether reachability, immediate dominators, retained sizes and
     * children match the naive definition of dominance on random graphs. */
    const struct random_case *c = &random_cases[_i];
    rs_graph *g = random_graph(c->nodes, c->edges, c->roots, c->seed);
    match_naive_and_free(g);
}
END_TEST

/* A graph shaped like a heap: `inner` nodes with random edges among them,
 * and `leaves` nodes without referents, most held by one inner node (as a
 * string or an int is), the rest held twice (also twice by the same
 * holder), by nobody, or held and also a root's target or immortal; node
 * indexes mix both kinds, and a few leaves are 4 GiB or more. */
static rs_graph *leafy_graph(uint32_t inner, uint32_t leaves, uint64_t seed)
{
    fixture_rng rng = {seed};
    uint32_t n = inner + leaves;
    size_t edge_cap = 2 * (size_t)inner + 4 * (size_t)leaves;
    fixture_edge *edges = malloc(edge_cap * sizeof *edges);
    rs_idx *roots = malloc(((size_t)leaves + 4) * sizeof *roots);
    uint32_t *node = malloc((size_t)n * sizeof *node); /* kind-ordered -> shuffled index */
    int *immortal = calloc(n, sizeof *immortal);
    FIXTURE_TRUE(edges && roots && node && immortal);
    for (uint32_t i = 0; i < n; i++)
        node[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = fixture_below(&rng, i), t = node[i - 1];
        node[i - 1] = node[j];
        node[j] = t;
    }
    size_t edge_count = 0, root_count = 0;
    fixture_random_edges(&rng, inner, edges, 2 * (size_t)inner);
    for (size_t k = 0; k < 2 * (size_t)inner; k++, edge_count++)
        edges[k] = (fixture_edge){node[edges[k].src], node[edges[k].dst]};
    for (uint32_t k = 0; k < 1 + inner / 50; k++)
        roots[root_count++] = node[fixture_below(&rng, inner)];
    for (uint32_t i = inner; i < n; i++) {
        uint32_t kind = fixture_below(&rng, 20), holders = 1;
        if (kind >= 12 && kind < 15)
            holders = 2 + fixture_below(&rng, 3); /* shared */
        else if (kind == 15)
            holders = 0; /* held by nobody */
        else if (kind == 16)
            roots[root_count++] = node[i];
        else if (kind == 17)
            immortal[node[i]] = 1;
        uint32_t first = node[fixture_below(&rng, inner)];
        for (uint32_t h = 0; h < holders; h++) {
            uint32_t from = kind == 14 ? first : node[fixture_below(&rng, inner)];
            edges[edge_count++] = (fixture_edge){from, node[i]};
        }
    }
    rs_graph *g = fixture_graph(n, edges, edge_count, roots, root_count);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t size = 16 + fixture_below(&rng, 1000);
        if (i >= inner && fixture_below(&rng, 40) == 0)
            size += (uint64_t)5 << 30;
        ck_assert_int_eq(rs_graph_set_size(g, node[i], size), 0);
        if (immortal[node[i]])
            rs_graph_add_flags(g, node[i], RS_NODE_IMMORTAL);
    }
    free(edges);
    free(roots);
    free(node);
    free(immortal);
    return g;
}

START_TEST(test_dom_matches_naive_definition_on_leafy_graphs)
{
    /* Check whether reachability, immediate dominators, retained sizes and
     * children match the naive definition on heap-shaped random graphs,
     * where most nodes are leaves with one holder (which dom.c leaves out
     * of its search) and the rest are shared, unheld, roots or immortal. */
    static const uint32_t shapes[][2] = {{1, 1}, {5, 20}, {40, 120}, {120, 200}, {200, 150}};
    const uint32_t *shape = shapes[_i % 5];
    rs_graph *g = leafy_graph(shape[0], shape[1], 1000 + (uint64_t)_i);
    match_naive_and_free(g);
}
END_TEST

START_TEST(test_dom_diamond_joins_at_its_top)
{
    /* Check whether the join of a diamond is dominated by its top, not by
     * either side, and retained sizes add up along the tree. */
    /* root -> 0; 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4 */
    static const fixture_edge edges[] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 4}};
    static const rs_idx roots[] = {0};
    rs_graph *g = fixture_graph(5, edges, 5, roots, 1);
    for (rs_idx v = 0; v < 5; v++)
        rs_graph_set_size(g, v, 10u << v);
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    static const rs_idx expect_idom[] = {RS_DOM_SUPER_ROOT, 0, 0, 0, 3};
    static const uint64_t expect_retained[] = {310, 20, 40, 240, 160};
    for (rs_idx v = 0; v < 5; v++) {
        ck_assert_uint_eq(rs_dom_idom(d, v), expect_idom[v]);
        ck_assert_uint_eq(rs_dom_retained(d, v), expect_retained[v]);
    }
    size_t count;
    const rs_idx *kids = rs_dom_children(d, 0, &count);
    ck_assert_uint_eq(count, 3);
    ck_assert_uint_eq(kids[0], 1);
    ck_assert_uint_eq(kids[1], 2);
    ck_assert_uint_eq(kids[2], 3);
    ck_assert_uint_eq(rs_dom_retained(d, RS_DOM_SUPER_ROOT), 310);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_immortal_nodes_retained_by_nobody)
{
    /* Check whether an immortal node is dominated by the super root only
     * (its holder does not retain it), and whether an immortal node no
     * root reaches is reachable, with what only it reaches. */
    /* root -> 0; 0 -> 1 (mortal), 0 -> 2 (immortal), 2 -> 3; 4 (immortal) -> 5 */
    static const fixture_edge edges[] = {{0, 1}, {0, 2}, {2, 3}, {4, 5}};
    static const rs_idx roots[] = {0};
    rs_graph *g = fixture_graph(6, edges, 4, roots, 1);
    for (rs_idx v = 0; v < 6; v++)
        rs_graph_set_size(g, v, 10u << v);
    rs_graph_add_flags(g, 2, RS_NODE_IMMORTAL);
    rs_graph_add_flags(g, 4, RS_NODE_IMMORTAL);
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    static const rs_idx expect_idom[] = {RS_DOM_SUPER_ROOT, 0, RS_DOM_SUPER_ROOT, 2, RS_DOM_SUPER_ROOT, 4};
    static const uint64_t expect_retained[] = {30, 20, 120, 80, 480, 320};
    for (rs_idx v = 0; v < 6; v++) {
        ck_assert_uint_eq(rs_dom_idom(d, v), expect_idom[v]);
        ck_assert_uint_eq(rs_dom_retained(d, v), expect_retained[v]);
        ck_assert_int_eq(rs_dom_reachable(d, v), 1);
    }
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_second_root_inside_first_tree)
{
    /* Check whether a node that is itself a root is dominated only by the
     * super root even when another root's subtree reaches it first. */
    /* roots 0 and 2 (a frame local); 0 -> 1 -> 2 -> 3 */
    static const fixture_edge edges[] = {{0, 1}, {1, 2}, {2, 3}};
    static const rs_idx roots[] = {0, 2};
    rs_graph *g = fixture_graph(4, edges, 3, roots, 2);
    for (rs_idx v = 0; v < 4; v++)
        rs_graph_set_size(g, v, 1);
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(rs_dom_idom(d, 0), RS_DOM_SUPER_ROOT);
    ck_assert_uint_eq(rs_dom_idom(d, 1), 0);
    ck_assert_uint_eq(rs_dom_idom(d, 2), RS_DOM_SUPER_ROOT);
    ck_assert_uint_eq(rs_dom_idom(d, 3), 2);
    ck_assert_uint_eq(rs_dom_retained(d, 0), 2);
    ck_assert_uint_eq(rs_dom_retained(d, 2), 2);
    size_t count;
    const rs_idx *kids = rs_dom_children(d, RS_DOM_SUPER_ROOT, &count);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(kids[0], 0);
    ck_assert_uint_eq(kids[1], 2);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_unreachable_island)
{
    /* Check whether a garbage island (a cycle no root reaches, pointing into
     * reachable nodes) is reported unreachable with nothing retained, and
     * does not change the dominators of what it points to. */
    /* root -> 0 -> 1; island 2 <-> 3, 3 -> 1 */
    static const fixture_edge edges[] = {{0, 1}, {2, 3}, {3, 2}, {3, 1}};
    static const rs_idx roots[] = {0};
    rs_graph *g = fixture_graph(4, edges, 4, roots, 1);
    for (rs_idx v = 0; v < 4; v++)
        rs_graph_set_size(g, v, 100);
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(rs_dom_idom(d, 1), 0);
    ck_assert_uint_eq(rs_dom_retained(d, 0), 200);
    for (rs_idx v = 2; v < 4; v++) {
        ck_assert_int_eq(rs_dom_reachable(d, v), 0);
        ck_assert_uint_eq(rs_dom_idom(d, v), RS_NONE);
        ck_assert_uint_eq(rs_dom_retained(d, v), 0);
        size_t count;
        rs_dom_children(d, v, &count);
        ck_assert_uint_eq(count, 0);
    }
    ck_assert_uint_eq(rs_dom_retained(d, RS_DOM_SUPER_ROOT), 200);
    ck_assert_int_eq(rs_dom_reachable(d, 4), 0);
    ck_assert_uint_eq(rs_dom_idom(d, RS_NONE), RS_NONE);
    size_t count;
    ck_assert_ptr_null(rs_dom_children(d, 4, &count));
    ck_assert_uint_eq(count, 0);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_follows_non_data_edges)
{
    /* Check whether edges into NOT_DATA nodes (left out of cycles) still
     * count for dominators: a class only one instance refers to is retained
     * by that instance. */
    static const fixture_edge edges[] = {{0, 1}, {1, 2}};
    static const rs_idx roots[] = {0};
    rs_graph *g = fixture_graph(3, edges, 2, roots, 1);
    rs_graph_add_flags(g, 2, RS_NODE_TYPE | RS_NODE_NOT_DATA);
    rs_graph_set_size(g, 1, 48);
    rs_graph_set_size(g, 2, 1000);
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(rs_dom_idom(d, 2), 1);
    ck_assert_uint_eq(rs_dom_retained(d, 1), 1048);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_no_roots)
{
    /* Check whether a graph without roots has every node unreachable and
     * nothing under the super root. */
    static const fixture_edge edges[] = {{0, 1}, {1, 0}};
    rs_graph *g = fixture_graph(2, edges, 2, NULL, 0);
    rs_graph_set_size(g, 0, 7);
    rs_dom *d = rs_dom_compute(g);
    ck_assert_ptr_nonnull(d);
    for (rs_idx v = 0; v < 2; v++)
        ck_assert_int_eq(rs_dom_reachable(d, v), 0);
    size_t count;
    rs_dom_children(d, RS_DOM_SUPER_ROOT, &count);
    ck_assert_uint_eq(count, 0);
    ck_assert_uint_eq(rs_dom_retained(d, RS_DOM_SUPER_ROOT), 0);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

/* The dominators of a graph of n nodes with the given edges (freed here)
 * and one root into node 0, node v sized 1 + v % size_mod; the graph is
 * stored in *g. */
static rs_dom *dom_of_big_graph(uint32_t n, fixture_edge *edges, size_t edge_count, uint32_t size_mod,
                                rs_graph **g)
{
    static const rs_idx roots[] = {0};
    *g = fixture_graph(n, edges, edge_count, roots, 1);
    free(edges);
    for (rs_idx v = 0; v < n; v++)
        rs_graph_set_size(*g, v, 1 + v % size_mod);
    rs_dom *d = rs_dom_compute(*g);
    ck_assert_ptr_nonnull(d);
    return d;
}

START_TEST(test_dom_long_chain)
{
    /* Check whether a 3,000,000-node chain from one root, with an edge from
     * its end back to its second node (a 3M-long path to compress), gives
     * each node its predecessor as immediate dominator and suffix sums as
     * retained sizes. */
    const uint32_t n = BIG_GRAPH_NODES;
    fixture_edge *edges = malloc((size_t)n * sizeof *edges);
    ck_assert_ptr_nonnull(edges);
    for (uint32_t i = 0; i + 1 < n; i++)
        edges[i] = (fixture_edge){i, i + 1};
    edges[n - 1] = (fixture_edge){n - 1, 1};
    rs_graph *g;
    rs_dom *d = dom_of_big_graph(n, edges, n, 7, &g);
    uint64_t suffix = 0;
    for (rs_idx v = n; v-- > 0;) {
        suffix += 1 + v % 7;
        FIXTURE_UINT(rs_dom_idom(d, v), ==, v == 0 ? RS_DOM_SUPER_ROOT : v - 1);
        FIXTURE_UINT(rs_dom_retained(d, v), ==, suffix);
        size_t count;
        const rs_idx *kids = rs_dom_children(d, v, &count);
        FIXTURE_UINT(count, ==, v + 1 < n ? 1 : 0);
        if (count)
            FIXTURE_UINT(kids[0], ==, v + 1);
    }
    ck_assert_uint_eq(rs_dom_retained(d, RS_DOM_SUPER_ROOT), suffix);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_big_graph_with_unreachable_half)
{
    /* Check whether a 3,000,000-node graph whose first half is a tree
     * under one root (node i holds 2i+1 and 2i+2, and every leaf holds the
     * root back) and whose second half is an unreachable ring gives every
     * tree node its tree parent as immediate dominator, subtree sums as
     * retained sizes and its tree children as children (the listing done
     * on first use, in arrays fitted to the reachable half), and leaves the
     * ring out. */
    const uint32_t n = BIG_GRAPH_NODES, half = BIG_GRAPH_NODES / 2;
    fixture_edge *edges = malloc((size_t)2 * n * sizeof *edges);
    ck_assert_ptr_nonnull(edges);
    size_t m = 0;
    for (uint32_t i = 0; i < half; i++) {
        if (2 * i + 1 < half)
            edges[m++] = (fixture_edge){i, 2 * i + 1};
        if (2 * i + 2 < half)
            edges[m++] = (fixture_edge){i, 2 * i + 2};
        if (2 * i + 1 >= half)
            edges[m++] = (fixture_edge){i, 0};
    }
    for (uint32_t i = half; i < n; i++)
        edges[m++] = (fixture_edge){i, i + 1 < n ? i + 1 : half};
    edges[m++] = (fixture_edge){n - 1, 5}; /* the ring reaches into the tree */
    rs_graph *g;
    rs_dom *d = dom_of_big_graph(n, edges, m, 5, &g);
    uint64_t *subtree = calloc(half, sizeof *subtree);
    ck_assert_ptr_nonnull(subtree);
    for (uint32_t v = half; v-- > 0;) {
        subtree[v] += 1 + v % 5;
        if (v > 0)
            subtree[(v - 1) / 2] += subtree[v];
    }
    for (rs_idx v = 0; v < half; v++) {
        FIXTURE_UINT(rs_dom_idom(d, v), ==, v == 0 ? RS_DOM_SUPER_ROOT : (v - 1) / 2);
        FIXTURE_UINT(rs_dom_retained(d, v), ==, subtree[v]);
        size_t count;
        const rs_idx *kids = rs_dom_children(d, v, &count);
        size_t expect = (2 * v + 1 < half) + (2 * v + 2 < half);
        FIXTURE_UINT(count, ==, expect);
        for (size_t k = 0; k < count; k++)
            FIXTURE_UINT(kids[k], ==, 2 * v + 1 + k);
    }
    for (rs_idx v = half; v < n; v++) {
        FIXTURE_INT(rs_dom_reachable(d, v), ==, 0);
        FIXTURE_UINT(rs_dom_idom(d, v), ==, RS_NONE);
        FIXTURE_UINT(rs_dom_retained(d, v), ==, 0);
        size_t count;
        rs_dom_children(d, v, &count);
        FIXTURE_UINT(count, ==, 0);
    }
    size_t count;
    const rs_idx *top = rs_dom_children(d, RS_DOM_SUPER_ROOT, &count);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(top[0], 0);
    ck_assert_uint_eq(rs_dom_retained(d, RS_DOM_SUPER_ROOT), subtree[0]);
    free(subtree);
    rs_dom_free(d);
    rs_graph_free(g);
}
END_TEST

START_TEST(test_dom_allocation_failure_returns_null)
{
    /* Check whether failing each allocation in turn makes rs_dom_compute
     * return NULL without leaking, and the first run that needs no failing
     * allocation gives the normal answer. */
    rs_graph *g = random_graph(60, 90, 3, 77);
    rs_dom *expect = rs_dom_compute(g);
    ck_assert_ptr_nonnull(expect);
    long fail_at = 1;
    for (;; fail_at++) {
        size_t before = fixture_heap_bytes();
        rs_alloc_fail_after(fail_at);
        rs_dom *d = rs_dom_compute(g);
        rs_alloc_fail_after(0);
        if (d != NULL) {
            for (rs_idx v = 0; v < 60; v++) {
                ck_assert_uint_eq(rs_dom_idom(d, v), rs_dom_idom(expect, v));
                ck_assert_uint_eq(rs_dom_retained(d, v), rs_dom_retained(expect, v));
            }
            rs_dom_free(d);
            break;
        }
        ck_assert_uint_eq(fixture_heap_bytes(), before);
    }
    ck_assert_int_ge(fail_at, 3); /* several allocations were failed */
    rs_dom_free(expect);
    rs_graph_free(g);
}
END_TEST

Suite *suite_dom(void)
{
    Suite *s = suite_create("dom");
    TCase *tc = tcase_create("small");
    /* The brute-force references are quadratic: seconds under valgrind. */
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_dom_matches_naive_definition_on_random_graphs, 0,
                        (int)(sizeof random_cases / sizeof random_cases[0]));
    tcase_add_loop_test(tc, test_dom_matches_naive_definition_on_leafy_graphs, 0, 10);
    tcase_add_test(tc, test_dom_diamond_joins_at_its_top);
    tcase_add_test(tc, test_dom_second_root_inside_first_tree);
    tcase_add_test(tc, test_dom_immortal_nodes_retained_by_nobody);
    tcase_add_test(tc, test_dom_unreachable_island);
    tcase_add_test(tc, test_dom_follows_non_data_edges);
    tcase_add_test(tc, test_dom_no_roots);
    tcase_add_test(tc, test_dom_allocation_failure_returns_null);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("big");
    /* Building a 3M-node graph takes a while under sanitizers and valgrind. */
    tcase_set_timeout(big, 300);
    tcase_add_test(big, test_dom_long_chain);
    tcase_add_test(big, test_dom_big_graph_with_unreachable_half);
    suite_add_tcase(s, big);
    return s;
}

/*
 * Strongly connected components over data edges, by an iterative form of
 * Pearce's space-efficient variant of Tarjan's algorithm (D. J. Pearce, "A
 * space-efficient algorithm for finding strongly connected components",
 * IPL 116(1), 2016).  One uint32 per node, `rindex`, serves as visit index,
 * low link and finally component id:
 *
 *   0                  not visited yet
 *   1 .. active        visit index / low link of a node still being searched
 *                      (on the call stack or on the component stack); the
 *                      index counter goes down again as components complete
 *   N-1, N-2, ...      component found: the k-th one found gets N-1-k, which
 *                      is never below the rindex of a node still active, so
 *                      edges into finished components never lower a low link
 *   EXCLUDED           a node no data edge can enter (RS_NODE_NOT_DATA)
 *
 * The value is the result, and no pass renumbers it: the k-th component
 * found has id k = N-1-rindex.  Each excluded node is a component of its
 * own, found after all others in node order: after the C components found,
 * the excluded node that has r excluded nodes before it has id C + r,
 * which a bit per node and a count per 64 nodes answer at once.
 *
 * The call stack and the component stack share one array of N entries: a
 * node is on at most one of them, the call stack grows up from 0 and the
 * component stack down from N.
 *
 * Stages, in order (see rs_scc_compute):
 *   exclude_not_data    RS_NODE_NOT_DATA nodes are set aside
 *   find_components     depth-first search over data edges from every node
 *   collect_cycles      cyclic components get cycle numbers and member lists
 */
#include "refscope/scc.h"

#define EXCLUDED UINT32_MAX

struct rs_scc {
    size_t node_count;
    size_t component_count;
    uint32_t found;            /* components found by the search: ids below */
    uint32_t *component;       /* node -> rindex (see above) */
    uint64_t *excluded;        /* bit per node: RS_NODE_NOT_DATA */
    uint32_t *excluded_before; /* per 64 nodes: excluded nodes before them */
    uint64_t *in_cycle;        /* bit per node: its component is a cycle */
    uint32_t *cycle_of_component; /* cyclic component id -> cycle number
                                     (other entries are never written) */
    size_t cycle_count;
    uint32_t *cycle_start;     /* cycle_count + 1 offsets into cycle_members */
    rs_idx *cycle_members;     /* members of each cycle, increasing node index */
};

/* State of one computation; the arrays marked "kept" move into rs_scc. */
struct search {
    const rs_graph *g;
    uint32_t n;
    uint32_t *rindex;     /* kept as rs_scc.component */
    uint32_t *edge_pos;   /* call stack: next edge of the node at each depth;
                             kept as rs_scc.cycle_of_component */
    rs_idx *stack;        /* call stack [0, depth), component stack [top, n) */
    uint32_t depth, top;
    uint64_t *is_root;    /* bit per node: its low link has not been lowered */
    uint64_t *self_edge;  /* bit per node: it has a data edge to itself */
    uint64_t *cyclic;     /* bit per component id: the component is a cycle */
    uint64_t *in_cycle;   /* bit per node: its component is a cycle; kept */
    uint32_t next_index;  /* Pearce's `index`: 1 + number of active nodes */
    uint32_t found;       /* components found so far */
};

static inline int bit_get(const uint64_t *bits, uint32_t i)
{
    return (int)((bits[i >> 6] >> (i & 63)) & 1);
}

static inline void bit_set(uint64_t *bits, uint32_t i)
{
    bits[i >> 6] |= (uint64_t)1 << (i & 63);
}

static inline void bit_clear(uint64_t *bits, uint32_t i)
{
    bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

/* After: rindex[v] == EXCLUDED for every RS_NODE_NOT_DATA node, 0 for the
 * rest, and s->excluded / s->excluded_before say which are excluded.  No
 * data edge enters an excluded node, so no path over data edges passes
 * through one: each is a component of its own and the search never needs
 * to enter it.  Returns the number of excluded nodes.  (Every entry is
 * written here, in order, because the search reads rindex at random, and
 * touching fresh pages at random costs two page faults each.) */
static uint32_t exclude_not_data(struct search *st, rs_scc *s)
{
    uint32_t count = 0;
    for (uint32_t base = 0; base < st->n; base += 64) {
        uint32_t end = st->n - base < 64 ? st->n : base + 64;
        uint64_t bits = 0;
        for (uint32_t v = base; v < end; v++) {
            uint64_t excluded = (rs_graph_flags(st->g, v) & RS_NODE_NOT_DATA) != 0;
            st->rindex[v] = excluded ? EXCLUDED : 0;
            bits |= excluded << (v - base);
        }
        s->excluded[base >> 6] = bits;
        s->excluded_before[base >> 6] = count;
        count += (uint32_t)__builtin_popcountll(bits);
    }
    return count;
}

/* Pushes v on the call stack as a newly visited node. */
static inline void enter_node(struct search *st, rs_idx v)
{
    st->rindex[v] = st->next_index++;
    bit_set(st->is_root, v);
    st->stack[st->depth] = v;
    st->edge_pos[st->depth] = 0;
    st->depth++;
}

/* Called when every edge of v has been followed.  When v is the root of its
 * component, pops the component (v and the nodes above v's low link on the
 * component stack) and gives it the next component value; otherwise moves v
 * to the component stack, where it waits for its root. */
static void leave_node(struct search *st, rs_idx v)
{
    uint32_t low = st->rindex[v];
    if (!bit_get(st->is_root, v)) {
        st->stack[--st->top] = v;
        return;
    }
    uint32_t value = st->n - 1 - st->found;
    uint32_t first = st->top;
    st->next_index--;
    while (st->top < st->n && low <= st->rindex[st->stack[st->top]]) {
        st->rindex[st->stack[st->top++]] = value;
        st->next_index--;
    }
    st->rindex[v] = value;
    if (st->top > first || bit_get(st->self_edge, v)) {
        bit_set(st->cyclic, st->found);
        bit_set(st->in_cycle, v);
        for (uint32_t k = first; k < st->top; k++)
            bit_set(st->in_cycle, st->stack[k]);
    }
    st->found++;
}

/* Searches depth-first over data edges from start, which is not visited.
 * After: every node reachable from start over data edges has its component
 * value, and both stacks are empty. */
static void search_from(struct search *st, rs_idx start)
{
    uint32_t *rindex = st->rindex;
    enter_node(st, start);
    while (st->depth > 0) {
        uint32_t d = st->depth - 1;
        rs_idx v = st->stack[d];
        size_t count;
        const rs_idx *targets = rs_graph_referents(st->g, v, &count);
        uint32_t pos = st->edge_pos[d];
        uint32_t low = rindex[v];
        int descended = 0;
        while (pos < count) {
            rs_idx w = targets[pos++];
            uint32_t w_index = rindex[w];
            if (w_index == 0) {
                size_t w_count;
                rs_graph_referents(st->g, w, &w_count);
                if (w_count == 0) {
                    /* A node without referents is a component of its
                     * own, complete as soon as it is entered: what
                     * entering and leaving it would do, without the
                     * trip through the call stack. */
                    rindex[w] = st->n - 1 - st->found++;
                    continue;
                }
                st->edge_pos[d] = pos;
                rindex[v] = low;
                enter_node(st, w);
                descended = 1;
                break;
            }
            if (w_index < low) {
                low = w_index;
                bit_clear(st->is_root, v);
            } else if (w == v) {
                bit_set(st->self_edge, v);
            }
        }
        if (descended)
            continue;
        rindex[v] = low;
        st->depth = d;
        leave_node(st, v);
        /* A child still active lowers its parent's low link; a finished
         * component's value is never below it, so it never does. */
        if (d > 0) {
            rs_idx parent = st->stack[d - 1];
            if (rindex[v] < rindex[parent]) {
                rindex[parent] = rindex[v];
                bit_clear(st->is_root, parent);
            }
        }
    }
}

/* After: every node that is not excluded has its component value.  Since
 * Tarjan finishes a component only after every component it reaches, data
 * edges between components go from higher to lower ids; the excluded
 * nodes' components come last, and no data edge enters them, so component
 * order is reverse topological. */
static void find_components(struct search *st)
{
    for (uint32_t v = 0; v < st->n; v++) {
        if (st->rindex[v] == 0)
            search_from(st, v);
    }
}

/* After: s->cycle_of_component numbers the cyclic components in id order,
 * and s->cycle_start / s->cycle_members list each cycle's nodes in index
 * order.  Returns 0, or -1 when memory runs out (s keeps what it has). */
static int collect_cycles(struct search *st, rs_scc *s)
{
    uint32_t *cycle_of = s->cycle_of_component;
    uint32_t cycles = 0;
    size_t words = (size_t)st->n / 64 + 1;
    for (size_t i = 0; i < words; i++)
        for (uint64_t bits = st->cyclic[i]; bits != 0; bits &= bits - 1)
            cycle_of[64 * i + (uint32_t)__builtin_ctzll(bits)] = cycles++;
    s->cycle_count = cycles;
    s->cycle_start = rs_calloc((size_t)cycles + 1, sizeof *s->cycle_start);
    if (s->cycle_start == NULL)
        return -1;
    uint32_t *start = s->cycle_start;
    uint32_t last = st->n - 1;
    /* Only nodes in cycles are visited, through their bits. */
    for (size_t i = 0; i < words; i++)
        for (uint64_t bits = st->in_cycle[i]; bits != 0; bits &= bits - 1)
            start[cycle_of[last - s->component[64 * i + (uint32_t)__builtin_ctzll(bits)]] + 1]++;
    for (uint32_t cy = 0; cy < cycles; cy++)
        start[cy + 1] += start[cy];
    s->cycle_members = rs_malloc(((size_t)start[cycles] + 1) * sizeof *s->cycle_members);
    if (s->cycle_members == NULL)
        return -1;
    /* start[cy] serves as cycle cy's fill cursor, then is shifted back. */
    for (size_t i = 0; i < words; i++) {
        for (uint64_t bits = st->in_cycle[i]; bits != 0; bits &= bits - 1) {
            rs_idx v = (rs_idx)(64 * i + (uint32_t)__builtin_ctzll(bits));
            s->cycle_members[start[cycle_of[last - s->component[v]]]++] = v;
        }
    }
    for (uint32_t cy = cycles; cy > 0; cy--)
        start[cy] = start[cy - 1];
    start[0] = 0;
    return 0;
}

#ifdef RS_VALIDATE
#include <assert.h>

/* Checks the postconditions of number_components and collect_cycles. */
static void validate_components(const rs_graph *g, const rs_scc *s)
{
    for (rs_idx u = 0; u < s->node_count; u++) {
        uint32_t cu = rs_scc_component(s, u);
        assert(cu < s->component_count);
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, u, &count);
        for (size_t k = 0; k < count; k++) {
            rs_idx v = targets[k];
            if (rs_graph_flags(g, v) & RS_NODE_NOT_DATA)
                continue;
            assert(cu >= rs_scc_component(s, v));
            if (v == u)
                assert(rs_scc_in_cycle(s, u));
        }
        if (rs_graph_flags(g, u) & RS_NODE_NOT_DATA)
            assert(!rs_scc_in_cycle(s, u));
    }
    size_t members = 0;
    for (size_t cy = 0; cy < s->cycle_count; cy++) {
        size_t count;
        const rs_idx *m = rs_scc_cycle_members(s, cy, &count);
        assert(count >= 1);
        for (size_t k = 0; k < count; k++) {
            assert(rs_scc_cycle_of(s, m[k]) == cy);
            assert(k == 0 || m[k - 1] < m[k]);
        }
        members += count;
    }
    for (rs_idx u = 0; u < s->node_count; u++)
        members -= rs_scc_in_cycle(s, u) ? 1 : 0;
    assert(members == 0);
}
#else
#define validate_components(g, s) ((void)0)
#endif

rs_scc *rs_scc_compute(const rs_graph *g)
{
    size_t n = rs_graph_node_count(g);
    size_t words = n / 64 + 1;
    struct search st = {.g = g, .n = (uint32_t)n, .top = (uint32_t)n, .next_index = 1};
    rs_scc *s = rs_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    st.rindex = rs_malloc((n + 1) * sizeof *st.rindex);
    st.edge_pos = rs_malloc((n + 1) * sizeof *st.edge_pos);
    st.stack = rs_malloc((n + 1) * sizeof *st.stack);
    st.is_root = rs_calloc(3 * words, sizeof *st.is_root);
    st.in_cycle = rs_calloc(2 * words, sizeof *st.in_cycle);
    s->excluded_before = rs_calloc(words, sizeof *s->excluded_before);
    s->component = st.rindex;
    s->cycle_of_component = st.edge_pos;
    s->in_cycle = st.in_cycle;
    if (st.rindex == NULL || st.edge_pos == NULL || st.stack == NULL || st.is_root == NULL ||
        st.in_cycle == NULL || s->excluded_before == NULL)
        goto error;
    st.self_edge = st.is_root + words;
    st.cyclic = st.is_root + 2 * words;
    s->excluded = st.in_cycle + words;

    uint32_t excluded = exclude_not_data(&st, s);
    find_components(&st);
    s->node_count = n;
    s->found = st.found;
    s->component_count = st.found + excluded;
    if (collect_cycles(&st, s) < 0)
        goto error;
    rs_free(st.stack);
    rs_free(st.is_root);
    validate_components(g, s);
    return s;

error:
    rs_free(st.stack);
    rs_free(st.is_root);
    rs_scc_free(s);
    return NULL;
}

void rs_scc_free(rs_scc *s)
{
    if (s == NULL)
        return;
    rs_free(s->component);
    rs_free(s->in_cycle); /* and s->excluded */
    rs_free(s->excluded_before);
    rs_free(s->cycle_of_component);
    rs_free(s->cycle_start);
    rs_free(s->cycle_members);
    rs_free(s);
}

size_t rs_scc_memory_bytes(const rs_scc *s)
{
    if (s == NULL)
        return 0;
    size_t words = s->node_count / 64 + 1;
    return sizeof *s + s->node_count * sizeof *s->component +
           words * (2 * sizeof *s->in_cycle + sizeof *s->excluded_before) +
           s->component_count * sizeof *s->cycle_of_component +
           (s->cycle_count + 1) * sizeof *s->cycle_start + s->cycle_start[s->cycle_count] * sizeof *s->cycle_members;
}

size_t rs_scc_component_count(const rs_scc *s)
{
    return s->component_count;
}

uint32_t rs_scc_component(const rs_scc *s, rs_idx n)
{
    if (n >= s->node_count)
        return UINT32_MAX;
    uint32_t value = s->component[n];
    if (value != EXCLUDED)
        return (uint32_t)s->node_count - 1 - value;
    uint64_t before = s->excluded[n >> 6] & (((uint64_t)1 << (n & 63)) - 1);
    return s->found + s->excluded_before[n >> 6] + (uint32_t)__builtin_popcountll(before);
}

uint32_t rs_scc_cycle_of(const rs_scc *s, rs_idx n)
{
    if (n >= s->node_count || !bit_get(s->in_cycle, n))
        return RS_SCC_NO_CYCLE;
    return s->cycle_of_component[s->node_count - 1 - s->component[n]];
}

int rs_scc_in_cycle(const rs_scc *s, rs_idx n)
{
    return rs_scc_cycle_of(s, n) != RS_SCC_NO_CYCLE;
}

size_t rs_scc_cycle_count(const rs_scc *s)
{
    return s->cycle_count;
}

const rs_idx *rs_scc_cycle_members(const rs_scc *s, size_t cycle, size_t *count)
{
    if (cycle >= s->cycle_count) {
        *count = 0;
        return NULL;
    }
    *count = s->cycle_start[cycle + 1] - s->cycle_start[cycle];
    return s->cycle_members + s->cycle_start[cycle];
}

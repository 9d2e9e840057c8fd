/*
 * Dominator tree by the semi-NCA algorithm (L. Georgiadis, "Linear-Time
 * Algorithms for Dominators and Related Problems", PhD thesis, 2005; the
 * same form as LLVM's SemiNCAInfo), with iterative depth-first search and
 * iterative path compression: nothing here recurses.
 *
 * Vertices are named by their depth-first preorder number: 0 is the virtual
 * super root, 1 .. reached the nodes reachable from the roots.  What the
 * algorithm keeps per vertex sits in one 16-byte record indexed by number,
 * so a random visit during path compression touches one cache line.
 *
 * A node without referents and with exactly one referrer (a string or int
 * held by one object, an empty list: more than half of a typical heap) is
 * not a vertex at all.  It is on no path to any other node, so it changes
 * no other node's dominator, and its own immediate dominator is its one
 * referrer.  The search only records that referrer's number in its place,
 * and every later stage works on the other vertices only.
 *
 * Stages, in order (see rs_dom_compute):
 *   mark_sole_leaves        the nodes that will not be vertices
 *   number_reachable        depth-first search from the super root
 *   compute_semidominators  semidominator of every vertex, in reverse preorder
 *   compute_idoms           immediate dominator of every vertex, in preorder
 *   finish_results          in the working arrays' memory:
 *     store_leaves            results of the nodes that are not vertices
 *                             (each sole leaf adds its size to its holder)
 *     sum_retained            retained size of every vertex, by number
 *     store_vertices          idoms and retained sizes of the vertices
 * and on the first rs_dom_children():
 *   list_children           the dominator tree as CSR
 */
#include <stdbool.h>

#include "refscope/dom.h"

struct rs_dom {
    size_t node_count;
    rs_idx *idom;          /* node -> immediate dominator, RS_DOM_SUPER_ROOT or RS_NONE */
    uint64_t *retained;    /* node -> retained size; [node_count] = the super root */
    uint32_t *child_start; /* node_count + 2 offsets; slot node_count = the super root */
    rs_idx *children;      /* dominator tree children, increasing node index per parent */
    int children_listed;   /* child_start and children are filled in (on first use) */
};

/* What semi-NCA keeps per vertex; all fields are vertex numbers.  The
 * search writes every field as it numbers the vertex, so no later pass
 * over the whole array (16 bytes a vertex) is needed to set them up. */
struct vertex_info {
    uint32_t parent; /* depth-first tree parent; compressed in place into
                        the forest ancestor by eval() */
    uint32_t semi;   /* semidominator, starting as the vertex itself (the
                        next edge to follow, while the search has the
                        vertex on its call stack) */
    uint32_t label;  /* vertex of least semi on the compressed path */
    uint32_t idom;   /* depth-first parent, then the immediate dominator */
};

/* number[] of a sole leaf (see the file comment): SOLE_LEAF before the
 * search reaches it, then SOLE_LEAF_OF | its referrer's number.  Vertex
 * numbers stay below SOLE_LEAF_OF: with 2^31 nodes or more there are no
 * sole leaves. */
#define SOLE_LEAF UINT32_MAX
#define SOLE_LEAF_OF ((uint32_t)1 << 31)

/* Working state; every array but `number` and `immortal` is indexed by
 * preorder number. */
struct semi_nca {
    const rs_graph *g;
    uint32_t n;          /* nodes */
    uint32_t reached;    /* vertices reachable from the roots */
    uint32_t sole_reached; /* sole leaves reachable from the roots */
    uint32_t *number;    /* node -> preorder number, 0 = not reached; or a
                            sole leaf's mark */
    rs_idx *vertex;      /* number -> node */
    struct vertex_info *info;
    uint32_t *stack;     /* the search's call stack, then eval()'s path, then
                            each vertex's immediate dominator (idom below) */
    uint32_t *idom;      /* immediate dominators once info is gone */
    uint64_t *root_target; /* bit per number: the super root has an edge to it */
    uint64_t *immortal;  /* bit per node: RS_NODE_IMMORTAL */
};

/* After: number[v] is SOLE_LEAF for every node without referents that has
 * exactly one referrer and is neither a root's target nor immortal (those
 * hang off the super root), else 0; st->immortal marks immortal nodes.
 * Every entry is written here, in order, since the search reads and
 * writes number at random, and first touching fresh pages at random costs
 * two page faults each. */
static void mark_sole_leaves(struct semi_nca *st)
{
    bool marks = st->n < SOLE_LEAF_OF - 1;
    rs_graph_node_arrays a = rs_graph_arrays(st->g);
    for (uint32_t base = 0; base < st->n; base += 64) {
        uint32_t end = st->n - base < 64 ? st->n : base + 64;
        uint64_t bits = 0;
        for (uint32_t v = base; v < end; v++) {
            uint32_t flags = a.flags[v];
            bool sole = marks && a.referent_start[v + 1] == a.referent_start[v] &&
                        a.referrer_start[v + 1] - a.referrer_start[v] == 1 &&
                        !(flags & (RS_NODE_ROOT | RS_NODE_IMMORTAL));
            st->number[v] = sole ? SOLE_LEAF : 0;
            bits |= (uint64_t)((flags & RS_NODE_IMMORTAL) != 0) << (v - base);
        }
        st->immortal[base >> 6] = bits;
    }
    st->number[st->n] = 0;
}

/* Gives node v the next preorder number, with depth-first parent p, and
 * sets up its info; semi is 0 (the first edge) when v goes on the call
 * stack. */
static inline uint32_t number_node(struct semi_nca *st, rs_idx v, uint32_t p, bool stacked)
{
    uint32_t num = ++st->reached;
    st->number[v] = num;
    st->vertex[num] = v;
    st->info[num] = (struct vertex_info){.parent = p, .semi = stacked ? 0 : num, .label = num, .idom = p};
    return num;
}

/* Searches depth-first from start, not yet numbered, whose depth-first
 * parent is the super root; edges are followed in visit order.  The call
 * stack holds vertex numbers; each vertex's next edge is in its semi until
 * it leaves the stack. */
static void search_from(struct semi_nca *st, rs_idx start)
{
    uint32_t depth = 0;
    st->stack[depth++] = number_node(st, start, 0, true);
    while (depth > 0) {
        uint32_t vnum = st->stack[depth - 1];
        size_t count;
        const rs_idx *targets = rs_graph_referents(st->g, st->vertex[vnum], &count);
        uint32_t pos = st->info[vnum].semi;
        rs_idx next = RS_NONE;
        while (pos < count) {
            rs_idx t = targets[pos++];
            uint32_t t_number = st->number[t];
            if (t_number == SOLE_LEAF) {
                st->number[t] = SOLE_LEAF_OF | vnum;
                st->sole_reached++;
                continue;
            }
            if (t_number != 0)
                continue;
            size_t t_count;
            rs_graph_referents(st->g, t, &t_count);
            if (t_count != 0) {
                next = t;
                break;
            }
            /* Without referents t is done as soon as it is numbered: no
             * trip through the call stack. */
            number_node(st, t, vnum, false);
        }
        if (next == RS_NONE) {
            st->info[vnum].semi = vnum;
            depth--;
            continue;
        }
        st->info[vnum].semi = pos;
        st->stack[depth++] = number_node(st, next, vnum, true);
    }
}

/* After: the nodes reachable from the roots or from immortal nodes are
 * numbered 1 .. reached in the preorder of one depth-first search from the
 * super root (roots in order, then immortal nodes, edges in visit order),
 * info[].parent is its tree, and root_target marks the vertices the super
 * root has an edge to: the roots' targets and every immortal node, which
 * the interpreter holds forever, so nobody else retains it. */
static void number_reachable(struct semi_nca *st)
{
    size_t root_count;
    const rs_root *roots = rs_graph_roots(st->g, &root_count);
    for (size_t k = 0; k < root_count; k++) {
        rs_idx t = roots[k].target;
        if (t >= st->n)
            continue;
        if (st->number[t] == 0)
            search_from(st, t);
        uint32_t num = st->number[t];
        st->root_target[num >> 6] |= (uint64_t)1 << (num & 63);
    }
    size_t words = (size_t)st->n / 64 + 1;
    for (size_t i = 0; i < words; i++) {
        for (uint64_t bits = st->immortal[i]; bits != 0; bits &= bits - 1) {
            rs_idx v = (rs_idx)(64 * i + (uint32_t)__builtin_ctzll(bits));
            if (st->number[v] == 0)
                search_from(st, v);
            uint32_t num = st->number[v];
            st->root_target[num >> 6] |= (uint64_t)1 << (num & 63);
        }
    }
}

/* Returns the vertex of least semidominator on the forest path from v up to
 * (not including) its forest root, where vertices numbered last_linked and
 * above are linked to their parents; compresses that path.  Same as LLVM's
 * SemiNCAInfo::eval, with an explicit stack. */
static uint32_t eval(struct semi_nca *st, uint32_t v, uint32_t last_linked)
{
    struct vertex_info *info = st->info;
    uint32_t *path = st->stack;
    if (info[v].parent < last_linked)
        return info[v].label;
    uint32_t top = 0;
    uint32_t x = v;
    do {
        path[top++] = x;
        x = info[x].parent;
    } while (info[x].parent >= last_linked);
    uint32_t p = x;
    uint32_t p_label = info[x].label;
    do {
        uint32_t y = path[--top];
        info[y].parent = info[p].parent;
        if (info[p_label].semi < info[info[y].label].semi)
            info[y].label = p_label;
        else
            p_label = info[y].label;
        p = y;
    } while (top > 0);
    return info[v].label;
}

/* After: info[w].semi is the semidominator of every vertex w >= 1: the
 * least vertex from which a path reaches w through vertices numbered above
 * w only.  info[w].idom holds w's depth-first parent. */
static void compute_semidominators(struct semi_nca *st)
{
    struct vertex_info *info = st->info;
    for (uint32_t w = st->reached; w >= 1; w--) {
        int from_super_root = (int)((st->root_target[w >> 6] >> (w & 63)) & 1);
        uint32_t s = from_super_root ? 0 : info[w].parent;
        size_t count = 0;
        const rs_idx *sources = s == 0 ? NULL : rs_graph_referrers(st->g, st->vertex[w], &count);
        /* A single referrer is the depth-first parent, whose semidominator
         * is still itself: s stays the parent, and the referrer list and
         * its number need not be read (most objects have one holder). */
        if (count == 1)
            count = 0;
        for (size_t k = 0; s != 0 && k < count; k++) {
            uint32_t v = st->number[sources[k]];
            if (v == 0)
                continue; /* an unreachable referrer is on no path from the roots */
            uint32_t u = eval(st, v, w + 1);
            if (info[u].semi < s)
                s = info[u].semi;
        }
        info[w].semi = s;
    }
}

/* After: idom[w] is the immediate dominator of every vertex w >= 1 (0 for
 * the super root): the nearest common ancestor, in the dominator tree built
 * so far, of w's depth-first parent and its semidominator.  The idoms go
 * to their own array (the old call stack), so info can be reused. */
static void compute_idoms(struct semi_nca *st)
{
    const struct vertex_info *info = st->info;
    st->idom = st->stack;
    st->stack = NULL;
    uint32_t *idom = st->idom;
    idom[0] = 0;
    for (uint32_t w = 1; w <= st->reached; w++) {
        uint32_t c = info[w].idom; /* the depth-first parent */
        uint32_t semi = info[w].semi;
        while (c > semi)
            c = idom[c];
        idom[w] = c;
    }
}

/* After: d->idom[v] and d->retained[v] are the results of every node that
 * is not a vertex: a sole leaf's holder (as a node index) and its own
 * size, or RS_NONE and 0 when unreachable; and by_number[w] is the size of
 * vertex w's sole leaves.  In one pass by node; d->idom is st->number,
 * overwritten entry by entry once read (a vertex's entry is left alone). */
static void store_leaves(const struct semi_nca *st, uint64_t *by_number, rs_dom *d)
{
    for (uint32_t w = 0; w <= st->reached; w++)
        by_number[w] = 0;
    for (uint32_t v = 0; v < st->n; v++) {
        uint32_t w = st->number[v];
        if (w < SOLE_LEAF_OF && w != 0)
            continue;
        if (w == 0 || w == SOLE_LEAF) {
            d->idom[v] = RS_NONE;
            d->retained[v] = 0;
            continue;
        }
        uint64_t size = rs_graph_size(st->g, v);
        d->idom[v] = st->vertex[w - SOLE_LEAF_OF];
        d->retained[v] = size;
        by_number[w - SOLE_LEAF_OF] += size;
    }
}

/* After: by_number[w] is the retained size of vertex w: its node's size
 * plus the sizes of the vertices and sole leaves it dominates
 * (by_number[0], the super root's, is the size of everything reachable).
 * A dominator's number is below its children's, so one pass in reverse
 * preorder has every subtree summed before its root is added up. */
static void sum_retained(const struct semi_nca *st, uint64_t *by_number)
{
    for (uint32_t w = st->reached; w >= 1; w--) {
        by_number[w] += rs_graph_size(st->g, st->vertex[w]);
        by_number[st->idom[w]] += by_number[w];
    }
}

/* After: d->idom[v] is v's immediate dominator as a node index or
 * RS_DOM_SUPER_ROOT, and d->retained[v] its retained size, for every
 * vertex v (d->retained[n] is the super root's), in one pass by number. */
static void store_vertices(const struct semi_nca *st, const uint64_t *by_number, rs_dom *d)
{
    for (uint32_t w = 1; w <= st->reached; w++) {
        rs_idx v = st->vertex[w];
        uint32_t i = st->idom[w];
        d->idom[v] = i == 0 ? RS_DOM_SUPER_ROOT : st->vertex[i];
        d->retained[v] = by_number[w];
    }
    d->retained[st->n] = by_number[0];
}

/* After: d->children[d->child_start[s] .. d->child_start[s + 1]) lists the
 * nodes whose immediate dominator has slot s (the super root's is n), in
 * increasing node index.  Reads d->idom only; called on the first
 * rs_dom_children(), since cycles, idoms and retained sizes need no child
 * lists. */
static void list_children(rs_dom *d)
{
    uint32_t *start = d->child_start;
    size_t n = d->node_count, slots = n + 1;
    for (size_t s = 0; s <= slots; s++)
        start[s] = 0;
    for (size_t v = 0; v < n; v++) {
        rs_idx i = d->idom[v];
        if (i != RS_NONE)
            start[(i == RS_DOM_SUPER_ROOT ? n : i) + 1]++;
    }
    for (size_t s = 0; s < slots; s++)
        start[s + 1] += start[s];
    /* start[s] serves as slot s's fill cursor, then is shifted back. */
    for (uint32_t v = 0; v < n; v++) {
        rs_idx i = d->idom[v];
        if (i != RS_NONE)
            d->children[start[i == RS_DOM_SUPER_ROOT ? n : i]++] = v;
    }
    for (size_t s = slots; s > 0; s--)
        start[s] = start[s - 1];
    start[0] = 0;
    d->children_listed = 1;
}

/* After: d holds every result but the child lists, which list_children()
 * fills in on first use in the arrays set aside for them.  The working arrays become the results
 * rather than being freed while fresh ones are mapped (first touches of
 * fresh pages cost the kernel's zeroing): number becomes d->idom, info
 * (16 bytes per vertex) d->retained, with the retained sizes by number
 * computed in its upper half, the idom array (stack sized for it)
 * d->child_start, and vertex d->children.  Returns 0, or -1 when a
 * shrinking reallocation fails (st keeps every array then). */
static int finish_results(struct semi_nca *st, rs_dom *d)
{
    size_t n = st->n;
    uint64_t *retained = (uint64_t *)st->info;
    d->idom = st->number;
    d->retained = retained;
    store_leaves(st, retained + n + 1, d);
    sum_retained(st, retained + n + 1);
    store_vertices(st, retained + n + 1, d);
    st->number = NULL;
    st->info = NULL;
    d->child_start = st->idom;
    st->idom = NULL;
    d->children = st->vertex;
    st->vertex = NULL;
    uint64_t *shrunk = rs_realloc(d->retained, (n + 1) * sizeof *d->retained);
    if (shrunk == NULL)
        return -1;
    d->retained = shrunk;
    rs_idx *fitted = rs_realloc(d->children, ((size_t)st->reached + st->sole_reached + 1) * sizeof *d->children);
    if (fitted == NULL)
        return -1;
    d->children = fitted;
    return 0;
}

#ifdef RS_VALIDATE
#include <assert.h>

/* Checks the postconditions of finish_results: reachability is closed
 * under edges, every dominator is reachable, retained sizes add up over the
 * tree and the child lists are exactly the inverse of idom. */
static void validate_dominators(const rs_graph *g, const rs_dom *d)
{
    size_t n = d->node_count;
    uint64_t total = 0;
    size_t listed = 0;
    for (rs_idx v = 0; v < n; v++) {
        if (d->idom[v] == RS_NONE) {
            assert(d->retained[v] == 0);
            continue;
        }
        size_t count;
        const rs_idx *targets = rs_graph_referents(g, v, &count);
        for (size_t k = 0; k < count; k++)
            assert(d->idom[targets[k]] != RS_NONE);
        if (d->idom[v] != RS_DOM_SUPER_ROOT)
            assert(d->idom[d->idom[v]] != RS_NONE);
        uint64_t sum = rs_graph_size(g, v);
        const rs_idx *kids = rs_dom_children(d, v, &count);
        for (size_t k = 0; k < count; k++) {
            assert(d->idom[kids[k]] == v);
            assert(k == 0 || kids[k - 1] < kids[k]);
            sum += d->retained[kids[k]];
        }
        listed += count;
        assert(sum == d->retained[v]);
        total += rs_graph_size(g, v);
    }
    size_t count;
    rs_dom_children(d, RS_DOM_SUPER_ROOT, &count);
    assert(listed + count == d->child_start[n + 1]);
    assert(total == d->retained[n]);
}
#else
#define validate_dominators(g, d) ((void)0)
#endif

rs_dom *rs_dom_compute(const rs_graph *g)
{
    size_t n = rs_graph_node_count(g);
    struct semi_nca st = {.g = g, .n = (uint32_t)n};
    rs_dom *d = rs_calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->node_count = n;
    st.number = rs_malloc((n + 1) * sizeof *st.number);
    st.vertex = rs_malloc((n + 1) * sizeof *st.vertex);
    st.info = rs_malloc((n + 1) * sizeof *st.info);
    st.stack = rs_malloc((n + 2) * sizeof *st.stack); /* n + 2: becomes child_start */
    st.root_target = rs_calloc(2 * (n / 64 + 1), sizeof *st.root_target);
    if (st.number == NULL || st.vertex == NULL || st.info == NULL || st.stack == NULL ||
        st.root_target == NULL)
        goto error;
    st.immortal = st.root_target + n / 64 + 1;
    mark_sole_leaves(&st);
    st.vertex[0] = RS_DOM_SUPER_ROOT;
    st.info[0] = (struct vertex_info){0};

    number_reachable(&st);
    compute_semidominators(&st);
    compute_idoms(&st);
    rs_free(st.root_target);
    st.root_target = NULL;
    if (finish_results(&st, d) < 0)
        goto error;
    validate_dominators(g, d);
    return d;

error:
    rs_free(st.number);
    rs_free(st.vertex);
    rs_free(st.info);
    rs_free(st.stack);
    rs_free(st.idom);
    rs_free(st.root_target);
    rs_dom_free(d);
    return NULL;
}

void rs_dom_free(rs_dom *d)
{
    if (d == NULL)
        return;
    rs_free(d->idom);
    rs_free(d->retained);
    rs_free(d->child_start);
    rs_free(d->children);
    rs_free(d);
}

size_t rs_dom_memory_bytes(const rs_dom *d)
{
    if (d == NULL)
        return 0;
    return sizeof *d + d->node_count * (sizeof *d->idom + sizeof *d->children) +
           (d->node_count + 1) * sizeof *d->retained + (d->node_count + 2) * sizeof *d->child_start;
}

int rs_dom_reachable(const rs_dom *d, rs_idx n)
{
    return n < d->node_count && d->idom[n] != RS_NONE;
}

rs_idx rs_dom_idom(const rs_dom *d, rs_idx n)
{
    return n < d->node_count ? d->idom[n] : RS_NONE;
}

/* Slot of n in the result arrays, or SIZE_MAX when n is neither a node nor
 * the super root. */
static size_t result_slot(const rs_dom *d, rs_idx n)
{
    if (n == RS_DOM_SUPER_ROOT)
        return d->node_count;
    return n < d->node_count ? n : SIZE_MAX;
}

uint64_t rs_dom_retained(const rs_dom *d, rs_idx n)
{
    size_t s = result_slot(d, n);
    return s == SIZE_MAX ? 0 : d->retained[s];
}

const rs_idx *rs_dom_children(const rs_dom *d, rs_idx n, size_t *count)
{
    size_t s = result_slot(d, n);
    if (s == SIZE_MAX) {
        *count = 0;
        return NULL;
    }
    if (!d->children_listed)
        list_children((rs_dom *)d); /* d is never const itself: rs_dom_compute's */
    *count = d->child_start[s + 1] - d->child_start[s];
    return d->children + d->child_start[s];
}

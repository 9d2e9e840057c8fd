/*
 * refscope dominator tree and retained sizes.
 *
 * Dominators are computed over all edges (data or not) from a virtual super
 * root whose children are the targets of every root in rs_graph_roots(), of
 * every kind, and every node flagged RS_NODE_IMMORTAL: the interpreter holds
 * those forever, so they and what only they reach are reachable, and nobody
 * retains them (a holder's retained size is then the same on 3.11 and on
 * 3.12+, where interned strings are immortal).  Node x dominates y when
 * every path from the super root to y passes through x; the retained size
 * of x is the size of everything x dominates, x included: what freeing x
 * would free (DESIGN.md section 5).
 *
 * Plain C, no recursion: a chain of millions of nodes is fine.  Memory kept:
 * 16 bytes per node plus 4 per reachable node; the computation needs about
 * 28 bytes per node at its peak, and its working arrays become the results.
 */
#ifndef REFSCOPE_DOM_H
#define REFSCOPE_DOM_H

#include <stddef.h>
#include <stdint.h>

#include "refscope/graph.h"

/* The virtual super root: the immediate dominator of nodes that no single
 * node dominates, and a valid argument to rs_dom_retained() and
 * rs_dom_children().  Never a node index (those stop below RS_NONE - 1). */
#define RS_DOM_SUPER_ROOT (RS_NONE - 1)

typedef struct rs_dom rs_dom;

/* Computes the dominator tree of a finished graph, which is only read (the
 * result keeps no pointer to it).  Returns NULL when memory runs out, having
 * freed what it allocated; the caller owns the result (rs_dom_free()). */
rs_dom *rs_dom_compute(const rs_graph *g);

/* Frees a result of rs_dom_compute(); NULL is accepted. */
void rs_dom_free(rs_dom *d);

/* Bytes the result uses (for Snapshot.memory); 0 for NULL. */
size_t rs_dom_memory_bytes(const rs_dom *d);

/* Returns 1 when n is reachable from the roots or from an immortal node,
 * else 0 (also when n is not a node). */
int rs_dom_reachable(const rs_dom *d, rs_idx n);

/* Returns the immediate dominator of n: a node, RS_DOM_SUPER_ROOT when no
 * node dominates n, or RS_NONE when n is unreachable or not a node. */
rs_idx rs_dom_idom(const rs_dom *d, rs_idx n);

/* Returns the retained size of n: its own size plus the sizes of all nodes
 * it dominates.  For RS_DOM_SUPER_ROOT it is the size of everything
 * reachable.  For an unreachable node (or a non-node) it is 0: nothing
 * reachable is retained by it, and garbage is sized by its own analysis. */
uint64_t rs_dom_retained(const rs_dom *d, rs_idx n);

/* Returns the nodes that n (a node or RS_DOM_SUPER_ROOT) immediately
 * dominates, in increasing node index, and stores their number in *count;
 * the array belongs to d.  Walking children repeatedly lists everything n
 * retains.  An unreachable node or a non-node gives *count = 0.  The first
 * call lists every node's children (linear time, no allocation: the space
 * is set aside by rs_dom_compute()); callers that need only idoms and
 * retained sizes never pay for it. */
const rs_idx *rs_dom_children(const rs_dom *d, rs_idx n, size_t *count);

#endif

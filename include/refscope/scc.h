/*
 * refscope strongly connected components over data edges.
 *
 * An edge u -> v is a data edge unless v has RS_NODE_NOT_DATA (types,
 * modules, module/globals dicts, code objects): through those almost every
 * object of a program sits in one giant component, so they are left out
 * (DESIGN.md section 5).  A node with RS_NODE_NOT_DATA therefore is always
 * a component of its own and never in a cycle.
 *
 * A cycle is a component with more than one node, or a single node with a
 * data edge to itself.  Cycles are numbered 0 .. rs_scc_cycle_count() - 1
 * in increasing component id.
 *
 * Plain C, no recursion: a chain of millions of nodes is fine.  Memory kept:
 * 8.3 bytes per node plus 4 per cycle member; the computation briefly needs
 * about 4.4 bytes per node more.
 */
#ifndef REFSCOPE_SCC_H
#define REFSCOPE_SCC_H

#include <stddef.h>
#include <stdint.h>

#include "refscope/graph.h"

/* "Not in a cycle": returned by rs_scc_cycle_of(). */
#define RS_SCC_NO_CYCLE UINT32_MAX

typedef struct rs_scc rs_scc;

/* Computes the components of a finished graph, which is only read (the
 * result keeps no pointer to it).  Returns NULL when memory runs out, having
 * freed what it allocated; the caller owns the result (rs_scc_free()). */
rs_scc *rs_scc_compute(const rs_graph *g);

/* Frees a result of rs_scc_compute(); NULL is accepted. */
void rs_scc_free(rs_scc *s);

/* Bytes the result uses (for Snapshot.memory); 0 for NULL. */
size_t rs_scc_memory_bytes(const rs_scc *s);

/* Returns the number of components (every node is in exactly one). */
size_t rs_scc_component_count(const rs_scc *s);

/* Returns the component id of node n, in 0 .. component count - 1, or
 * UINT32_MAX when n is not a node.  Ids are in reverse topological order:
 * a data edge between two components goes from the higher id to the lower. */
uint32_t rs_scc_component(const rs_scc *s, rs_idx n);

/* Returns 1 when n is in a cycle (its component has more than one node, or
 * n has a data edge to itself), else 0 (also when n is not a node). */
int rs_scc_in_cycle(const rs_scc *s, rs_idx n);

/* Returns the number of cycles (cyclic components). */
size_t rs_scc_cycle_count(const rs_scc *s);

/* Returns the cycle number of node n, or RS_SCC_NO_CYCLE when n is in none. */
uint32_t rs_scc_cycle_of(const rs_scc *s, rs_idx n);

/* Returns the members of cycle number `cycle` in increasing node index and
 * stores their number in *count; the array belongs to s.  An out-of-range
 * cycle gives NULL and *count = 0. */
const rs_idx *rs_scc_cycle_members(const rs_scc *s, size_t cycle, size_t *count);

#endif

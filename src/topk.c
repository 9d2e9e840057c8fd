/*
 * The n biggest of a set of candidate nodes by a 64-bit key: the one
 * selection that "largest objects", "largest strings" and "unexplained
 * references" share.  n is any count the user asked for (report(top=2**62)
 * included): the answer never has more rows than there are candidates, and
 * nothing is allocated by n.
 */
#include <stdlib.h>

#include <Python.h>

#include "analysis.h"

/* Up to this many rows an insertion into a short sorted array beats sorting
 * every candidate: most candidates lose to the last row. */
#define INSERTION_MAX 64

static int by_key_desc(const void *a, const void *b)
{
    const rs_keyed_node *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? 1 : -1;
    return (x->node > y->node) - (x->node < y->node);
}

static size_t top_keyed(rs_keyed_node *cands, size_t count, size_t n)
{
    if (n > count)
        n = count;
    if (n > INSERTION_MAX) {
        qsort(cands, count, sizeof *cands, by_key_desc);
        return n;
    }
    /* cands[0..used) holds the best so far, biggest first, ties in node order. */
    size_t used = 0;
    for (size_t i = 0; i < count && n > 0; i++) {
        rs_keyed_node c = cands[i];
        if (used == n && c.key <= cands[n - 1].key)
            continue;
        size_t k = used < n ? used++ : n - 1;
        while (k > 0 && cands[k - 1].key < c.key) {
            cands[k] = cands[k - 1];
            k--;
        }
        cands[k] = c;
    }
    return used;
}

rs_idx *rs_top_nodes(rs_keyed_node *cands, size_t count, size_t n, size_t *out_count)
{
    size_t used = top_keyed(cands, count, n);
    rs_idx *nodes = rs_malloc((used ? used : 1) * sizeof *nodes);
    if (nodes == NULL) {
        rs_free(cands);
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < used; i++)
        nodes[i] = cands[i].node;
    rs_free(cands);
    *out_count = used;
    return nodes;
}

/*
 * Leak suspects: the one definition of every figure the summary screen,
 * the report (text and JSON) and the Python API show about them: the top
 * retained data objects and what each accumulates, the references nothing
 * explains, the cycles ranked, the largest strings, the garbage counted by
 * kind with the bytes stuck in it, and the one top-k helper and the one
 * byte formatter they all use.  Plain C data; every call needs the GIL.
 * Arrays are rs_malloc'ed, freed by the caller with rs_free(); NULL / -1
 * means a Python exception is set (MemoryError for memory).
 */
#ifndef REFSCOPE_SUSPECTS_H
#define REFSCOPE_SUSPECTS_H

#include <Python.h>
#include <stdbool.h>

#include "analysis.h"

/* --- top k ---------------------------------------------------------------- */

/* The k biggest (value, node) pairs seen, biggest first; of equal values
 * the one added first stays first, so node order breaks ties.  k may be
 * anything a user asked for (report(top=2**62)): nothing is allocated by k.
 * A small k keeps a sorted array (most offers lose to the last entry); a
 * big one keeps every offer and sorts once in rs_top_k_finish. */
typedef struct rs_top_k {
    uint64_t *value;
    rs_idx *node;
    size_t count, k;
    size_t capacity; /* of value/node; 0: caller arrays of k entries */
    bool unsorted;   /* offers kept past a big k, until rs_top_k_finish */
    bool failed;     /* an offer could not be kept (MemoryError) */
} rs_top_k;

/* Prepares t for k entries (or set value and node to caller arrays of k
 * entries, k, and count 0).  0, or -1 with MemoryError set. */
int rs_top_k_init(rs_top_k *t, size_t k);

/* Offers (value, node): kept when it is among the k biggest so far. */
void rs_top_k_add(rs_top_k *t, uint64_t value, rs_idx node);

/* false when an offer of value now would surely be turned down, so a
 * caller can skip working out whether a node qualifies at all. */
bool rs_top_k_could_take(const rs_top_k *t, uint64_t value);

/* Leaves the k biggest in value/node, biggest first, count of them in
 * count; call after the last rs_top_k_add before reading the arrays.  0,
 * or -1 with MemoryError set. */
int rs_top_k_finish(rs_top_k *t);

/* Hands the node array over (rs_free it) and frees the rest of t;
 * *count receives the number of entries.  NULL with MemoryError set. */
rs_idx *rs_top_k_take(rs_top_k *t, size_t *count);

/* Frees t's arrays (when not taken). */
void rs_top_k_free(rs_top_k *t);

/* --- the top retained data objects and what they accumulate ------------- */

/* Nodes of a suspect's dominator subtree examined to find what it
 * accumulates; past this the figures are lower bounds ("about"). */
#define RS_ACCUMULATION_BUDGET 200000u

typedef struct rs_accumulation {
    uint32_t type_id;   /* the type retaining the most inside the suspect,
                           UINT32_MAX when the suspect holds nothing */
    size_t count;       /* its instances not nested in another of them */
    uint64_t bytes;     /* what those retain */
    uint32_t percent;   /* bytes as a share of the suspect's retained size */
    bool about;         /* the walk hit RS_ACCUMULATION_BUDGET */
    rs_idx container;   /* the object inside the suspect that holds them
                           all directly (e.g. a Logger's .handlers list),
                           or RS_NONE: the suspect itself, or no one */
} rs_accumulation;

typedef struct rs_suspect {
    rs_idx node;
    uint64_t retained;
    rs_accumulation accumulation;
} rs_suspect;

/* true when node n is a suspect candidate: a data object (not a type,
 * module, function, code, frame, builtin, nor what a class holds directly:
 * its namespace, __mro__) that hangs directly off the program's structure
 * (its immediate dominator is the super-root, a module, a type, a class
 * namespace, a function or a frame).  Needs dominators. */
bool rs_suspect_candidate(rs_snapshot *s, rs_idx n);

/* The k candidates with the largest retained size, biggest first, each
 * with what it accumulates.  Computes dominators on first use. */
rs_suspect *rs_suspects(rs_snapshot *s, size_t k, size_t *count);

/* "holds 3000 x app.PendingOrder (94%)", with " in .handlers" when a
 * container inside holds them and "about " when the walk was capped;
 * "" when the suspect holds nothing.  Runs Python (labels).  New str. */
PyObject *rs_suspect_accumulation_text(rs_snapshot *s, const rs_suspect *x);

/* The container's place inside the suspect as an expression suffix
 * (".handlers", "['key'][3]"), or None.  New reference. */
PyObject *rs_suspect_container_path(rs_snapshot *s, const rs_suspect *x);

/* --- unexplained references, strings, cycles --------------------------------- */

/* true when n's references that nothing explains are worth showing: not a
 * singleton, scalar, constant tuple, static object, type, module or
 * refscope's own object (the interpreter's caches and code constants hold
 * those). */
bool rs_unexplained_suspect(rs_snapshot *s, rs_idx n);

/* The k nodes with the most unexplained references among those
 * rs_unexplained_suspect() accepts, most first. */
rs_idx *rs_suspect_unexplained(rs_snapshot *s, size_t k, size_t *count);

/* The k largest str / bytes / bytearray objects by own size. */
rs_idx *rs_suspect_strings(rs_snapshot *s, size_t k, size_t *count);

/* The k biggest cycles, ranked as rs_cycles() ranks them (retained size);
 * *total receives the number of cycles, *unreachable those that are
 * garbage. */
rs_cycle *rs_suspect_cycles(rs_snapshot *s, size_t k, size_t *count, size_t *total, size_t *unreachable);

/* --- figures kept with the snapshot ---------------------------------------------
 * rs_suspects(), rs_suspect_unexplained() and rs_suspect_strings() keep
 * their answer with the snapshot, so the summary screen (on every visit)
 * and the report read one computation; so do these. */

/* The census: per-type counts, sizes and retained sizes (the retained
 * column rs_suspect_types()'s), biggest total size first, rows as
 * rs_census_finish() makes them; computes dominators on first use. */
rs_census_row *rs_suspect_census(rs_snapshot *s, size_t *count);

/* rs_suspect_census()'s rows with retained column 0: counts and sizes
 * alone, from the one pass over the nodes that also gives the garbage
 * totals, the unexplained suspects and the largest strings. */
rs_census_row *rs_suspect_census_counts(rs_snapshot *s, size_t *count);

/* rs_retained_by_type()'s rows, kept. */
rs_type_retained *rs_suspect_types(rs_snapshot *s, size_t *count);

/* Every garbage entry (rs_garbage_kind_of() of each node), ordered as
 * rs_garbage_by_kind() orders them, kept: a copy, rs_malloc'ed, *count
 * of them; NULL with an exception. */
rs_garbage_entry *rs_suspect_garbage(rs_snapshot *s, size_t *count);

/* rs_suspect_garbage()'s entries counted by kind, kept.  0, or -1 with an
 * exception. */
int rs_suspect_garbage_totals(rs_snapshot *s, rs_garbage_totals *out);

/* Cycles' shapes: a cycle's member type ids, sorted.  Two cycles have one
 * shape when they have as many members of the same types (1000 sessions
 * each in a cycle with its state). */
typedef struct rs_cycle_shapes {
    const rs_cycle *cycles; /* borrowed */
    uint32_t *types;        /* sorted type ids of every cycle whose member
                               count another cycle shares, one after the other */
    size_t *at;             /* where cycle i's start in types (SIZE_MAX: its
                               count is its own, so are its types) */
} rs_cycle_shapes;

/* Computes the shapes of cycles[0..n), in time linear in the members of
 * cycles that share their member count (plus a sort of the counts).
 * 0, or -1 with MemoryError. */
int rs_cycle_shapes_init(rs_cycle_shapes *sh, rs_snapshot *s, const rs_cycle *cycles, size_t n);

/* <0, 0, >0 ordering cycles a and b by shape; 0 when they share one. */
int rs_cycle_shape_compare(const rs_cycle_shapes *sh, size_t a, size_t b);

/* Frees what rs_cycle_shapes_init() made. */
void rs_cycle_shapes_free(rs_cycle_shapes *sh);

/* The cycles of one shape, folded into one suspect. */
typedef struct rs_cycle_fold {
    size_t first;      /* index of its biggest cycle in the ranked cycles */
    size_t count;      /* cycles of this shape */
    uint64_t size;     /* their own sizes, added up */
    uint64_t retained; /* their retained sizes, added up */
    size_t garbage;    /* how many of them are unreachable */
} rs_cycle_fold;

/* The k biggest shapes of cycle by total retained size, each folding the
 * cycles of one shape; *cycles receives the ranked cycles the folds index
 * (rs_free it), *total the number of cycles, *unreachable those that are
 * garbage.  rs_malloc'ed array of *count folds; NULL with an exception. */
rs_cycle_fold *rs_suspect_cycle_folds(rs_snapshot *s, size_t k, rs_cycle **cycles, size_t *count, size_t *total,
                                      size_t *unreachable);

/* The most common member types of cycle c (at most max, most common
 * first; counted over at most the first 10000 members): type ids in
 * types[], counts in counts[].  Returns how many. */
size_t rs_cycle_member_types(rs_snapshot *s, const rs_cycle *c, uint32_t *types, uint64_t *counts, size_t max);

#endif

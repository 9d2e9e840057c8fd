/*
 * Roots of the snapshot: the modules in sys.modules and the locals, cells
 * and value stacks of every thread's executing frames (which CPython 3.11
 * keeps outside any object, so tp_traverse never shows them).
 */
#ifndef REFSCOPE_ROOTS_H
#define REFSCOPE_ROOTS_H

#include "snapshot.h"

/* Before the walk (may run Python code): fills s->threads with every
 * thread's ident and name.  0, or -1 with an exception set. */
int roots_prepare_threads(rs_snapshot *s);

/* During the walk: interns every root target, adds the root edges to
 * s->graph and fills s->frames and s->root_info.  Runs no Python code.
 * 0, or -1 on memory failure. */
int roots_add_all(rs_snapshot *s);

/* Calls visit(target, arg) for every root target roots_add_all() would
 * add (a target may come more than once), without a snapshot: for walks
 * that need the objects, not the root edges.  Runs no Python code.
 * Stops at and returns a non-zero value of visit; else 0. */
int roots_visit(visitproc visit, void *arg);

#endif

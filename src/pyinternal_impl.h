/*
 * What the per-version pyinternal_3*.c files share with pyinternal.c; not
 * for any other file.
 */
#ifndef REFSCOPE_PYINTERNAL_IMPL_H
#define REFSCOPE_PYINTERNAL_IMPL_H

#include "pyinternal.h"

/* The __dict__ slot at tp_dictoffset of an instance whose type has no
 * managed dict, or NULL when the type has none. */
PyObject **rs_py_offset_dict_slot(PyObject *obj);

/* 1 when this interpreter itself keeps obj forever: immortal (3.12+),
 * a static object of 3.11 or one of its singletons. */
int rs_py_immortal_here(PyObject *obj);

/* The code object of a generator, coroutine or async generator (borrowed;
 * on 3.12+ its frame's, NULL once the frame is cleared). */
PyObject *rs_py_generator_code(PyObject *gen);

#endif

/*
 * The one window onto CPython's internal structures (gc generation lists,
 * executing frames, inline instance attributes).  Only pyinternal.c includes
 * the interpreter's internal headers; everything else calls these functions.
 * Supported: CPython 3.11 (checked at build time in pyinternal.c).
 */
#ifndef REFSCOPE_PYINTERNAL_H
#define REFSCOPE_PYINTERNAL_H

#include <Python.h>

/* Calls fn(obj, ctx) for every object in gc.get_objects() (all generations)
 * and the permanent generation (gc.freeze()); stops and returns fn's value
 * when it is non-zero, else 0.  fn must not allocate GC objects. */
int rs_py_for_each_tracked(int (*fn)(PyObject *obj, void *ctx), void *ctx);

/* A cheap estimate of the number of gc-tracked objects, to size arrays. */
size_t rs_py_tracked_estimate(void);

/* The interpreter's gc.garbage list (borrowed), or NULL. */
PyObject *rs_py_gc_garbage(void);

/* The interned "__sizeof__" string (borrowed: looking it up takes no reference). */
PyObject *rs_py_sizeof_name(void);

/* The interned "__module__" string (borrowed). */
PyObject *rs_py_dunder_module(void);

/* sys.getsizeof()'s pre-header: the gc header and managed-dict pointers. */
size_t rs_py_preheader_size(PyTypeObject *type);

/* An interpreter frame (_PyInterpreterFrame), opaque to the rest. */
typedef struct rs_iframe rs_iframe;

/* The innermost executing frame of a thread, or NULL. */
rs_iframe *rs_py_thread_top_frame(PyThreadState *ts);

/* The caller of frame f (the next frame down the stack), or NULL. */
rs_iframe *rs_iframe_previous(rs_iframe *f);

/* 1 when f has started running user code (PyFrame_GetBack's notion). */
int rs_iframe_is_complete(rs_iframe *f);

/* 1 when f belongs to a generator/coroutine (which traverses it itself). */
int rs_iframe_owned_by_generator(rs_iframe *f);

/* 1 when f's stack top is saved (it waits on a Python call it made); a
 * generator's tp_traverse then visits the frame's slots, else none of them. */
int rs_iframe_stack_known(rs_iframe *f);

/* Borrowed pointers to the frame's code, function, f_locals, frame object. */
PyCodeObject *rs_iframe_code(rs_iframe *f);
PyObject *rs_iframe_function(rs_iframe *f);
PyObject *rs_iframe_locals_dict(rs_iframe *f);
PyObject *rs_iframe_frame_object(rs_iframe *f);

/* The frame's local/cell/free slots followed by the part of its value
 * stack that is known: *count = slots to read (may hold NULL), *nlocals =
 * named slots among them. */
PyObject **rs_iframe_slots(rs_iframe *f, int *count, int *nlocals);

/* The line being executed in f. */
int rs_iframe_line(rs_iframe *f);

/* The interpreter frame inside a frame object whose frame has finished
 * (owned by the frame object), or NULL when it is still executing. */
rs_iframe *rs_py_frameobject_frame(PyObject *frame_object);

/* The frame inside a generator/coroutine/async generator that is not yet
 * cleared, or NULL. */
rs_iframe *rs_py_generator_frame(PyObject *gen);

/* Inline attribute values of an instance whose type keeps them without a
 * __dict__ (3.11 "managed dict" with values, visited in slot order by
 * tp_traverse).  Returns the number of slots (0 when there are none) and
 * sets *values; slots may hold NULL. */
Py_ssize_t rs_py_inline_attributes(PyObject *obj, PyObject ***values);

/* The attribute name of inline slot i of type's instances (borrowed), or NULL. */
PyObject *rs_py_inline_attribute_name(PyTypeObject *type, Py_ssize_t i);

/* The address of an instance's __dict__ slot (managed or at tp_dictoffset),
 * or NULL when its type has none.  Does not materialize a dict. */
PyObject **rs_py_dict_slot(PyObject *obj);

/* Learns the address of CPython's subtype_traverse (the tp_traverse of
 * classes defined in Python) from importlib's ModuleSpec.  0, or -1 with an
 * exception set.  Called once at import. */
int rs_py_init(void);

/* 1 when type's tp_traverse is subtype_traverse (a class defined in Python). */
int rs_py_uses_subtype_traverse(PyTypeObject *type);

/* 1 when dict_traverse visits the dict's keys (keys not all str). */
int rs_py_dict_visits_keys(PyObject *dict);

#endif

/*
 * The one window onto CPython's internal structures (gc generation lists,
 * executing frames, generators, inline instance attributes, immortality).
 * Only the pyinternal*.c files include the interpreter's internal headers
 * (the Makefile gives only them Py_BUILD_CORE); everything else calls these
 * functions.  pyinternal.c holds what is the same on every supported
 * version, pyinternal_311.c, _312.c and _313.c what differs, each compiled
 * to nothing on the other versions.  Supported: CPython 3.11, 3.12 and
 * 3.13, not free-threaded builds (checked at build time in pyinternal.c and
 * at import by rs_py_init()).
 */
#ifndef REFSCOPE_PYINTERNAL_H
#define REFSCOPE_PYINTERNAL_H

#include <Python.h>

/* Calls fn(obj, ctx) for every object in gc.get_objects() (all generations)
 * and the permanent generation (gc.freeze()); stops and returns fn's value
 * when it is non-zero, else 0.  fn must not allocate GC objects. */
int rs_py_for_each_tracked(int (*fn)(PyObject *obj, void *ctx), void *ctx);

/* A walk over the objects rs_py_for_each_tracked() visits, each list
 * walked from both ends at once (two independent chains of loads, so two
 * cache misses in flight instead of one).  Each object comes with an
 * order: sorting by it gives rs_py_for_each_tracked()'s order.  An object
 * tracked during the walk joins a list beyond the walk's reach and is not
 * handed out; none in a list may be untracked or freed during the walk. */
typedef struct rs_tracked_walk {
    int list;           /* generations, then the permanent one */
    void *front, *back; /* the next gc headers from each end; NULL: the list is not started */
    uint64_t front_count, back_count;
    int at_back;        /* the next object comes from the back */
} rs_tracked_walk;

/* 1 with *obj and *order set, or 0 when every object has been handed out. */
int rs_py_tracked_next(rs_tracked_walk *it, PyObject **obj, uint64_t *order);

/* A cheap estimate of the number of gc-tracked objects, to size arrays. */
size_t rs_py_tracked_estimate(void);

/* The interpreter's gc.garbage list (borrowed), or NULL. */
PyObject *rs_py_gc_garbage(void);

/* The interned "__sizeof__" string (borrowed: looking it up takes no reference). */
PyObject *rs_py_sizeof_name(void);

/* The interned "__module__" string (borrowed). */
PyObject *rs_py_dunder_module(void);

/* sys.getsizeof()'s pre-header of obj: the gc header and managed-dict
 * pointers (none for static types on 3.13). */
size_t rs_py_preheader_size(PyObject *obj);

/* What __sizeof__ returns for an exact str of ASCII characters, a non-zero
 * exact int or an exact list, computed without calling it (nor making an
 * int for the answer); 0 for any other object. */
uint64_t rs_py_builtin_sizeof(PyObject *obj);

/* 1 when obj is immortal on this interpreter or on another supported one:
 * immortal (3.12+), interned str (immortal on 3.12), static type, small
 * int or singleton (None, True, ...).  Nobody retains such an object and
 * its references are never "unexplained", so answers agree across
 * versions. */
int rs_py_is_immortal(PyObject *obj);

/* PyObject_GC_IsTracked(obj), inline: the first word of the gc header
 * (just before the object; pyinternal.c checks the layout at build time)
 * is non-zero while gc tracks the object. */
static inline int rs_py_gc_tracked(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    return PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(obj)) && ((const uintptr_t *)obj)[-2] != 0;
}

/* Calls obj's tp_traverse, except that on 3.13 an instance whose inline
 * attributes have a materialized __dict__ visits that dict instead of the
 * attribute values, and such a dict visits the values (as on 3.11/3.12).
 * Returns what the visits return. */
int rs_py_traverse(PyObject *obj, visitproc visit, void *arg);

/* Starts loading the memory outside obj's own block that its tp_traverse
 * reads first: the attribute values of an instance whose dict is managed
 * (3.11, 3.12: a separate block), a list's item array. */
void rs_py_prefetch_traversed(PyObject *obj);

/* Like PyDict_Next/_PySet_NextEntry over a set or frozenset: 1 and *key
 * (borrowed) while items remain, else 0. */
int rs_py_set_next(PyObject *set, Py_ssize_t *pos, PyObject **key);

/* type's attribute name looked up along its MRO without running Python
 * code (borrowed), or NULL. */
PyObject *rs_py_type_lookup(PyTypeObject *type, PyObject *name);

/* The raw tracemalloc traceback of obj's allocation (a tuple of frames, new
 * reference), Py_None (new reference) when not traced, or NULL. */
PyObject *rs_py_allocation_traceback(PyObject *obj);

/* Writes obmalloc's statistics, as sys._debugmallocstats() does, to out.
 * Returns 0 when pymalloc is not in use. */
int rs_py_malloc_stats(FILE *out);

/* The target of weak reference ref (new reference; Py_None when it died),
 * or NULL with an exception set. */
PyObject *rs_py_weakref_target(PyObject *ref);

/* 1 when instances of tp are weak references or weak proxies. */
int rs_py_type_is_weakref(PyTypeObject *tp);

/* 1 while the interpreter is finalizing (no Python code may start). */
int rs_py_is_finalizing(void);

/* 1 when called in the main thread (where Python runs signal handlers). */
int rs_py_is_main_thread(void);

/* An interpreter frame (_PyInterpreterFrame), opaque to the rest. */
typedef struct rs_iframe rs_iframe;

/* The innermost executing frame of a thread, or NULL. */
rs_iframe *rs_py_thread_top_frame(PyThreadState *ts);

/* The caller of frame f (the next frame down the stack), or NULL. */
rs_iframe *rs_iframe_previous(rs_iframe *f);

/* 1 when f is a Python frame that has started running user code
 * (PyFrame_GetBack's notion); 0 for C-stack entry frames (3.12+). */
int rs_iframe_is_complete(rs_iframe *f);

/* 1 when f belongs to a generator/coroutine (which traverses it itself). */
int rs_iframe_owned_by_generator(rs_iframe *f);

/* 1 when f's stack top is saved (it waits on a Python call it made); a
 * generator's tp_traverse then visits the frame's slots, else none of them. */
int rs_iframe_stack_known(rs_iframe *f);

/* Borrowed pointers to the frame's code (NULL when it runs no code object),
 * function, f_locals, frame object. */
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

/* What a generator, coroutine or async generator holds besides its frame
 * (borrowed, any may be NULL): code (the frame's on 3.12+), __name__,
 * __qualname__, the exception it handles. */
typedef struct rs_generator_fields {
    PyObject *code, *name, *qualname, *exc_value;
} rs_generator_fields;
void rs_py_generator_fields(PyObject *gen, rs_generator_fields *out);

/* Inline attribute values of an instance whose type keeps them without a
 * __dict__ (managed dict with values, visited in slot order by
 * tp_traverse, not materialized as a dict).  Returns the number of slots
 * (0 when there are none) and sets *values; slots may hold NULL. */
Py_ssize_t rs_py_inline_attributes(PyObject *obj, PyObject ***values);

/* The attribute name of inline slot i of type's instances (borrowed), or NULL. */
PyObject *rs_py_inline_attribute_name(PyTypeObject *type, Py_ssize_t i);

/* An instance's __dict__ (managed or at tp_dictoffset; borrowed), or NULL
 * when it has none yet.  Does not materialize a dict. */
PyObject *rs_py_instance_dict(PyObject *obj);

/* Checks that the running interpreter is the version refscope was built
 * for, and learns the address of CPython's subtype_traverse (the
 * tp_traverse of classes defined in Python) from importlib's ModuleSpec.
 * 0, or -1 with ImportError set.  Called once at import. */
int rs_py_init(void);

/* 1 when type's tp_traverse is subtype_traverse (a class defined in Python). */
int rs_py_uses_subtype_traverse(PyTypeObject *type);

/* PyDict_Next over an exact dict, in its order, without reading the keys:
 * 3.11's PyDict_Next reads each key's hash, a cache miss per key for a
 * caller that may only want their addresses, or want them later. */
int rs_py_dict_next(PyObject *dict, Py_ssize_t *pos, PyObject **key, PyObject **value);

/* 1 when dict_traverse visits the dict's keys (keys not all str). */
int rs_py_dict_visits_keys(PyObject *dict);

/* What dict_traverse visits as the k-th referent of an exact dict, read
 * straight from its entries: possible when the dict is a combined table
 * without deleted entries (visit k is then entry k, or entry k/2's value
 * and key when keys are visited).  Returns 1 and sets *key (the entry's
 * key, borrowed) and *visited (the object visited: the value, or the key
 * when *is_key); 0 when the position is not known without a scan. */
int rs_py_dict_visit_at(PyObject *dict, size_t k, PyObject **key, PyObject **visited, int *is_key);

#endif

/* Why-alive paths (src/path.c): fixtures with known answers, each checked
 * for the exact expression str(s.path(obj)) and, where the steps matter,
 * the exact step labels; an object only C holds; an unreachable cycle.
 * Fixtures: tests/fixtures/paths.py and worker.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

/* One situation: `setup` (Python statements) builds it and leaves the
 * snapshot in `s` and the object asked about in `obj`; `expected` is the
 * exact expression, with %ld standing for the value of `line` (a Python
 * expression) when that is set; `steps`, when set, is every step's label
 * joined by "|". */
typedef struct path_case {
    const char *what;
    const char *setup;
    const char *expected;
    const char *line;
    const char *steps;
} path_case;

static const path_case path_cases[] = {
    {"module-level cache entry",
     "paths.module_cache()\ns = refscope.snapshot()\nobj = sys.modules['app'].cache['user:1']\n",
     "sys.modules['app'].cache['user:1']", NULL, "sys.modules['app']|.__dict__|['cache']|['user:1']"},
    {"attribute of a cache entry",
     "paths.module_cache()\ns = refscope.snapshot()\nobj = sys.modules['app'].cache['user:1'].target\n",
     "sys.modules['app'].cache['user:1'].target", NULL,
     "sys.modules['app']|.__dict__|['cache']|['user:1']|.target"},
    {"a module itself", "paths.module_cache()\ns = refscope.snapshot()\nobj = sys.modules['app']\n",
     "sys.modules['app']", NULL, "sys.modules['app']"},
    {"tree node in a parent<->child cycle",
     "paths.parent_child_tree()\ns = refscope.snapshot()\nobj = sys.modules['treeapp'].root.children[1]\n",
     "sys.modules['treeapp'].root.children[1]", NULL,
     "sys.modules['treeapp']|.__dict__|['root']|.children|[1]"},
    {"attribute of a grandchild tree node",
     "paths.parent_child_tree()\ns = refscope.snapshot()\n"
     "obj = sys.modules['treeapp'].root.children[1].children[0].target\n",
     "sys.modules['treeapp'].root.children[1].children[0].target", NULL, NULL},
    {"owner held by a tree node",
     "paths.parent_child_tree()\ns = refscope.snapshot()\nobj = s.instances(paths.Owner)[0]\n",
     "sys.modules['treeapp'].root.children[1].owner", NULL, NULL},
    {"value of a closure cell",
     "paths.closure_cell()\ns = refscope.snapshot()\nobj = s.instances(paths.Target)[0]\n",
     "sys.modules['closureapp'].handler <closure var 'value'>", NULL,
     "sys.modules['closureapp']|.__dict__|['handler']|.__closure__|<closure var 'value'>|.cell_contents"},
    {"dict value under a key whose __repr__ raises",
     "paths.hostile_key()\ns = refscope.snapshot()\nobj = s.instances(paths.Target)[0]\n",
     "sys.modules['badapp'].table[<repr failed: ValueError>]", NULL, NULL},
    {"object held only by a C reference",
     "paths.held_by_c()\ns = refscope.snapshot()\nobj = s.instances(paths.Orphan)[0]\n", "<held by C/interpreter>",
     NULL, "<held by C/interpreter>"},
    {"attribute of an object held only by C",
     "paths.held_by_c()\ns = refscope.snapshot()\nobj = s.instances(paths.Target)[0]\n",
     "<held by C/interpreter>.payload", NULL, "<held by C/interpreter>|.payload"},
    {"weak references are not on paths",
     "paths.held_by_c_and_weakref()\ns = refscope.snapshot()\nobj = sys.modules['weakapp'].ref()\n",
     "<held by C/interpreter>.payload", NULL, NULL},
    {"local of the frame taking the snapshot", "s, obj = paths.local_only()\n",
     "thread 'MainThread' frame local_only() paths.py:%ld <local 'target'>",
     "paths.line_of('local_only takes the snapshot here')", NULL},
    {"module root preferred over a nearer frame root", "s, obj = paths.local_and_module()\n",
     "sys.modules['app'].cache['user:1']", NULL, NULL},
    {"local of a sleeping thread",
     "w = worker.Worker('Worker')\ns = refscope.snapshot()\nobj = s.instances(worker.WorkerBuffer)[0]\n",
     "thread 'Worker' frame worker() worker.py:%ld <local 'buf'>", "worker.wait_line()",
     "thread 'Worker' frame worker() worker.py:%ld <local 'buf'>"},
    {"item of a sleeping thread's local",
     "w = worker.Worker('Worker')\ns = refscope.snapshot()\nobj = s.instances(worker.WorkerBuffer)[0][1]\n",
     "thread 'Worker' frame worker() worker.py:%ld <local 'buf'>[1]", "worker.wait_line()", NULL},
};

static void expand(char *buf, size_t size, const char *format, const path_case *c)
{
    if (c->line != NULL)
        snprintf(buf, size, format, rs_py_long(c->line));
    else
        snprintf(buf, size, "%s", format);
}

START_TEST(test_path_known_answers)
{
    /* Check whether each fixture's object gets exactly its expected path. */
    const path_case *c = &path_cases[_i];
    rs_py_run("import sys, refscope, fixtures.paths as paths, fixtures.worker as worker\n"
              "w = None\n");
    rs_py_run(c->setup);
    char expected[512];
    expand(expected, sizeof expected, c->expected, c);
    ck_assert_msg(rs_py_long("isinstance(s.path(obj), refscope.Path)") == 1, "%s: no path", c->what);
    const char *got = rs_py_str("s.path(obj).display()");
    ck_assert_msg(strcmp(got, expected) == 0, "%s: path is \"%s\", expected \"%s\"", c->what, got, expected);
    /* A module-rooted path also evaluates back to the object. */
    if (strncmp(expected, "sys.modules[", 12) == 0)
        ck_assert_msg(rs_py_long("eval(str(s.path(obj))) is obj") == 1, "%s: %s does not evaluate to the object",
                      c->what, rs_py_str("str(s.path(obj))"));
    ck_assert_msg(rs_py_long("s.path(obj)[-1][0] is obj") == 1, "%s: the last step is not the object", c->what);
    if (c->steps != NULL) {
        expand(expected, sizeof expected, c->steps, c);
        got = rs_py_str("'|'.join(label for holder, label in s.path(obj))");
        ck_assert_msg(strcmp(got, expected) == 0, "%s: steps are \"%s\", expected \"%s\"", c->what, got, expected);
    }
    rs_py_run("s.close()\n"
              "paths.release_c_references()\n"
              "if w is not None:\n"
              "    w.stop()\n");
}
END_TEST

START_TEST(test_path_held_by_c_reference)
{
    /* Check whether an object only C holds is its own root with one unexplained reference. */
    rs_py_run("import ctypes, gc, weakref, refscope, fixtures.paths as paths\n"
              "paths.held_by_c()\n"
              "s = refscope.snapshot()\n"
              "orphan = s.instances(paths.Orphan)[0]\n"
              "alive = weakref.ref(orphan)\n"
              "p = s.path(orphan)\n"
              "result = (str(p), len(p), s.unexplained(orphan), s.refcount(orphan),\n"
              "          s.unexplained(orphan.payload), s.refcount(orphan.payload))\n"
              "del orphan, p\n"
              "s.close()\n"
              "paths.release_c_references()\n");
    ck_assert_str_eq(rs_py_str("result[0]"), "<held by C/interpreter>");
    ck_assert_int_eq(rs_py_long("result[1]"), 1);
    ck_assert_int_eq(rs_py_long("result[2]"), 1);
    ck_assert_int_eq(rs_py_long("result[3]"), 1);
    ck_assert_int_eq(rs_py_long("result[4]"), 0);
    ck_assert_int_eq(rs_py_long("result[5]"), 1);
    ck_assert_int_eq(rs_py_long("alive() is None"), 1);
}
END_TEST

START_TEST(test_path_unreachable_island_is_none)
{
    /* Check whether members of a cycle no root reaches have no path and are collected later. */
    rs_py_run("import gc, weakref, refscope, fixtures.paths as paths\n"
              "gc_was_enabled = gc.isenabled()\n"
              "gc.disable()\n"
              "paths.island()\n"
              "s = refscope.snapshot()\n"
              "members = s.instances(paths.Island)\n"
              "paths_of = [s.path(m) for m in members]\n"
              "unexplained = [s.unexplained(m) for m in members]\n"
              "refcounts = [s.refcount(m) for m in members]\n"
              "alive = [weakref.ref(m) for m in members]\n"
              "del members\n"
              "s.close()\n"
              "gc.enable()\n"
              "collected = gc.collect()\n"
              "if not gc_was_enabled:\n"
              "    gc.disable()\n");
    ck_assert_int_eq(rs_py_long("len(paths_of)"), 2);
    ck_assert_str_eq(rs_py_str("paths_of"), "[None, None]");
    ck_assert_str_eq(rs_py_str("unexplained"), "[0, 0]");
    ck_assert_str_eq(rs_py_str("refcounts"), "[1, 1]");
    ck_assert_str_eq(rs_py_str("[ref() for ref in alive]"), "[None, None]");
}
END_TEST

typedef struct python_case {
    const char *what;
    const char *obj;      /* the object, as the test reaches it */
    const char *expected; /* str(path) */
} python_case;

static const python_case python_cases[] = {
    {"a key longer than the screen shows", "list(app.long_keys.values())[0]",
     "sys.modules['pyapp'].long_keys['kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk']"},
    {"a value under a key whose repr does not read back", "list(app.odd_keys.values())[0]",
     "list(sys.modules['pyapp'].odd_keys.values())[0]"},
    {"an object that is a dict key", "list(app.by_key)[0]", "list(sys.modules['pyapp'].by_key)[0]"},
    {"a set member", "list(app.members)[0]", "list(sys.modules['pyapp'].members)[0]"},
    {"an entry shadowed by a property", "app.shadowed.__dict__['value']",
     "sys.modules['pyapp'].shadowed.__dict__['value']"},
    {"a staticmethod in a class", "app.WithMethods.__dict__['helper']",
     "sys.modules['pyapp'].WithMethods.__dict__['helper']"},
    {"a classmethod's function", "app.WithMethods.__dict__['make'].__func__",
     "sys.modules['pyapp'].WithMethods.__dict__['make'].__func__"},
    {"a closure cell's value", "app.handler.__closure__[0].cell_contents",
     "sys.modules['pyapp'].handler.__closure__[0].cell_contents"},
    {"a class's own namespace dict", "gc.get_referents(app.WithMethods.__dict__)[0]",
     "__import__('gc').get_referents(sys.modules['pyapp'].WithMethods.__dict__)[0]"},
};

START_TEST(test_path_python_steps)
{
    /* Check whether str(path) writes each kind of step as Python that
     * evaluates back to the object, while display() keeps the short form. */
    const python_case *c = &python_cases[_i];
    rs_py_run("import gc, sys, refscope, fixtures.paths as paths\n"
              "paths.python_steps()\n"
              "app = sys.modules['pyapp']\n"
              "s = refscope.snapshot()\n");
    char code[512];
    snprintf(code, sizeof code, "obj = %s\np = s.path(obj)\n", c->obj);
    rs_py_run(code);
    const char *got = rs_py_str("str(p)");
    ck_assert_msg(strcmp(got, c->expected) == 0, "%s: str(path) is \"%s\", expected \"%s\"", c->what, got,
                  c->expected);
    ck_assert_msg(rs_py_long("eval(str(p)) is obj") == 1, "%s: does not evaluate to the object", c->what);
    ck_assert_msg(rs_py_long("p.display().startswith(\"sys.modules['pyapp']\") and p.expression == str(p)") == 1,
                  "%s: display() is %s", c->what, rs_py_str("p.display()"));
    rs_py_run("del obj, p\ns.close()\n");
}
END_TEST

START_TEST(test_path_evaluates_on_stdlib_heap)
{
    /* Check whether eval(str(path)) gives back the object for at least 99%
     * of 2000 random objects with a module-rooted path, on a heap with a
     * large part of the standard library imported. */
    rs_py_run("import refscope, fixtures.paths as paths\n"
              "evaluated, tried, failures = paths.evaluable_share(14)\n");
    ck_assert_int_eq(rs_py_long("tried"), 2000);
    ck_assert_msg(rs_py_long("evaluated * 100 >= 99 * tried") == 1, "%ld of 2000 evaluate; e.g. %s",
                  rs_py_long("evaluated"), rs_py_str("failures"));
}
END_TEST

Suite *suite_path(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("path");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_path_known_answers, 0, (int)(sizeof path_cases / sizeof path_cases[0]));
    tcase_add_test(tc, test_path_held_by_c_reference);
    tcase_add_test(tc, test_path_unreachable_island_is_none);
    tcase_add_loop_test(tc, test_path_python_steps, 0, (int)(sizeof python_cases / sizeof python_cases[0]));
    tcase_add_test(tc, test_path_evaluates_on_stdlib_heap);
    suite_add_tcase(s, tc);
    return s;
}

/* The Python API (src/module.c): references released on close, refcounts
 * without the snapshot's own, automatic gc restored, collect= as a 'p'
 * argument, the census, and every user mistake turned into refscope.Error
 * or TypeError with a message that says what to do.
 * Fixtures: tests/fixtures/api_heap.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_fixtures(void)
{
    rs_py_run("import gc, sys, refscope, fixtures.api_heap as api\n"
              "def error_of(fn, *args):\n"
              "    try:\n"
              "        fn(*args)\n"
              "    except Exception as e:\n"
              "        return '%s: %s' % (type(e).__qualname__ if type(e) is not refscope.Error\n"
              "                           else 'refscope.Error', e)\n"
              "    return 'no error'\n");
}

/* Ways to let go of a snapshot. */
static const char *const close_ways[] = {"api.close_method", "api.close_with", "api.close_by_del"};

START_TEST(test_api_close_restores_refcounts)
{
    /* Check whether releasing a snapshot gives back every refcount and the gc object count exactly. */
    import_fixtures();
    char code[256];
    snprintf(code, sizeof code, "before, during, after, count_before, count_after = api.refcounts_around(%s)\n",
             close_ways[_i]);
    rs_py_run(code);
    ck_assert_int_eq(rs_py_long("len(before)"), 10);
    ck_assert_str_eq(rs_py_str("[d - b for b, d in zip(before, during)]"), "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]");
    ck_assert_str_eq(rs_py_str("after == before"), "True");
    ck_assert_int_eq(rs_py_long("sum(after)"), rs_py_long("sum(before)"));
    ck_assert_int_eq(rs_py_long("count_after"), rs_py_long("count_before"));
}
END_TEST

START_TEST(test_api_refcount_without_own_reference)
{
    /* Check whether s.refcount(o) is o's refcount at snapshot time without the snapshot's own. */
    import_fixtures();
    rs_py_run("refcount, unexplained, before, during, after, _, _ = api.own_refcount()\n");
    /* A local, two list items and a dict value: 4 references. */
    ck_assert_int_eq(rs_py_long("refcount"), 4);
    ck_assert_int_eq(rs_py_long("before"), 5);
    ck_assert_int_eq(rs_py_long("during"), 6);
    ck_assert_int_eq(rs_py_long("after"), 5);
    ck_assert_int_eq(rs_py_long("refcount"), rs_py_long("before - 1"));
    ck_assert_int_eq(rs_py_long("refcount"), rs_py_long("during - 2"));
    /* All four are accounted for: three edges and one frame-local root. */
    ck_assert_int_eq(rs_py_long("unexplained"), 0);
}
END_TEST

/* snapshot(collect=...) cases: automatic gc on/off before, the argument, and
 * whether a collection must have run ('p' semantics: truth value). */
static const struct {
    int gc_enabled;
    const char *collect;
    int collects;
} collect_cases[] = {
    {1, "False", 0}, {0, "False", 0}, {1, "True", 1}, {0, "True", 1},
    {1, "'x'", 1},   {0, "'x'", 1},   {1, "''", 0},   {1, "0", 0},
    {1, "1", 1},     {1, "[]", 0},    {1, "[0]", 1},  {1, "None", 0},
};

START_TEST(test_api_collect_argument)
{
    /* Check whether snapshot(collect=x) collects exactly when x is true, with gc on or off. */
    import_fixtures();
    char code[256];
    snprintf(code, sizeof code, "collected, in_snapshot, enabled_after = api.collect_effect(%s, %s)\n",
             collect_cases[_i].collect, collect_cases[_i].gc_enabled ? "True" : "False");
    rs_py_run(code);
    ck_assert_msg(rs_py_long("collected") == collect_cases[_i].collects,
                  "snapshot(collect=%s) with gc %s: collected = %ld", collect_cases[_i].collect,
                  collect_cases[_i].gc_enabled ? "enabled" : "disabled", rs_py_long("collected"));
    /* Not collected: the cycle is in the snapshot. */
    ck_assert_int_eq(rs_py_long("in_snapshot"), !collect_cases[_i].collects);
    ck_assert_int_eq(rs_py_long("enabled_after"), collect_cases[_i].gc_enabled);
}
END_TEST

START_TEST(test_api_collect_argument_errors)
{
    /* Check whether collect= fails as a 'p' argument does and extra arguments are TypeErrors. */
    import_fixtures();
    rs_py_run("gc.enable()\n");
    ck_assert_str_eq(rs_py_str("error_of(refscope.snapshot, api.BoolRaises())"), "ZeroDivisionError: no truth value");
    ck_assert_int_eq(rs_py_long("gc.isenabled()"), 1);
    ck_assert_str_eq(rs_py_str("error_of(lambda: refscope.snapshot(collect=api.BoolRaises()))"),
                     "ZeroDivisionError: no truth value");
    ck_assert_str_eq(rs_py_str("error_of(refscope.snapshot, True, 2)"),
                     "TypeError: snapshot() takes at most 1 argument (2 given)");
    /* The wording is CPython's argument parser's, which changed in 3.13. */
    rs_py_run("bogus_error = error_of(lambda: refscope.snapshot(bogus=1))\n");
    ck_assert_str_eq(rs_py_str("bogus_error.startswith('TypeError: ') and \"'bogus'\" in bogus_error and "
                               "'snapshot()' in bogus_error"),
                     "True");
}
END_TEST

START_TEST(test_api_gc_state_restored)
{
    /* Check whether automatic gc is enabled after a snapshot exactly when it was before. */
    import_fixtures();
    rs_py_run("states = []\n"
              "for enabled in (True, False, True, False):\n"
              "    gc.enable() if enabled else gc.disable()\n"
              "    s = refscope.snapshot()\n"
              "    states.append(gc.isenabled())\n"
              "    s.close()\n"
              "    states.append(gc.isenabled())\n"
              "gc.enable()\n");
    ck_assert_str_eq(rs_py_str("states"), "[True, True, False, False, True, True, False, False]");
}
END_TEST

/* Methods taking an object, called with one created after the snapshot. */
static const char *const object_methods[] = {"referents", "referrers", "path", "unexplained", "refcount", "size"};

START_TEST(test_api_object_not_in_snapshot)
{
    /* Check whether an object newer than the snapshot raises refscope.Error saying what to do. */
    import_fixtures();
    char expr[256];
    rs_py_run("s = refscope.snapshot()\n"
              "newer = api.Sample(1)\n");
    snprintf(expr, sizeof expr, "error_of(s.%s, newer)", object_methods[_i]);
    char expected[256];
    snprintf(expected, sizeof expected,
             "refscope.Error: Sample object at %s is not in this snapshot (created after it was taken, or "
             "refscope's own); take a new one with refscope.snapshot()",
             rs_py_str("'%#x' % id(newer)"));
    ck_assert_str_eq(rs_py_str(expr), expected);
    ck_assert_int_eq(rs_py_long("s.contains(newer)"), 0);
    ck_assert_int_eq(rs_py_long("newer in s"), 0);
}
END_TEST

/* Bad arguments to instances() and the other methods. */
static const struct {
    const char *expr;
    const char *expected;
} bad_arguments[] = {
    {"error_of(s.instances, 'NoSuchType')",
     "refscope.Error: no objects of type 'NoSuchType' in this snapshot; s.census() lists the types present"},
    {"error_of(s.instances, api.Island)",
     "refscope.Error: no objects of type 'fixtures.api_heap.Island' in this snapshot; s.census() lists the types "
     "present"},
    {"error_of(s.instances, 'Dup')",
     "refscope.Error: type name 'Dup' is ambiguous here; give it with its module, e.g. 'app.Dup'"},
    {"error_of(s.instances, 42)", "TypeError: expected a type or a type name such as 'dict' or 'app.Node', not int"},
    {"error_of(s.instances, b'dict')",
     "TypeError: expected a type or a type name such as 'dict' or 'app.Node', not bytes"},
    {"error_of(s.instances)", "TypeError: Snapshot.instances() takes exactly one argument (0 given)"},
    {"error_of(s.referents)", "TypeError: Snapshot.referents() takes exactly one argument (0 given)"},
    {"error_of(s.path, 1, 2)", "TypeError: Snapshot.path() takes exactly one argument (2 given)"},
    {"error_of(s.census, 1)", "TypeError: Snapshot.census() takes no arguments (1 given)"},
};

START_TEST(test_api_bad_arguments)
{
    /* Check whether bad type names raise refscope.Error and bad argument types TypeError. */
    import_fixtures();
    rs_py_run("Dup1 = type('Dup', (), {'__module__': 'one'})\n"
              "Dup2 = type('Dup', (), {'__module__': 'two'})\n"
              "dups = [Dup1(), Dup2()]\n"
              "s = refscope.snapshot()\n");
    ck_assert_str_eq(rs_py_str(bad_arguments[_i].expr), bad_arguments[_i].expected);
}
END_TEST

/* Everything a closed snapshot must refuse. */
static const char *const after_close[] = {
    "len(s)",           "s.edge_count",          "s.seconds",        "s.memory",
    "s.census()",       "s.instances('dict')",   "s.referents(sys)", "s.referrers(sys)",
    "s.path(sys)",      "s.unexplained(sys)",    "s.refcount(sys)",  "s.size(sys)",
    "s.contains(sys)",  "sys in s",              "s.objects()",      "s.__enter__()",
};

START_TEST(test_api_use_after_close)
{
    /* Check whether every use of a closed snapshot raises refscope.Error and close() repeats. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n"
              "s.close()\n"
              "second_close = s.close()\n");
    char expr[256];
    snprintf(expr, sizeof expr, "error_of(lambda: %s)", after_close[_i]);
    ck_assert_str_eq(rs_py_str(expr),
                     "refscope.Error: this snapshot is closed; take a new one with refscope.snapshot()");
    ck_assert_str_eq(rs_py_str("second_close"), "None");
    ck_assert_str_eq(rs_py_str("repr(s)"), "<refscope.Snapshot closed>");
}
END_TEST

START_TEST(test_api_context_manager)
{
    /* Check whether `with refscope.snapshot() as s` yields s and closes it, also on an exception. */
    import_fixtures();
    rs_py_run("snap = refscope.snapshot()\n"
              "with snap as s:\n"
              "    same = s is snap\n"
              "    size_inside = len(s)\n"
              "closed_after = error_of(len, s)\n"
              "try:\n"
              "    with refscope.snapshot() as s2:\n"
              "        raise KeyError('inside')\n"
              "except KeyError as e:\n"
              "    escaped = repr(e)\n"
              "closed_after_error = error_of(len, s2)\n");
    ck_assert_int_eq(rs_py_long("same"), 1);
    ck_assert_int_gt(rs_py_long("size_inside"), 1000);
    ck_assert_str_eq(rs_py_str("closed_after"),
                     "refscope.Error: this snapshot is closed; take a new one with refscope.snapshot()");
    ck_assert_str_eq(rs_py_str("escaped"), "KeyError('inside')");
    ck_assert_str_eq(rs_py_str("closed_after_error"),
                     "refscope.Error: this snapshot is closed; take a new one with refscope.snapshot()");
}
END_TEST

START_TEST(test_api_census_and_instances)
{
    /* Check whether a class's census row counts its instances and sums their sys.getsizeof. */
    import_fixtures();
    rs_py_run("items = api.census_items(7)\n"
              "s = refscope.snapshot()\n"
              "rows = [row for row in s.census() if row[0] == 'fixtures.api_heap.CensusItem']\n"
              "ids = sorted(map(id, items))\n"
              "sizes = [row[2] for row in s.census()]\n");
    ck_assert_int_eq(rs_py_long("len(rows)"), 1);
    ck_assert_int_eq(rs_py_long("rows[0][1]"), 7);
    ck_assert_int_eq(rs_py_long("rows[0][2]"), rs_py_long("sum(map(sys.getsizeof, items))"));
    /* Sizes differ between items, so the sum is not a multiple by chance. */
    ck_assert_int_eq(rs_py_long("len(set(map(sys.getsizeof, items)))"), 7);
    ck_assert_int_eq(rs_py_long("sorted(map(id, s.instances(api.CensusItem))) == ids"), 1);
    ck_assert_int_eq(rs_py_long("sorted(map(id, s.instances('fixtures.api_heap.CensusItem'))) == ids"), 1);
    ck_assert_int_eq(rs_py_long("sorted(map(id, s.instances('CensusItem'))) == ids"), 1);
    /* Biggest total size first. */
    ck_assert_int_eq(rs_py_long("sizes == sorted(sizes, reverse=True)"), 1);
    ck_assert_int_eq(rs_py_long("sum(row[1] for row in s.census())"), rs_py_long("len(s)"));
}
END_TEST

START_TEST(test_api_snapshot_figures)
{
    /* Check whether len(), edge_count, seconds and repr() describe the snapshot. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n"
              "objs = s.objects()\n"
              "edges = sum(len(s.referents(o)) for o in objs)\n");
    ck_assert_int_eq(rs_py_long("len(objs)"), rs_py_long("len(s)"));
    ck_assert_int_eq(rs_py_long("s.edge_count"), rs_py_long("edges"));
    ck_assert_int_eq(rs_py_long("0 < s.seconds < 10"), 1);
    ck_assert_int_eq(rs_py_long("isinstance(s.seconds, float)"), 1);
    ck_assert_int_gt(rs_py_long("s.memory"), 0);
    ck_assert_str_eq(rs_py_str("repr(s)"), rs_py_str("'<refscope.Snapshot %d objects, %d edges>' % (len(s), edges)"));
}
END_TEST

Suite *suite_api(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_api_close_restores_refcounts, 0,
                        (int)(sizeof close_ways / sizeof close_ways[0]));
    tcase_add_test(tc, test_api_refcount_without_own_reference);
    tcase_add_loop_test(tc, test_api_collect_argument, 0, (int)(sizeof collect_cases / sizeof collect_cases[0]));
    tcase_add_test(tc, test_api_collect_argument_errors);
    tcase_add_test(tc, test_api_gc_state_restored);
    tcase_add_loop_test(tc, test_api_object_not_in_snapshot, 0,
                        (int)(sizeof object_methods / sizeof object_methods[0]));
    tcase_add_loop_test(tc, test_api_bad_arguments, 0, (int)(sizeof bad_arguments / sizeof bad_arguments[0]));
    tcase_add_loop_test(tc, test_api_use_after_close, 0, (int)(sizeof after_close / sizeof after_close[0]));
    tcase_add_test(tc, test_api_context_manager);
    tcase_add_test(tc, test_api_census_and_instances);
    tcase_add_test(tc, test_api_snapshot_figures);
    suite_add_tcase(s, tc);
    return s;
}

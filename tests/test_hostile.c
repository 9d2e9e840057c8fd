/* Hostile use of the API (issue 10): counts of 2**62, a snapshot closed by
 * Python code running inside one of its own methods, objects holding
 * refscope's own objects, names with lone surrogates and NULs, refscope.Path
 * built by hand, and Snapshot.memory after the analyses ran.
 * Fixtures: tests/hostile/closers.py, holders.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_hostile(void)
{
    rs_py_run("import gc, io, json, sys, refscope\n"
              "import hostile.closers, hostile.holders\n"
              "def error_of(fn, *args, **kwargs):\n"
              "    try:\n"
              "        fn(*args, **kwargs)\n"
              "    except refscope.Error:\n"
              "        return 'refscope.Error'\n"
              "    except Exception as e:\n"
              "        return type(e).__name__\n"
              "    return 'no error'\n");
}

/* One checked expression: `actual` must equal `expected` (both Python). */
typedef struct expr_case {
    const char *what;
    const char *actual;
    const char *expected;
} expr_case;

/* Fails the test unless c's two expressions are equal. */
static void assert_expr_case(const expr_case *c)
{
    char expr[512];
    snprintf(expr, sizeof expr, "(%s) == (%s)", c->actual, c->expected);
    if (rs_py_long(expr) != 1)
        ck_abort_msg("%s: %s is %s, not %s", c->what, c->actual, rs_py_str(c->actual), c->expected);
}

/* Calls with a count far beyond the heap: each expression is compared with
 * what the heap really has. */
static const expr_case count_cases[] = {
    {"largest(n=2**62) lists every str", "len(s.largest('str', n=2**62))", "len(s.instances('str'))"},
    {"largest(n=2**62) biggest first", "[z for o, z in s.largest('str', n=2**62)]",
     "sorted((sys.getsizeof(o) for o in s.instances('str')), reverse=True)"},
    {"largest(n=100) past the insertion bound, biggest first", "[z for o, z in s.largest('str', n=100)]",
     "sorted((sys.getsizeof(o) for o in s.instances('str')), reverse=True)[:100]"},
    {"largest(n=-1)", "error_of(s.largest, 'str', n=-1)", "'ValueError'"},
    {"largest(n=2**64) does not fit", "error_of(s.largest, 'str', n=2**64)", "'OverflowError'"},
    {"report(top=2**62) text", "len(refscope.report(top=2**62, snapshot=s)) > 0", "True"},
    {"report(top=2**62) json lists every cycle",
     "len(json.loads(refscope.report(top=2**62, snapshot=s, format='json'))['cycles']['top'])", "len(s.cycles())"},
    {"report(top=-5)", "error_of(refscope.report, top=-5, snapshot=s)", "'ValueError'"},
    {"to_dot(max_nodes=2**62)", "to_dot_nodes(max_nodes=2**62) == to_dot_nodes(max_nodes=10**9)", "True"},
};

START_TEST(test_hostile_huge_counts)
{
    /* Check whether counts of 2**62 (and negative ones) give every row there is, or a clean error. */
    import_hostile();
    rs_py_run("s = refscope.snapshot()\n"
              "def to_dot_nodes(**kwargs):\n"
              "    f = io.StringIO()\n"
              "    s.to_dot(f, hostile.holders, depth=2, **kwargs)\n"
              "    return f.getvalue().count('[label=')\n");
    assert_expr_case(&count_cases[_i]);
    rs_py_run("s.close()\n");
}
END_TEST

static const char *const entry_points[] = {"to_json", "referents", "referrers", "path", "to_dot", "report"};

START_TEST(test_hostile_close_during_use)
{
    /* Check whether close() from code run inside a Snapshot method lets it answer, then closes the snapshot. */
    import_hostile();
    char code[128];
    snprintf(code, sizeof code, "ok, closed = hostile.closers.run('%s')\n", entry_points[_i]);
    rs_py_run(code);
    ck_assert_msg(rs_py_long("ok") == 1, "%s gave a wrong answer after close()", entry_points[_i]);
    ck_assert_msg(rs_py_long("closed") == 1, "%s: the snapshot is not closed afterwards", entry_points[_i]);
}
END_TEST

START_TEST(test_hostile_close_nested)
{
    /* Check whether a close() deferred by a nested method call waits for the outermost call. */
    import_hostile();
    rs_py_run("s = refscope.snapshot()\n"
              "target = hostile.closers.Target()\n"
              "seen = []\n"
              "class Inner:\n"
              "    def __repr__(self):\n"
              "        if not seen:\n"
              "            s.close()\n"
              "            seen.append(repr(s))\n"
              "        return 'Inner()'\n"
              "class Outer:\n"
              "    def __repr__(self):\n"
              "        if not seen:\n"
              "            seen.append(len(s.referents(inner_holder)))\n"
              "            seen.append(error_of(s.census))\n"
              "        return 'Outer()'\n"
              "inner_holder = {Inner(): 1}\n"
              "outer_holder = {Outer(): target}\n"
              "del s\n"
              "s = refscope.snapshot()\n"
              "labels = [l for o, l in s.referents(outer_holder) if o is target]\n");
    /* The inner call ran to its end, the close() made later calls fail. */
    ck_assert_str_eq(rs_py_str("seen"), "['<refscope.Snapshot closed>', 2, 'refscope.Error']");
    ck_assert_str_eq(rs_py_str("labels"), "['[Outer()]']");
    ck_assert_str_eq(rs_py_str("error_of(s.census)"), "refscope.Error");
}
END_TEST

START_TEST(test_hostile_referents_of_snapshot_holder)
{
    /* Check whether an object holding a Snapshot lists it among its referents, as gc.get_referents does. */
    import_hostile();
    rs_py_run("held, inst, s = hostile.holders.snapshot_holder()\n"
              "def same(holder):\n"
              "    mine = sorted(id(o) for o, label in s.referents(holder))\n"
              "    return mine == sorted(id(o) for o in gc.get_referents(holder))\n");
    ck_assert_int_eq(rs_py_long("same(held)"), 1);
    ck_assert_int_eq(rs_py_long("same(inst)"), 1);
    ck_assert_str_eq(rs_py_str("[l for o, l in s.referents(held) if o is held[0]]"), "['[0]']");
    /* refscope's own objects still never show up as holders. */
    ck_assert_int_eq(rs_py_long("any(o is s for o, l in s.referrers(held))"), 0);
    rs_py_run("s.close()\nheld[0].close()\n");
}
END_TEST

START_TEST(test_hostile_referents_of_dropped_snapshot)
{
    /* Check whether a Snapshot that its holder dropped after the walk (so it died) is left out, never read. */
    import_hostile();
    rs_py_run("held, s = hostile.holders.dropped_snapshot_holder()\n"
              "objects = [o for o, label in s.referents(held)]\n"
              "labels = [label for o, label in s.referents(held)]\n");
    ck_assert_str_eq(rs_py_str("objects"), "['y']");
    ck_assert_str_eq(rs_py_str("labels"), "['[1]']");
    rs_py_run("s.close()\n");
}
END_TEST

START_TEST(test_hostile_json_edge_count)
{
    /* Check whether the JSON export's edge count equals the edges its referents arrays hold. */
    import_hostile();
    rs_py_run("held, inst, s = hostile.holders.snapshot_holder()\n"
              "f = io.StringIO()\n"
              "s.to_json(f)\n"
              "data = json.loads(f.getvalue())\n");
    ck_assert_int_eq(rs_py_long("data['edges']"), rs_py_long("sum(len(r) for r in data['referents'])"));
    ck_assert_int_eq(rs_py_long("data['objects']"), rs_py_long("len(data['referents'])"));
    rs_py_run("s.close()\nheld[0].close()\n");
}
END_TEST

/* Names that cannot be encoded or that a C string would cut short. */
static const expr_case name_cases[] = {
    {"instances() of a lone surrogate", "error_of(s.instances, '\\udc80')", "'refscope.Error'"},
    {"instances() of 'dict\\x00x' is not dict", "error_of(s.instances, 'dict\\x00x')", "'refscope.Error'"},
    {"instances() of 'dict' still works", "error_of(s.instances, 'dict')", "'no error'"},
    {"to_dot with a surrogate label", "error_of(s.to_dot, io.StringIO(), odd, depth=1)", "'no error'"},
    {"to_dot writes the whole graph", "dot_text().rstrip().endswith('}')", "True"},
    {"to_dot shows the surrogate escaped", "'udc80' in dot_text()", "True"},
    {"to_dot to a path", "to_path()", "True"},
    {"refscope.Path() is refused", "error_of(refscope.Path)", "'TypeError'"},
    {"refscope.Path([1]) is refused", "error_of(refscope.Path, [1])", "'TypeError'"},
    {"a real Path's str", "str(s.path(odd)).startswith('sys.modules')", "True"},
};

START_TEST(test_hostile_names)
{
    /* Check whether lone surrogates, NULs and a hand-made Path give answers or clean errors, never a codec error. */
    import_hostile();
    rs_py_run("import tempfile, os\n"
              "hostile.holders.ODD = odd = hostile.holders.surrogate_holder()\n"
              "s = refscope.snapshot()\n"
              "def dot_text():\n"
              "    f = io.StringIO()\n"
              "    s.to_dot(f, odd, depth=1)\n"
              "    return f.getvalue()\n"
              "def to_path():\n"
              "    with tempfile.TemporaryDirectory() as d:\n"
              "        p = os.path.join(d, 'g.dot')\n"
              "        s.to_dot(p, odd, depth=1)\n"
              "        with open(p) as f:\n"
              "            return f.read() == dot_text()\n");
    assert_expr_case(&name_cases[_i]);
    rs_py_run("s.close()\n");
}
END_TEST

START_TEST(test_hostile_memory_counts_analyses)
{
    /* Check whether Snapshot.memory grows by what the analyses allocate (dominators: 20 bytes a node at least). */
    import_hostile();
    rs_py_run("s = refscope.snapshot()\n"
              "before = s.memory\n"
              "s.census()\n"
              "s.cycles()\n"
              "s.path(hostile.closers.HOLDER)\n"
              "after = s.memory\n");
    ck_assert_int_ge(rs_py_long("after - before"), rs_py_long("20 * len(s)"));
    rs_py_run("s.close()\n");
}
END_TEST

Suite *suite_hostile(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_hostile_huge_counts, 0, (int)(sizeof count_cases / sizeof count_cases[0]));
    tcase_add_loop_test(tc, test_hostile_close_during_use, 0, (int)(sizeof entry_points / sizeof entry_points[0]));
    tcase_add_test(tc, test_hostile_close_nested);
    tcase_add_test(tc, test_hostile_referents_of_snapshot_holder);
    tcase_add_test(tc, test_hostile_referents_of_dropped_snapshot);
    tcase_add_test(tc, test_hostile_json_edge_count);
    tcase_add_loop_test(tc, test_hostile_names, 0, (int)(sizeof name_cases / sizeof name_cases[0]));
    tcase_add_test(tc, test_hostile_memory_counts_analyses);
    suite_add_tcase(s, tc);
    return s;
}

/* The heap walk (src/walk.c, src/roots.c) against CPython's own answers:
 * node by node on a real heap (the stdlib imported, a generated leaky heap,
 * a second thread blocked with locals), plus the parts of the snapshot
 * contract gc has no answer for: untracked objects, executing frames,
 * refscope's own objects, and no Python code run by the walk.
 * Fixtures: tests/fixtures/leaky_heap.py, worker.py, differential.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

/* Counts of differential.compare() that must be zero. */
static const char *const must_be_zero[] = {
    "gc_objects_missing",        /* an object of gc.get_objects() is not a node */
    "referents_differ",          /* referents(x) != gc.get_referents(x) as multisets */
    "referrers_missing",         /* a referrer gc finds is not among referrers(x) */
    "referrers_extra_tracked",   /* an extra referrer that gc tracks (so gc would see it) */
    "referrers_extra_not_edges", /* an extra referrer whose tp_traverse does not visit x */
    "referrers_not_reverse",     /* referrers(x) is not the reverse of the referents lists */
    "sampled_get_referrers_differ", /* gc.get_referrers disagrees with the index built from gc */
    "sizes_differ",              /* size(x) != sys.getsizeof(x) */
    "sizes_python",              /* no Python __sizeof__ in this heap: every size compared */
};

/* Node kinds the fixture heap contributes, with the least count expected. */
static const struct {
    const char *kind;
    long at_least;
} fixture_kinds[] = {
    {"Record", 500},       /* instances with inline attributes or a __dict__ */
    {"Point", 500},        /* instances with __slots__ */
    {"TreeNode", 350},     /* parent <-> child cycles */
    {"Key", 500},          /* non-str dict keys */
    {"method", 167},       /* bound methods */
    {"cell", 334},         /* closure cells */
    {"generator", 50},     /* suspended generators */
    {"frozenset", 500},
    {"set", 500},
    {"WorkerBuffer", 1},   /* held only by the blocked thread's local */
    {"module", 80},
    {"untracked container", 1000}, /* dicts/tuples gc does not track */
};

START_TEST(test_walk_matches_gc_on_real_heap)
{
    /* Check whether every node agrees with gc and sys.getsizeof on a real heap with a blocked thread. */
    rs_py_run("import sys\n"
              "import fixtures.leaky_heap as heap, fixtures.worker as worker\n"
              "import fixtures.differential as differential\n"
              "imported = heap.import_stdlib()\n"
              "heap.build(500)\n"
              "w = worker.Worker('Worker')\n"
              "r = differential.compare()\n"
              "w.stop()\n"
              "report = '\\n'.join(r['report'])\n");
    ck_assert_int_ge(rs_py_long("imported"), 60);
    /* The fixture materializes instance dicts: on 3.13 those are the
     * documented deviation from gc.get_referents, and must be there. */
    ck_assert_str_eq(rs_py_str("r['embedded_dicts'] > 0 if sys.version_info >= (3, 13) else r['embedded_dicts'] == 0"),
                     "True");
    for (size_t i = 0; i < sizeof must_be_zero / sizeof must_be_zero[0]; i++) {
        char expr[128];
        snprintf(expr, sizeof expr, "r['%s']", must_be_zero[i]);
        long value = rs_py_long(expr);
        ck_assert_msg(value == 0, "%s = %ld; first mismatches:\n%s", must_be_zero[i], value, rs_py_str("report"));
    }
    /* compare() mutates no node: it has no cells (see differential.py). */
    ck_assert_int_eq(rs_py_long("len(differential.compare.__code__.co_cellvars)"), 0);
    long nodes = rs_py_long("r['nodes']");
    ck_assert_int_ge(nodes, 50000);
    ck_assert_int_eq(rs_py_long("r['len']"), nodes);
    ck_assert_int_gt(nodes, rs_py_long("r['gc_objects']"));
    ck_assert_int_eq(rs_py_long("r['referent_edges']"), rs_py_long("r['edges']"));
    ck_assert_int_eq(rs_py_long("r['sizes_compared']"), nodes);
    ck_assert_int_ge(rs_py_long("r['sampled_get_referrers']"), 150);
    /* The extra referrers are real: untracked containers do hold things. */
    ck_assert_int_gt(rs_py_long("r['untracked_referrers']"), 0);
    for (size_t i = 0; i < sizeof fixture_kinds / sizeof fixture_kinds[0]; i++) {
        char expr[128];
        snprintf(expr, sizeof expr, "r['kinds'].get('%s', 0)", fixture_kinds[i].kind);
        long count = rs_py_long(expr);
        ck_assert_msg(count >= fixture_kinds[i].at_least, "%ld %s nodes, expected at least %ld", count,
                      fixture_kinds[i].kind, fixture_kinds[i].at_least);
    }
}
END_TEST

START_TEST(test_walk_each_object_once)
{
    /* Check whether len(s) counts every node once and objects() lists each object exactly once. */
    rs_py_run("import refscope\n"
              "s = refscope.snapshot()\n"
              "objs = s.objects()\n"
              "distinct = len(set(map(id, objs)))\n");
    long n = rs_py_long("len(s)");
    ck_assert_int_gt(n, 1000);
    ck_assert_int_eq(rs_py_long("len(objs)"), n);
    ck_assert_int_eq(rs_py_long("distinct"), n);
}
END_TEST

START_TEST(test_walk_untracked_objects_are_nodes)
{
    /* Check whether untracked objects are nodes, reached through untracked holders and frame locals. */
    rs_py_run("import gc, refscope\n"
              "def hold():\n"
              "    local_dict = {'only': 'a local holds me', 'n': 123456789}\n"
              "    s = refscope.snapshot()\n"
              "    return s, local_dict\n"
              "outer = {'inner': tuple(['untracked', 987654321])}\n"
              "gc.collect()\n"

              "holder = [outer]\n"
              "s0, local_dict = hold()\n"
              "s = refscope.snapshot()\n");
    ck_assert_int_eq(rs_py_long("gc.is_tracked(outer) or gc.is_tracked(outer['inner']) or gc.is_tracked(local_dict)"),
                     0);
    ck_assert_int_eq(rs_py_long("s.contains(outer) and s.contains(outer['inner'])"), 1);
    ck_assert_str_eq(rs_py_str("[label for obj, label in s.referents(outer)]"), "[\"['inner']\"]");
    /* tupletraverse visits the items last to first; referents keep that order. */
    ck_assert_str_eq(rs_py_str("s.referents(outer['inner'])"), "[(987654321, '[1]'), ('untracked', '[0]')]");
    ck_assert_str_eq(rs_py_str("str(s.path(outer['inner']))"), "sys.modules['__main__'].outer['inner']");
    ck_assert_int_eq(rs_py_long("s0.contains(local_dict)"), 1);
    ck_assert_int_eq(rs_py_long("s0.refcount(local_dict)"), 1);
    ck_assert_int_eq(rs_py_long("s0.unexplained(local_dict)"), 0);
    ck_assert_str_eq(rs_py_str("str(s0.path(local_dict))"),
                     "thread 'MainThread' frame hold() <string>:4 <local 'local_dict'>");
}
END_TEST

START_TEST(test_walk_hides_own_objects)
{
    /* Check whether refscope's own snapshots and paths are never nodes, yet stay referents of what holds them. */
    rs_py_run("import refscope\n"
              "first = refscope.snapshot()\n"
              "path = first.path(refscope)\n"
              "box = [first, path, 'kept']\n"
              "s = refscope.snapshot()\n");
    ck_assert_int_eq(rs_py_long("s.contains(first)"), 0);
    ck_assert_int_eq(rs_py_long("path in s"), 0);
    /* As gc.get_referents(box) (a list visits its last item first): the
     * edges to them are the user's. */
    rs_py_run("import gc\n");
    ck_assert_int_eq(rs_py_long("[id(o) for o, l in s.referents(box)] == [id(o) for o in gc.get_referents(box)]"), 1);
    ck_assert_str_eq(rs_py_str("sorted(label for obj, label in s.referents(box))"), "['[0]', '[1]', '[2]']");
    ck_assert_int_eq(rs_py_long("any(o is first or o is path or o is s for o in s.objects())"), 0);
    ck_assert_int_eq(rs_py_long("len(s.objects())"), rs_py_long("len(s)"));
}
END_TEST

START_TEST(test_walk_runs_no_python_code)
{
    /* Check whether the walk runs no Python method of the heap's objects and sizes without __sizeof__. */
    rs_py_run("import sys, refscope\n"
              "calls = []\n"
              "class Watched:\n"
              "    def __sizeof__(self):\n"
              "        calls.append('__sizeof__')\n"
              "        return 10**6\n"
              "    def __getattribute__(self, name):\n"
              "        calls.append('__getattribute__')\n"
              "        return object.__getattribute__(self, name)\n"
              "    def __repr__(self):\n"
              "        calls.append('__repr__')\n"
              "        return 'Watched'\n"
              "    def __eq__(self, other):\n"
              "        calls.append('__eq__')\n"
              "        return self is other\n"
              "    def __hash__(self):\n"
              "        calls.append('__hash__')\n"
              "        return 1\n"
              "    def __del__(self):\n"
              "        calls.append('__del__')\n"
              "class Unwatched:\n"
              "    pass\n"
              "watched = Watched()\n"
              "table = {watched: [watched]}\n"
              "plain = Unwatched()\n"
              "calls.clear()\n"
              "s = refscope.snapshot()\n"
              "during = list(calls)\n"
              "size = s.size(watched)\n"
              "python_size = sys.getsizeof(watched)\n"
              "c_size = sys.getsizeof(plain)\n"
              "s.close()\n");
    ck_assert_str_eq(rs_py_str("during"), "[]");
    /* sys.getsizeof asks the Python __sizeof__ (and adds the gc header) ... */
    ck_assert_int_gt(rs_py_long("python_size"), 1000000);
    /* ... refscope takes the C layout, the same as an ordinary instance. */
    ck_assert_int_eq(rs_py_long("size"), rs_py_long("c_size"));
}
END_TEST

START_TEST(test_walk_frames_of_every_thread_are_roots)
{
    /* Check whether frame locals of every thread count as referrers (refcount 1, nothing unexplained). */
    rs_py_run("import refscope, fixtures.worker as worker\n"
              "class Mine(list):\n"
              "    pass\n"
              "def hold():\n"
              "    mine = Mine([1, 2])\n"
              "    s = refscope.snapshot()\n"
              "    return s\n"
              "w = worker.Worker('Worker')\n"
              "s = hold()\n"
              "mine = s.instances(Mine)[0]\n"
              "buf = s.instances(worker.WorkerBuffer)[0]\n"
              "result = (s.refcount(mine), s.unexplained(mine), s.refcount(buf), s.unexplained(buf),\n"
              "          len(s.referrers(mine)), len(s.referrers(buf)))\n"
              "s.close()\n"
              "w.stop()\n");
    ck_assert_str_eq(rs_py_str("result"), "(1, 0, 1, 0, 0, 0)");
}
END_TEST

START_TEST(test_walk_other_open_snapshots_are_explained)
{
    /* Check whether a snapshot taken while others are open (a browser and
     * a report at once) counts their references as explained: the same
     * refcounts, unexplained counts and retained sizes as a lone one, and
     * closing one of them changes nothing for a later snapshot. */
    rs_py_run("import gc, refscope\n"
              "class NestedItem: pass\n"
              "NESTED = [NestedItem() for _ in range(300)]\n"
              "gc.collect()\n"
              "s1 = refscope.snapshot()\n"
              "s2 = refscope.snapshot()\n"
              "s3 = refscope.snapshot()\n");
    for (int i = 1; i <= 3; i++) {
        char expr[160];
        snprintf(expr, sizeof expr, "s%d.unexplained(NESTED) + s%d.unexplained(NESTED[7])", i, i);
        ck_assert_int_eq(rs_py_long(expr), 0);
        snprintf(expr, sizeof expr, "s%d.refcount(NESTED[7])", i);
        ck_assert_int_eq(rs_py_long(expr), 1);
    }
    ck_assert_int_eq(rs_py_long("s1.retained_size(NESTED) == s2.retained_size(NESTED) == s3.retained_size(NESTED)"),
                     1);
    ck_assert_int_eq(rs_py_long("s3.retained_size(NESTED) >= sys.getsizeof(NESTED) + 300 * "
                                "sys.getsizeof(NESTED[0])" /* instances and their lists */),
                     1);
    rs_py_run("s2.close()\n"
              "s4 = refscope.snapshot()\n");
    ck_assert_int_eq(rs_py_long("s4.unexplained(NESTED[7]) == 0 and s4.retained_size(NESTED) == "
                                "s1.retained_size(NESTED)"),
                     1);
    rs_py_run("for s in (s1, s3, s4): s.close()\n");
}
END_TEST

START_TEST(test_walk_held_roots_are_the_unexplained_nodes)
{
    /* Check whether the walk makes exactly the nodes with unexplained references (frame roots count) "held" roots. */
    rs_py_run("import io, json, refscope\n"
              "def hold():\n"
              "    local_dict = {'only': 'a frame local holds me'}\n"
              "    local_list = [local_dict, local_dict]\n"
              "    s = refscope.snapshot()\n"
              "    buf = io.StringIO()\n"
              "    s.to_json(buf)\n"
              "    s.close()\n"
              "    return json.loads(buf.getvalue()), id(local_dict)\n"
              "j, local_id = hold()\n"
              "held = [r['target'] for r in j['roots'] if r['kind'] == 'held']\n"
              "unexplained = [i for i, n in enumerate(j['nodes']) if n[4] > 0]\n"
              "frame_targets = {r['target'] for r in j['roots'] if r['kind'] == 'frame'}\n"
              "local = [i for i, n in enumerate(j['nodes']) if n[0] == local_id]\n");
    ck_assert_int_gt(rs_py_long("len(unexplained)"), 0);
    ck_assert_int_eq(rs_py_long("len(local)"), 1);
    ck_assert_int_eq(rs_py_long("local[0] in frame_targets"), 1);
    ck_assert_msg(rs_py_long("sorted(held) == unexplained"), "held roots and unexplained nodes differ at %s (of %s)",
                  rs_py_str("str(sorted(set(held) ^ set(unexplained))[:10])"), rs_py_str("str(len(unexplained))"));
    rs_py_run("del j, held, unexplained, frame_targets, local\n");
}
END_TEST

START_TEST(test_walk_second_snapshot_of_another_heap)
{
    /* Check whether a snapshot taken right after another one was closed, of
     * a heap that changed in between, agrees with gc although its arrays
     * reuse the blocks the first one freed (alloc.c keeps them). */
    rs_py_run("import gc, sys, refscope\n"
              "old = [[i, 'old %d' % i] for i in range(130000)]\n"
              "s = refscope.snapshot()\n"
              "first_nodes = len(s)\n"
              "s.close()\n"
              "del s\n"
              "kept = refscope._refscope._work()['kept_bytes']\n"
              "del old\n"
              "new = [{'k': (i, 'new %d' % i)} for i in range(130000)]\n"
              "gc.collect()\n"
              "before = gc.get_objects()\n"
              "s = refscope.snapshot()\n"
              "kept_after = refscope._refscope._work()['kept_bytes']\n"
              "missing = [o for o in before if not s.contains(o)]\n"
              "differ = [x for d in new for x in (d, d['k'])\n"
              "          if sorted(map(id, gc.get_referents(x))) != sorted(id(o) for o, _ in s.referents(x))\n"
              "          or s.size(x) != sys.getsizeof(x) or s.refcount(x) != 1]\n");
    ck_assert_int_gt(rs_py_long("first_nodes"), 260000); /* arrays big enough to be mappings */
    if (rs_py_long("kept") == 0)
        printf("walk: this kernel keeps no freed blocks (no MADV_FREE); comparing without reuse\n");
    else
        ck_assert_int_lt(rs_py_long("kept_after"), rs_py_long("kept")); /* the second one reused blocks */
    ck_assert_int_ge(rs_py_long("len(s)"), rs_py_long("len(before)") + 2 * 130000);
    ck_assert_msg(rs_py_long("len(missing)") == 0, "not nodes: %s", rs_py_str("repr(missing[:5])[:300]"));
    ck_assert_msg(rs_py_long("len(differ)") == 0, "%ld objects differ from gc, first %s", rs_py_long("len(differ)"),
                  rs_py_str("repr(differ[:3])[:300]"));
    rs_py_run("s.close()\n"
              "del s, new, before, missing, differ\n");
}
END_TEST

Suite *suite_walk(void)
{
    Suite *s = suite_create("walk");
    TCase *tc = tcase_create("walk");
    /* The differential test walks ~80k nodes twice in Python; generous for
     * sanitizer and valgrind builds. */
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_walk_matches_gc_on_real_heap);
    tcase_add_test(tc, test_walk_each_object_once);
    tcase_add_test(tc, test_walk_untracked_objects_are_nodes);
    tcase_add_test(tc, test_walk_hides_own_objects);
    tcase_add_test(tc, test_walk_runs_no_python_code);
    tcase_add_test(tc, test_walk_frames_of_every_thread_are_roots);
    tcase_add_test(tc, test_walk_other_open_snapshots_are_explained);
    tcase_add_test(tc, test_walk_second_snapshot_of_another_heap);
    tcase_add_test(tc, test_walk_held_roots_are_the_unexplained_nodes);
    suite_add_tcase(s, tc);
    return s;
}

/* Leak suspects (src/suspects.c) through every face that shows them: the
 * summary screen's rows (read headless with refscope._screen_rows), the
 * report's text and JSON, and the API (census, retained_by_type, garbage),
 * all on one snapshot, so any figure computed twice and differently fails.
 * Fixtures: tests/fixtures/suspects_heap.py. */
#include <check.h>
#include <stdlib.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_fixtures(void)
{
    rs_py_run("import collections, gc, sys, refscope, fixtures.suspects_heap as sh\n"
              "s = refscope.snapshot()\n");
}

START_TEST(test_suspects_summary_equals_report)
{
    /* Check whether the summary's top suspects and the report's are the
     * same objects in the same order with the same sizes, paths and
     * accumulation lines, and the JSON's retained sizes are the API's. */
    import_fixtures();
    rs_py_run("screen = sh.summary_suspects(s)\n"
              "text = sh.report_suspects(s, len(screen))\n"
              "j = sh.report_json(s, len(screen))['suspects']\n");
    ck_assert_int_ge(rs_py_long("len(screen)"), 3);
    ck_assert_str_eq(rs_py_str("screen == text or (screen, text)"), "True");
    ck_assert_str_eq(rs_py_str("[e['type'] for e in j] == [t for _, t, _ in screen]"), "True");
    ck_assert_str_eq(rs_py_str("all(e['retained'] == s.retained_size(o) for e in j for o in s.instances(e['type']) "
                               "if '%#x' % id(o) == e['address'])"),
                     "True");
    ck_assert_str_eq(rs_py_str("all(a['retained'] >= b['retained'] for a, b in zip(j, j[1:]))"), "True");
}
END_TEST

START_TEST(test_suspects_accumulation)
{
    /* Check whether the backlog list's suspect row says it holds 3000
     * PendingOrders with the share their retained sizes make of the list's,
     * and the registry's names the ._registry dict holding its 500 Handlers. */
    import_fixtures();
    rs_py_run("j = sh.report_json(s, 10)['suspects']\n"
              "backlog = [e for e in j if e['path'] == \"sys.modules['fixtures.suspects_heap'].BACKLOG\"][0]\n"
              "registry = [e for e in j if e['path'] == \"sys.modules['fixtures.suspects_heap'].REGISTRY\"][0]\n"
              "orders = sum(s.retained_size(o) for o in sh.BACKLOG)\n"
              "handlers = sum(s.retained_size(h) for h in sh.REGISTRY._registry.values())\n");
    ck_assert_str_eq(rs_py_str("backlog['accumulation']['type'], backlog['accumulation']['count']"),
                     "('fixtures.suspects_heap.PendingOrder', 3000)");
    ck_assert_int_eq(rs_py_long("backlog['accumulation']['bytes']"), rs_py_long("orders"));
    ck_assert_int_eq(rs_py_long("backlog['accumulation']['percent']"), rs_py_long("orders * 100 // backlog['retained']"));
    ck_assert_str_eq(rs_py_str("backlog['holds']"),
                     rs_py_str("'holds 3000 x fixtures.suspects_heap.PendingOrder (%d%%)' % (orders * 100 // "
                               "backlog['retained'])"));
    ck_assert_str_eq(rs_py_str("registry['accumulation']['type'], registry['accumulation']['count']"),
                     "('fixtures.suspects_heap.Handler', 500)");
    ck_assert_int_eq(rs_py_long("registry['accumulation']['bytes']"), rs_py_long("handlers"));
    ck_assert_str_eq(rs_py_str("registry['accumulation']['container']"), "._registry");
    ck_assert_str_eq(rs_py_str("registry['holds'].endswith(' in ._registry')"), "True");
}
END_TEST

START_TEST(test_suspects_class_attribute)
{
    /* Check whether a list held as a class attribute is the suspect itself
     * (not the class's namespace dict), holding its 800 Entries, and no
     * class namespace, __mro__ or function is named a suspect. */
    import_fixtures();
    rs_py_run("j = sh.report_json(s, 10)['suspects']\n"
              "entries = [e for e in j if e['path'] == \"sys.modules['fixtures.suspects_heap'].Catalog.entries\"]\n"
              "structure = [e['path'] for e in j if "
              "e['path'].endswith('.__dict__') or e['path'].endswith('.__mro__') or e['type'] == 'function']\n");
    ck_assert_int_eq(rs_py_long("len(entries)"), 1);
    ck_assert_str_eq(rs_py_str("entries[0]['type'], entries[0]['accumulation']['type'], "
                               "entries[0]['accumulation']['count']"),
                     "('list', 'fixtures.suspects_heap.Entry', 800)");
    ck_assert_str_eq(rs_py_str("structure"), "[]");
}
END_TEST

START_TEST(test_suspects_accumulation_capped)
{
    /* Check whether a suspect holding more objects than one walk examines
     * (RS_ACCUMULATION_BUDGET, 200000) says "about" and counts no more
     * than it examined. */
    import_fixtures();
    rs_py_run("sh.HUGE = [object() for _ in range(210000)]\n"
              "s = refscope.snapshot()\n"
              "huge = [e for e in sh.report_json(s, 3)['suspects'] if e['path'].endswith('.HUGE')][0]\n"
              "del sh.HUGE\n");
    ck_assert_str_eq(rs_py_str("huge['accumulation']['about'], huge['accumulation']['type']"), "(True, 'object')");
    ck_assert_int_le(rs_py_long("huge['accumulation']['count']"), 200000);
    ck_assert_int_ge(rs_py_long("huge['accumulation']['count']"), 199999);
    ck_assert_str_eq(rs_py_str("huge['holds'].startswith('holds about ')"), "True");
}
END_TEST

START_TEST(test_suspects_retained_by_type)
{
    /* Check whether census()'s retained column equals retained_by_type()
     * for every type, never exceeds the reachable heap, and the types
     * screen shows the same figures as the report's types section. */
    import_fixtures();
    rs_py_run("census = {t: r for t, c, z, r in s.census()}\n"
              "by_type = {t: r for t, c, z, r, *_ in s.retained_by_type()}\n"
              "heap = sum(z for t, c, z, r in s.census())\n"
              "screen = sh.types_rows(s)\n"
              "report = sh.report_types(s, 15)\n");
    ck_assert_str_eq(rs_py_str("all(census[t] == r for t, r in by_type.items())"), "True");
    ck_assert_str_eq(rs_py_str("all(r == 0 for t, r in census.items() if t not in by_type)"), "True");
    ck_assert_str_eq(rs_py_str("sum(census.values()) > 0 and max(census.values()) <= heap"), "True");
    /* Two trees of the type: the fixture's and the demo's own. */
    ck_assert_int_eq(rs_py_long("census['leaky_service.TreeNode']"),
                     rs_py_long("s.retained_size(sh.TREE) + s.retained_size(sh.demo.TREE)"));
    ck_assert_int_ge(rs_py_long("len(report)"), 5);
    ck_assert_str_eq(rs_py_str("all(screen[t] == v for t, v in report.items()) or report"), "True");
}
END_TEST

START_TEST(test_suspects_garbage_counts)
{
    /* Check whether the summary's garbage row and the report's counts by
     * kind are the counts of s.garbage()'s entries by kind, with the
     * fixture's three live __del__ cycles as finalizer-in-cycle. */
    import_fixtures();
    rs_py_run("kinds = collections.Counter(k for o, k, why in s.garbage())\n"
              "g = sh.report_json(s)['garbage']\n");
    ck_assert_int_ge(rs_py_long("kinds['finalizer-in-cycle']"), 3);
    ck_assert_str_eq(rs_py_str("sh.summary_garbage_counts(s)"),
                     rs_py_str("[kinds['gc.garbage'], kinds['unreachable-cycle'], kinds['unreachable'], "
                               "kinds['finalizer-in-cycle']]"));
    ck_assert_str_eq(rs_py_str("all(g['by_kind'][k]['count'] == kinds[k] for k in g['by_kind'])"), "True");
    ck_assert_int_eq(rs_py_long("g['count']"), rs_py_long("len(s.garbage())"));
}
END_TEST

START_TEST(test_suspects_pending_garbage_stuck)
{
    /* Check whether memory in a cycle dropped while automatic gc is off is
     * totalled as stuck in garbage, equal to the sizes of s.garbage()'s
     * unreachable entries, and the summary says "reachable" leaves it out. */
    import_fixtures();
    rs_py_run("gc.disable()\n"
              "try:\n"
              "    sh.TreeNode('b', sh.TreeNode('a')); a = sh.TreeNode('c'); sh.TreeNode('d', a); del a\n"
              "    s2 = refscope.snapshot()\n"
              "    g = sh.report_json(s2)['garbage']\n"
              "    expected = sum(s2.size(o) for o, k, why in s2.garbage() if k.startswith('unreachable'))\n"
              "    header = [r for r in refscope._screen_rows(s2, 'summary') if 'stuck' in r][0]\n"
              "finally:\n"
              "    gc.enable()\n");
    ck_assert_int_gt(rs_py_long("expected"), 0);
    ck_assert_int_eq(rs_py_long("g['stuck_bytes']"), rs_py_long("expected"));
    ck_assert_str_eq(rs_py_str("'held by them' in header and 'stuck' in header"), "True");
}
END_TEST

START_TEST(test_suspects_break_edge_counts)
{
    /* Check whether the cycle explorer's xN counts for a tree of 300
     * children (more edges than it ranks) equal the edges of cycle.edges
     * between the same types. */
    import_fixtures();
    rs_py_run("c = s.cycle_of(sh.TREE)\n"
              "shown = sh.explorer_counts(s, c)\n"
              "edges = sh.edge_counts(c)\n");
    ck_assert_int_eq(rs_py_long("len(c.edges)"), 601);
    ck_assert_int_ge(rs_py_long("len(shown)"), 1);
    ck_assert_str_eq(rs_py_str("all(edges[k] == n for k, n in shown.items()) or (shown, edges)"), "True");
    ck_assert_int_eq(rs_py_long("shown[('leaky_service.TreeNode', 'leaky_service.TreeNode')]"), 300);
}
END_TEST

START_TEST(test_suspects_garbage_retained)
{
    /* Check whether an object of a cycle dropped with automatic gc off
     * retains what its cycle retains (the cycle's unreachable objects and
     * what they alone hold), in retained_size() and retained(). */
    import_fixtures();
    rs_py_run("gc.disable()\n"
              "try:\n"
              "    a = sh.TreeNode('a'); b = sh.TreeNode('b', a); b.blob = bytearray(5000); ida = id(a); del a, b\n"
              "    s2 = refscope.snapshot()\n"
              "    a = [o for o, k, why in s2.garbage() if id(o) == ida][0]\n"
              "    c = s2.cycle_of(a)\n"
              "    facts = (s2.retained_size(a), c.retained, sum(s2.size(o) for o in s2.retained(a)), c.garbage)\n"
              "    del a, c\n"
              "    s2.close()\n"
              "finally:\n"
              "    gc.enable()\n");
    ck_assert_str_eq(rs_py_str("facts[3]"), "True");
    ck_assert_int_gt(rs_py_long("facts[0]"), 5000);
    ck_assert_int_eq(rs_py_long("facts[0]"), rs_py_long("facts[1]"));
    ck_assert_int_eq(rs_py_long("facts[0]"), rs_py_long("facts[2]"));
}
END_TEST

START_TEST(test_suspects_not_refscope)
{
    /* Check whether, with the hotkey installed, no unexplained-reference
     * row of the summary or the report is refscope's own (the hotkey
     * function, its types' namespaces, its module's dict). */
    import_fixtures();
    /* Defined in one run, called from another whose source names no
     * refscope: while a string runs, the parser's arena (a list of its
     * tokens, held by C) is rightly an unexplained row. */
    rs_py_run("import signal\n"
              "def own_rows():\n"
              "    refscope.install(signal.SIGUSR2)\n"
              "    try:\n"
              "        s2 = refscope.snapshot()\n"
              "        rows = refscope._screen_rows(s2, 'summary')\n"
              "        start = rows.index([r for r in rows if r.startswith('Unexplained')][0])\n"
              "        return rows[start + 1:start + 4], sh.report_json(s2, 30)['unexplained']\n"
              "    finally:\n"
              "        refscope.uninstall()\n");
    rs_py_run("unexplained, j = own_rows()\n");
    ck_assert_str_eq(rs_py_str("[r for r in unexplained if 'refscope' in r]"), "[]");
    ck_assert_str_eq(rs_py_str("[e['object']['repr'] for e in j if 'refscope' in e['object']['repr']]"), "[]");
}
END_TEST

START_TEST(test_suspects_demo_shows_finalizer_cycles)
{
    /* Check whether the demo's leaky service (examples/leaky_service.py)
     * shows on the garbage screen the __del__ cycles its docstring
     * promises, as many as s.garbage() lists. */
    import_fixtures();
    rs_py_run("import contextlib, io, os\n"
              "os.environ['REFSCOPE_DEMO_HEADLESS'] = '1'\n"
              "import leaky_service\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              "    leaky_service.main()\n"
              "leaky_service.stop.set()\n"
              "s = refscope.snapshot()\n"
              "kinds = collections.Counter((k, type(o).__module__ + '.' + type(o).__name__) for o, k, why in s.garbage())\n"
              "demo = [hex(id(pool[0])) for pool in leaky_service.POOLS]\n"
              "listed = [o for o, k, why in s.garbage() if k == 'finalizer-in-cycle' and hex(id(o)) in demo]\n"
              "rows = [r for r in refscope._screen_rows(s, 'garbage') if any(a in r for a in demo)]\n");
    /* The fixture's own pools hold Connections of the demo's class too. */
    ck_assert_int_eq(rs_py_long("len(demo)"), 3);
    ck_assert_int_eq(rs_py_long("len(listed)"), 3);
    ck_assert_int_eq(rs_py_long("kinds[('finalizer-in-cycle', 'leaky_service.Connection')]"),
                     rs_py_long("len(demo) + len(sh.POOLS)"));
    ck_assert_int_eq(rs_py_long("len(rows)"), 3);
    ck_assert_str_eq(rs_py_str("all(r.startswith('finalizer-in-cycle') for r in rows)"), "True");
    ck_assert_str_eq(rs_py_str("'__del__ cycle' in leaky_service.__doc__ or 'with __del__' in leaky_service.__doc__"),
                     "True");
}
END_TEST

START_TEST(test_suspects_demo_serves)
{
    /* Check whether the demo started with --serve under `refscope run`
     * says its PID, keeps running, and `refscope report PID` names its
     * request cache, as README's way to try attach/report/dump on it. */
    rs_py_run("import os, select, subprocess\n"
              "from fixtures.dump_heap import child_env\n" /* the sanitizer runtime under asan-check */
              "cli = '" RS_BUILD_LIB "/../bin/refscope'\n"
              "demo = subprocess.Popen([cli, 'run', '--quiet', '" RS_SOURCE_DIR "/examples/leaky_service.py', '--serve'],\n"
              "                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,\n"
              "                        env=child_env('" RS_BUILD_LIB "'))\n"
              "try:\n"
              "    ready = select.select([demo.stdout], [], [], 120)[0]\n"
              "    first = demo.stdout.readline() if ready else '(nothing in 120 s)'\n"
              "    report = subprocess.run([cli, 'report', str(demo.pid)], capture_output=True, text=True, timeout=120)\n"
              "    alive = demo.poll() is None\n"
              "finally:\n"
              "    demo.kill()\n"
              "    demo.wait()\n");
    ck_assert_str_eq(rs_py_str("first.startswith('leaky_service: serving as PID %d ' % demo.pid) or first"), "True");
    ck_assert_str_eq(rs_py_str("report.returncode == 0 or report.stdout + report.stderr"), "True");
    ck_assert_str_eq(rs_py_str("\"sys.modules['__main__'].CACHE\" in report.stdout or report.stdout"), "True");
    ck_assert_str_eq(rs_py_str("alive"), "True");
}
END_TEST

START_TEST(test_suspects_builtins_spelling)
{
    /* Check whether instances() accepts 'builtins.type' as tracebacks and
     * __module__ spell it, giving what 'type' gives. */
    import_fixtures();
    ck_assert_int_gt(rs_py_long("len(s.instances('builtins.type'))"), 10);
    ck_assert_str_eq(rs_py_str("s.instances('builtins.type') == s.instances('type')"), "True");
    ck_assert_str_eq(rs_py_str("sh.PendingOrder in s.instances('builtins.type')"), "True");
}
END_TEST

START_TEST(test_suspects_kept_answers)
{
    /* Check whether the figures kept with a snapshot answer any later
     * question as a first computation would: on three loads of one dump of
     * the suspects heap, the summary then report(top=3), 12, 2 and 1000 on
     * the first give what report(top=12), 2 and 1000 give first on the
     * others, the summary shows the same rows on every visit, and its
     * types are census()'s. */
    import_fixtures();
    rs_py_run("import fixtures.dump_heap as dh, os, json\n"
              "path = os.path.join(dh.scratch_dir(), 'kept.rsd')\n"
              "s.save(path)\n"
              "def sections(d, top):\n"
              "    j = sh.report_json(d, top)\n"
              "    return [j[k] for k in ('types', 'suspects', 'cycles', 'garbage', 'unexplained', 'strings')]\n"
              "a = refscope.load(path)\n"
              "first_visit = refscope._screen_rows(a, 'summary')\n"
              "asked = {top: sections(a, top) for top in (3, 12, 2, 1000)}\n"
              "fresh = {top: sections(refscope.load(path), top) for top in (12, 2, 1000)}\n"
              "again = refscope._screen_rows(a, 'summary')\n"
              "cold = refscope._screen_rows(refscope.load(path), 'summary')\n");
    ck_assert_int_ge(rs_py_long("len(asked[12][1])"), 4);
    ck_assert_int_gt(rs_py_long("len(asked[1000][1])"), rs_py_long("len(asked[12][1])"));
    ck_assert_str_eq(rs_py_str("all(asked[t] == fresh[t] for t in fresh) or [t for t in fresh if asked[t] != fresh[t]]"),
                     "True");
    ck_assert_str_eq(rs_py_str("first_visit == again == cold"), "True");
    /* The summary's types (counts and sizes alone) are census()'s first. */
    rs_py_run("start = cold.index([r for r in cold if r.startswith('Types by size')][0]) + 1\n"
              "shown = [(int(r.split()[1]), r.split()[2]) for r in cold[start:start + 5]]\n"
              "census = [(count, name) for name, count, size, retained in refscope.load(path).census()[:5]]\n");
    ck_assert_str_eq(rs_py_str("shown == census or (shown, census)"), "True");
    /* After the summary kept counts alone, census() still has its retained
     * column, as on a load that never showed the summary. */
    ck_assert_str_eq(rs_py_str("a.census() == refscope.load(path).census() and a.census()[0][3] > 0"), "True");
    rs_py_run("os.remove(path)\nos.rmdir(os.path.dirname(path))\n");
}
END_TEST

START_TEST(test_suspects_tally_answers_as_full_passes)
{
    /* Check whether the one pass over the nodes (which keeps the 16
     * biggest) answers as a full pass does: on two loads of one dump, the
     * report's first suspects, largest strings and unexplained references
     * for top=10 (from the pass) are those for top=200 (a pass of their
     * own), the largest strings' sizes are sys.getsizeof's biggest over
     * every str, bytes and bytearray, and the summary's type counts are
     * Python's. */
    import_fixtures();
    rs_py_run("import fixtures.dump_heap as dh, os\n"
              "path = os.path.join(dh.scratch_dir(), 'tally.rsd')\n"
              "texts = ['x' * (1000 + i) for i in range(100)]\n"
              "s.close()\n"
              "s = refscope.snapshot()\n"
              "s.save(path)\n"
              "def firsts(top, n=10):\n"
              "    j = sh.report_json(refscope.load(path), top)\n"
              "    return ([(e['address'], e['retained'], e['holds']) for e in j['suspects'][:n]],\n"
              "            [(e['address'], e['size']) for e in j['strings']['largest'][:n]],\n"
              "            [(e['object']['address'], e['unexplained']) for e in j['unexplained'][:n]])\n"
              "few, many = firsts(10), firsts(200)\n"
              "live = sh.report_json(s, 10)['strings']['largest']\n"
              "sizes = sorted((sys.getsizeof(o) for k in ('str', 'bytes', 'bytearray') for o in s.instances(k)),\n"
              "               reverse=True)[:10]\n");
    ck_assert_int_eq(rs_py_long("len(firsts(200, 200)[0])"), 200); /* past the pass's 16 */
    ck_assert_int_eq(rs_py_long("len(few[0])"), 10);
    ck_assert_str_eq(rs_py_str("few == many or (few, many)"), "True");
    ck_assert_str_eq(rs_py_str("[e['size'] for e in live] == sizes or ([e['size'] for e in live], sizes)"), "True");
    rs_py_run("rows = refscope._screen_rows(s, 'summary')\n"
              "start = rows.index([r for r in rows if r.startswith('Types by size')][0]) + 1\n"
              "shown = {r.split()[2]: int(r.split()[1]) for r in rows[start:start + 5]}\n");
    ck_assert_str_eq(rs_py_str("all(shown[t] == len(s.instances(t)) for t in shown) or shown"), "True");
    rs_py_run("os.remove(path)\nos.rmdir(os.path.dirname(path))\ndel texts, few, many, live, sizes, rows, shown\n");
}
END_TEST

Suite *suite_suspects(void)
{
    Suite *s = suite_create("suspects");
    TCase *tc = tcase_create("suspects");
    tcase_set_timeout(tc, getenv("RS_VALGRIND") ? 600 : 120);
    tcase_add_test(tc, test_suspects_summary_equals_report);
    tcase_add_test(tc, test_suspects_accumulation);
    tcase_add_test(tc, test_suspects_class_attribute);
    tcase_add_test(tc, test_suspects_accumulation_capped);
    tcase_add_test(tc, test_suspects_retained_by_type);
    tcase_add_test(tc, test_suspects_garbage_counts);
    tcase_add_test(tc, test_suspects_pending_garbage_stuck);
    tcase_add_test(tc, test_suspects_break_edge_counts);
    tcase_add_test(tc, test_suspects_garbage_retained);
    tcase_add_test(tc, test_suspects_not_refscope);
    tcase_add_test(tc, test_suspects_demo_shows_finalizer_cycles);
    tcase_add_test(tc, test_suspects_demo_serves);
    tcase_add_test(tc, test_suspects_builtins_spelling);
    tcase_add_test(tc, test_suspects_kept_answers);
    tcase_add_test(tc, test_suspects_tally_answers_as_full_passes);
    suite_add_tcase(s, tc);
    return s;
}

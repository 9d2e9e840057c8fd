/* Leak analyses through the Python API (src/garbage.c, retained.c,
 * closures.c, frames.c, growth.c, strings.c, report.c, export.c): each
 * compared with an answer Python gives on its own (sys.getsizeof, gc's own
 * collection, functions' __closure__, threading) where one exists.
 * Fixtures: tests/fixtures/analyses_heap.py. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_fixtures(void)
{
    rs_py_run("import gc, io, json, sys, tracemalloc, refscope, fixtures.analyses_heap as ah\n"
              "def error_of(fn, *a, **k):\n"
              "    try:\n"
              "        fn(*a, **k)\n"
              "    except refscope.Error as e:\n"
              "        return 'refscope.Error'\n"
              "    except Exception as e:\n"
              "        return type(e).__name__\n"
              "    return 'no error'\n");
}

START_TEST(test_analyses_retained_cache)
{
    /* Check whether the retained size of a cache dict of 1000 records is
     * the dict's size plus each record's and what it alone holds, summed
     * with sys.getsizeof, and s.retained() lists exactly those objects. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n");
    ck_assert_int_eq(rs_py_long("len(ah.cache)"), 1000);
    ck_assert_int_eq(rs_py_long("s.retained_size(ah.cache)"), rs_py_long("ah.expected_cache_retained()"));
    ck_assert_str_eq(rs_py_str("{id(o) for o in s.retained(ah.cache)} == ah.expected_cache_ids()"), "True");
    ck_assert_str_eq(rs_py_str("s.retained(ah.cache)[0] is ah.cache"), "True");
    ck_assert_int_eq(rs_py_long("sum(s.size(o) for o in s.retained(ah.cache))"), rs_py_long("s.retained_size(ah.cache)"));
    /* A record retains itself and what it alone holds. */
    rs_py_run("r = ah.cache['key-3']\n");
    ck_assert_int_eq(rs_py_long("s.retained_size(r)"),
                     rs_py_long("sys.getsizeof(r) + sum(sys.getsizeof(o) for o in ah.exclusively_held(r))"));
    /* The census gains a retained column; the type rows count nested instances once. */
    ck_assert_int_ge(rs_py_long("[c for c in s.census() if c[0] == 'fixtures.analyses_heap.Record'][0][3]"),
                     rs_py_long("1000 * sys.getsizeof(r)"));
    ck_assert_int_eq(rs_py_long("[t for t in s.retained_by_type() if t[0] == 'fixtures.analyses_heap.Record'][0][1]"),
                     1000);
}
END_TEST

START_TEST(test_analyses_retained_by_type_matches_retained_sets)
{
    /* Check whether a type's retained size in retained_by_type() and
     * census() is the sum of the retained sizes of its instances that no
     * other instance retains, reading dominance off s.retained() sets:
     * nested, shared and sibling instances of one class. */
    import_fixtures();
    rs_py_run("class Nest:\n"
              "    def __init__(self, *kids):\n"
              "        self.kids = list(kids)\n"
              "shared = Nest()\n"
              "nests = [Nest(Nest(Nest(), shared), Nest()), Nest(shared, Nest(Nest(Nest()))), Nest()]\n"
              "nests.append(Nest(*[Nest(Nest()) for _ in range(50)]))\n"
              "s = refscope.snapshot()\n"
              "mine = [o for o in gc.get_objects() if type(o) is Nest]\n"
              "held = {id(x): {id(o) for o in s.retained(x)} for x in mine}\n"
              "top = [x for x in mine if not any(id(x) in held[id(y)] for y in mine if y is not x)]\n"
              "expect = sum(s.retained_size(x) for x in top)\n"
              "name = [t for t, *_ in s.census() if t.endswith('.Nest') or t == 'Nest'][0]\n"
              "by_type = {t: r for t, c, z, r in s.retained_by_type()}\n"
              "census = {t: r for t, c, z, r in s.census()}\n");
    ck_assert_int_eq(rs_py_long("len(mine)"), 111);
    ck_assert_int_eq(rs_py_long("len(top)"), 5); /* the four in nests and shared */
    ck_assert_int_eq(rs_py_long("by_type[name]"), rs_py_long("expect"));
    ck_assert_int_eq(rs_py_long("census[name]"), rs_py_long("expect"));
    rs_py_run("s.close()\n"
              "del nests, shared, mine, held, top, s\n");
}
END_TEST

START_TEST(test_analyses_garbage_finalizer_in_cycle)
{
    /* Check whether a reachable object with __del__ in a cycle is listed
     * once, as finalizer-in-cycle, with a reason naming __del__ and PEP 442. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n"
              "k = ah.kinds_of(s, id(ah.finalizer_cycle))\n");
    ck_assert_int_eq(rs_py_long("len(k)"), 1);
    ck_assert_str_eq(rs_py_str("k[0][0]"), "finalizer-in-cycle");
    ck_assert_str_eq(rs_py_str("'__del__ of fixtures.analyses_heap.WithDel' in k[0][1] and 'PEP 442' in k[0][1]"),
                     "True");
    ck_assert_str_eq(rs_py_str("s.in_cycle(ah.finalizer_cycle)"), "True");
}
END_TEST

START_TEST(test_analyses_garbage_debug_saveall)
{
    /* Check whether a cycle collected under gc.DEBUG_SAVEALL is listed as
     * gc.garbage with a reason naming DEBUG_SAVEALL, and gc's debug flags
     * and gc.garbage are as before afterwards. */
    import_fixtures();
    rs_py_run("debug_before = gc.get_debug()\n"
              "kinds, debug_restored, garbage_empty = ah.saveall_run()\n");
    ck_assert_int_eq(rs_py_long("len(kinds)"), 1);
    ck_assert_str_eq(rs_py_str("kinds[0][0]"), "gc.garbage");
    ck_assert_str_eq(rs_py_str("'gc.DEBUG_SAVEALL' in kinds[0][1]"), "True");
    ck_assert_str_eq(rs_py_str("debug_restored, garbage_empty, gc.get_debug() == debug_before"), "(True, True, True)");
}
END_TEST

START_TEST(test_analyses_garbage_pending_cycle)
{
    /* Check whether a cycle dropped with automatic gc off is listed as an
     * unreachable cycle (what it alone holds as unreachable), its Cycle is
     * garbage, the unreachable gc objects are exactly those gc.collect()
     * then finds, and gc is enabled again afterwards. */
    import_fixtures();
    rs_py_run("enabled_before = gc.isenabled()\n"
              "kinds, cycle, ours, theirs, restored = ah.pending_run()\n");
    ck_assert_str_eq(rs_py_str("[k[0][0] for k in kinds]"), "['unreachable-cycle', 'unreachable-cycle', 'unreachable']");
    ck_assert_str_eq(rs_py_str("'automatic gc is disabled' in kinds[0][0][1]"), "True");
    ck_assert_str_eq(rs_py_str("cycle[:2]"), "(True, 2)");
    ck_assert_int_gt(rs_py_long("cycle[2]"), 0);
    ck_assert_int_ge(rs_py_long("len(theirs)"), 3);
    ck_assert_str_eq(rs_py_str("ours == theirs"), "True");
    ck_assert_str_eq(rs_py_str("restored, gc.isenabled() == enabled_before"), "(True, True)");
}
END_TEST

START_TEST(test_analyses_closures)
{
    /* Check whether closures() lists exactly the non-empty cells Python
     * shows through every function's __closure__, with the value's
     * retained size, biggest first. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n"
              "cl = s.closures()\n"
              "mine = [c for c in cl if c[0] is ah.counter]\n");
    ck_assert_str_eq(rs_py_str("{(id(f), n, id(v)) for f, n, v, r in cl} == ah.closures_by_python(s)"), "True");
    ck_assert_str_eq(rs_py_str("sorted(n for f, n, v, r in mine)"), "['count', 'data']");
    ck_assert_str_eq(rs_py_str("[v for f, n, v, r in mine if n == 'data'][0] is ah.counter.__closure__[1].cell_contents"),
                     "True");
    ck_assert_int_eq(rs_py_long("[r for f, n, v, r in mine if n == 'data'][0]"),
                     rs_py_long("s.retained_size(ah.counter.__closure__[1].cell_contents)"));
    ck_assert_str_eq(rs_py_str("all(a[3] >= b[3] for a, b in zip(cl, cl[1:]))"), "True");
}
END_TEST

START_TEST(test_analyses_frames)
{
    /* Check whether frames() shows another thread (by its name and ident)
     * sleeping in sleeper() with its local bytearray and its size, the
     * calling frame innermost first with its locals, a generator running
     * on that thread with its local, and a suspended generator's local. */
    import_fixtures();
    rs_py_run("f = ah.frames_facts()\n");
    ck_assert_str_eq(rs_py_str("f['ident_ok']"), "True");
    ck_assert_str_eq(rs_py_str("f['sleeper_where'].split(':')[0]"), "analyses_heap.py");
    ck_assert_str_eq(rs_py_str("f['local_type'], f['local_len'], f['local_size_ok']"), "('bytearray', 12345, True)");
    ck_assert_str_eq(rs_py_str("f['main_has_marker'], f['main_innermost_first']"), "(True, True)");
    ck_assert_str_eq(rs_py_str("f['gen_local']"), "['local of a suspended generator']");
    /* A generator running on the thread (waiting inside its body) shows
     * inside the frame that runs it, with its locals. */
    ck_assert_str_eq(rs_py_str("f['running_local'], f['running_inside_sleeper']"),
                     "([['local of a running generator']], True)");
}
END_TEST

START_TEST(test_analyses_growth)
{
    /* Check whether growth() after mark() shows +1000 Items, their total
     * size (1000 times sys.getsizeof of one: 56 bytes each on 3.11, 48 on
     * 3.12+) and exactly those objects, and nothing for Item once they are
     * freed again. */
    import_fixtures();
    rs_py_run("grown, after = ah.growth_run()\n");
    ck_assert_str_eq(rs_py_str("grown[:1] + grown[2:]"), "(1000, 1000, True, True)");
    ck_assert_int_ge(rs_py_long("grown[1]"), 1000 * 32);
    ck_assert_str_eq(rs_py_str("after"), "[]");
}
END_TEST

START_TEST(test_analyses_growth_nodes_only_walk)
{
    /* Check whether the nodes-only walk behind mark() and growth() finds
     * every node a full snapshot has: a full snapshot holds all its objects
     * alive, so against a nodes-only mark taken right after it none may be
     * new, and the mark counts at least as many objects (a few more at most:
     * what the test itself made in between). */
    import_fixtures();
    rs_py_run("import gc\n"
              "gc.disable()\n"
              "full = refscope.snapshot()\n"
              "marked = refscope.mark(collect=False)\n"
              "rows = refscope.growth(snapshot=full)\n"
              "new = sum(len(r[3]) for r in rows)\n"
              "extra = marked - len(full)\n"
              "full.close()\n"
              "gc.enable()\n");
    ck_assert_int_gt(rs_py_long("marked"), 1000);
    ck_assert_int_eq(rs_py_long("new"), 0);
    ck_assert_int_ge(rs_py_long("extra"), 0);
    ck_assert_int_lt(rs_py_long("extra"), 100);
}
END_TEST

START_TEST(test_analyses_growth_sizes)
{
    /* Check whether growth()'s delta sizes of new objects are the sums of
     * sys.getsizeof over them for a plain class, a __slots__ class (every
     * instance one size, which the walk computes once per type), tuple
     * and dict subclasses (sized per instance) and classes made by a
     * metaclass. */
    import_fixtures();
    rs_py_run("sizes = ah.growth_sizes_run()\n");
    ck_assert_int_eq(rs_py_long("len(sizes)"), 5);
    ck_assert_str_eq(rs_py_str("[k for k, v in sizes.items() if v[0] != v[1] or v[2] != v[3]]"), "[]");
}
END_TEST

START_TEST(test_analyses_growth_reused_addresses)
{
    /* Check whether objects of another type at the addresses of objects
     * freed since the mark count as new, and the freed type shows -N. */
    import_fixtures();
    rs_py_run("reused, item_delta, item_new, other_delta, other_new = ah.reuse_run()\n");
    /* pymalloc reuses the freed blocks at once; under PYTHONMALLOC=malloc
     * (asan-check) freed memory sits in quarantine, so only the counts are
     * checked there. */
    ck_assert_int_gt(rs_py_long("reused or __import__('os').environ.get('PYTHONMALLOC') == 'malloc'"), 0);
    ck_assert_str_eq(rs_py_str("item_delta, item_new, other_delta, other_new"), "(500, 500, -500, 0)");
}
END_TEST

START_TEST(test_analyses_growth_against_python)
{
    /* Check whether growth()'s walk finds exactly the new objects Python's
     * gc.get_objects() plus gc.get_referents() closure shows (tracked
     * instances; untracked str, int and tuples; with and without the
     * collection that untracks the tuples), with old ones freed, and the
     * per-type delta Python counts. */
    import_fixtures();
    for (int collect = 1; collect >= 0; collect--) {
        rs_py_run(collect ? "d = ah.growth_differential(True)\n" : "d = ah.growth_differential(False)\n");
        ck_assert_str_eq(rs_py_str("d[0]"), "True");
        ck_assert_str_eq(rs_py_str("d[1] == d[2] == [200]"), "True");
        ck_assert_int_eq(rs_py_long("d[3]"), 1500);
        if (collect)
            ck_assert_int_eq(rs_py_long("d[4]"), 300);
    }
}
END_TEST

START_TEST(test_analyses_growth_walk_matches_snapshot)
{
    /* Check whether growth() without a snapshot (which walks the heap
     * against the mark) gives the same rows, counts, sizes and new objects
     * as growth(snapshot=) of a snapshot taken the moment before. */
    import_fixtures();
    rs_py_run("same_rows, same_new, rows = ah.growth_beside_snapshot()\n");
    ck_assert_str_eq(rs_py_str("same_rows, same_new"), "(True, True)");
    ck_assert_int_ge(rs_py_long("rows"), 4);
}
END_TEST

START_TEST(test_analyses_growth_hidden_untracked)
{
    /* Check whether growth() finds new strs and ints that only a new
     * tuple holds, itself held only by a new list: the walk reaches
     * untracked objects through what it traverses. */
    import_fixtures();
    rs_py_run("found, counted = ah.hidden_run()\n");
    ck_assert_str_eq(rs_py_str("found, counted"), "(True, True)");
}
END_TEST

START_TEST(test_analyses_builtin_sizes)
{
    /* Check whether the sizes refscope computes itself for strs, ints and
     * lists (ASCII or not, with a UTF-8 copy, zero, negative, many digits,
     * bools, over-allocated lists) are sys.getsizeof's (growth() sums the
     * same figures: growth_walk_matches_snapshot). */
    import_fixtures();
    rs_py_run("pairs = ah.builtin_sizes()\n"
              "s = refscope.snapshot()\n"
              "wrong = [(o, z, s.size(o)) for o, z in pairs if s.size(o) != z]\n"
              "s.close()\n");
    ck_assert_int_gt(rs_py_long("len(pairs)"), 20);
    ck_assert_str_eq(rs_py_str("wrong"), "[]");
}
END_TEST

START_TEST(test_analyses_growth_errors)
{
    /* Check whether growth() without a mark and bad arguments give errors
     * that say what to do. */
    import_fixtures();
    ck_assert_str_eq(rs_py_str("error_of(refscope.growth)"), "refscope.Error");
    ck_assert_str_eq(rs_py_str("error_of(refscope.mark, snapshot=3)"), "TypeError");
    ck_assert_str_eq(rs_py_str("error_of(refscope.report, format='xml')"), "refscope.Error");
    rs_py_run("s = refscope.snapshot()\n");
    ck_assert_str_eq(rs_py_str("error_of(s.largest, 'no.such.Type')"), "refscope.Error");
    ck_assert_str_eq(rs_py_str("error_of(s.retained_size, object())"), "refscope.Error");
    ck_assert_str_eq(rs_py_str("error_of(s.compute, 'nothing')"), "ValueError");
    ck_assert_str_eq(rs_py_str("error_of(s.to_dot, io.StringIO(), ah.cache, direction='up')"), "ValueError");
}
END_TEST

START_TEST(test_analyses_string_lengths)
{
    /* Check whether the lengths the strings analysis adds up and the
     * report prints are Python's len() for every kind of text: ASCII and
     * wider str (whose lengths the walk reads off their sizes, or not),
     * bytes, bytearray and subclasses, in every holder. */
    import_fixtures();
    rs_py_run("class Text(str):\n"
              "    def __len__(self):\n"
              "        return 0\n"
              "texts = ['ascii' * 50, '\\xe9' * 300, '\\u20ac' * 400, '\\U0001d11e' * 500, b'b' * 600,\n"
              "         bytearray(b'x' * 700), Text('sub' * 20), 'x' * 100000, b'', '']\n"
              "s = refscope.snapshot()\n"
              "def real_len(o):\n"
              "    for t in (str, bytes, bytearray):\n"
              "        if isinstance(o, t):\n"
              "            return t.__len__(o)\n"
              "expect = sum(real_len(o) for o in s.objects() if isinstance(o, (str, bytes, bytearray)))\n"
              "got = sum(h[2] for h in s.strings_by_holder())\n"
              "import json\n"
              "largest = json.loads(refscope.report(snapshot=s, format='json', top=5000))['strings']['largest']\n"
              "mine = {e['address']: e['length'] for e in largest}\n"
              "wrong = [(t[:20], mine.get('%#x' % id(t)), real_len(t)) for t in texts\n"
              "         if '%#x' % id(t) in mine and mine['%#x' % id(t)] != real_len(t)]\n"
              "seen = sum('%#x' % id(t) in mine for t in texts)\n");
    ck_assert_int_eq(rs_py_long("got"), rs_py_long("expect"));
    ck_assert_str_eq(rs_py_str("wrong"), "[]");
    ck_assert_int_ge(rs_py_long("seen"), 7);
    rs_py_run("s.close()\ndel texts, s, largest, mine, wrong\n");
}
END_TEST

START_TEST(test_analyses_strings_and_memory)
{
    /* Check whether largest('str') agrees with sys.getsizeof over every
     * str of the snapshot, the growing buffer shows as its holder's type,
     * and process memory puts the objects' bytes beside RSS. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n"
              "top = s.largest('str', 5)\n"
              "by_python = sorted((sys.getsizeof(o) for o in s.instances('str')), reverse=True)[:5]\n"
              "holders = {h[0]: h for h in s.strings_by_holder()}\n"
              "m = s.process_memory()\n");
    ck_assert_str_eq(rs_py_str("[z for o, z in top] == by_python"), "True");
    ck_assert_str_eq(rs_py_str("all(type(o) is str and z == sys.getsizeof(o) for o, z in top)"), "True");
    ck_assert_int_eq(rs_py_long("holders['fixtures.analyses_heap.Buffer'][2]"), 200000);
    ck_assert_int_eq(rs_py_long("holders['fixtures.analyses_heap.Buffer'][3]"), rs_py_long("sys.getsizeof(ah.buffer.data)"));
    ck_assert_int_eq(rs_py_long("len(s.largest('list', 3))"), 3);
    ck_assert_int_eq(rs_py_long("m['objects']"), rs_py_long("sum(s.size(o) for o in s.objects())"));
    ck_assert_int_gt(rs_py_long("m['rss']"), rs_py_long("m['objects']"));
    ck_assert_str_eq(rs_py_str("'RSS' in m['line'] and 'Python objects' in m['line']"), "True");
    /* With pymalloc (not under PYTHONMALLOC=malloc) the arenas are read. */
    ck_assert_str_eq(rs_py_str("m['arenas'] is None or m['arenas']['used'] <= m['arenas']['bytes']"), "True");
}
END_TEST

START_TEST(test_analyses_allocated_at)
{
    /* Check whether allocated_at() is None when tracemalloc does not trace,
     * and after mark(trace=True) names the line that created the object. */
    import_fixtures();
    rs_py_run("item = ah.Item()\n"
              "s = refscope.snapshot()\n"
              "untraced = s.allocated_at(item)\n"
              "s.close()\n"
              "refscope.mark(trace=True)\n"
              "item = ah.traced_item()\n"
              "s = refscope.snapshot()\n"
              "tb = s.allocated_at(item)\n"
              "line = [i for i, l in enumerate(open(ah.__file__), 1) if 'the allocation site tests' in l][0]\n");
    ck_assert_str_eq(rs_py_str("untraced"), "None");
    ck_assert_str_eq(rs_py_str("tracemalloc.is_tracing()"), "True");
    ck_assert_str_eq(rs_py_str("tb[-1].filename == ah.__file__ and tb[-1].lineno == line"), "True");
}
END_TEST

START_TEST(test_analyses_report)
{
    /* Check whether the report, as JSON and as text, lists the growth since
     * the mark with its allocation site, the fixture's cycle with the edge
     * to break, and paths of representative objects; file= receives it. */
    import_fixtures();
    rs_py_run("ah.leaky_state()\n"
              "s = refscope.snapshot()\n"
              "j = json.loads(refscope.report(format='json', top=5, snapshot=s))\n"
              "text = refscope.report(top=5, snapshot=s)\n"
              "out = io.StringIO()\n"
              "returned = refscope.report(file=out, snapshot=s)\n"
              "grown = {t['type']: t for t in j['growth']['types']}\n"
              "rec = grown['fixtures.analyses_heap.Record']\n"
              "link_cycles = [c for c in j['cycles']['top'] if 'fixtures.analyses_heap.Link' in c['types']]\n");
    ck_assert_str_eq(rs_py_str("j['format'], j['version']"), "('refscope-report', 1)");
    ck_assert_int_eq(rs_py_long("j['objects']"), rs_py_long("len(s)"));
    ck_assert_str_eq(rs_py_str("sorted(j)"),
                     "['allocation_sites', 'closures', 'cycles', 'edges', 'format', 'garbage', 'growth', "
                     "'memory', 'objects', 'snapshot_seconds', 'strings', 'suspects', 'tracing', "
                     "'types', 'unexplained', 'version']");
    ck_assert_int_eq(rs_py_long("rec['delta_count']"), 300);
    ck_assert_str_eq(rs_py_str("rec['example']['path'].startswith(\"sys.modules['fixtures.analyses_heap'].leak_list[\")"),
                     "True");
    ck_assert_str_eq(rs_py_str("rec['example']['allocated_at'].startswith(ah.__file__)"), "True");
    ck_assert_str_eq(rs_py_str("any(site['types'].get('fixtures.analyses_heap.Record') == 300 "
                               "for site in j['allocation_sites'])"),
                     "True");
    ck_assert_int_eq(rs_py_long("len(link_cycles)"), 1);
    ck_assert_str_eq(rs_py_str("link_cycles[0]['break']['label']"), ".parent");
    ck_assert_str_eq(rs_py_str("'weakref' in link_cycles[0]['break']['suggestion']"), "True");
    ck_assert_str_eq(rs_py_str("j['types'][0]['retained'] >= j['types'][-1]['retained']"), "True");
    ck_assert_str_eq(rs_py_str("all(k in j['memory'] for k in ('objects', 'rss', 'line'))"), "True");
    ck_assert_str_eq(rs_py_str("returned is None and out.getvalue().startswith('refscope leak-suspects report')"),
                     "True");
    const char *const sections[] = {"Top types by retained size", "Growth since the mark", "Cycles:", "Garbage:",
                                    "Biggest closures", "References nothing in the snapshot explains",
                                    "Largest strings", "Allocation sites"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char expr[160];
        snprintf(expr, sizeof expr, "%s in text", "'%s'");
        char filled[200];
        snprintf(filled, sizeof filled, expr, sections[i]);
        ck_assert_msg(rs_py_long(filled), "section missing: %s", sections[i]);
    }
    ck_assert_str_eq(rs_py_str("\"alive via sys.modules['fixtures.analyses_heap'].leak_list[\" in text"), "True");
    ck_assert_str_eq(rs_py_str("'make .parent a weakref.ref' in text"), "True");
}
END_TEST

START_TEST(test_analyses_report_unexplained_references)
{
    /* Check whether references taken and never released (a leaky C
     * extension) put the object first among the unexplained references of
     * the report, with that count, and s.unexplained() agrees. */
    import_fixtures();
    rs_py_run("ah.leak_references(ah.victim, 77)\n"
              "s = refscope.snapshot()\n"
              "j = json.loads(refscope.report(format='json', snapshot=s))\n"
              "first = j['unexplained'][0]\n");
    ck_assert_int_eq(rs_py_long("first['unexplained']"), 77);
    ck_assert_int_eq(rs_py_long("s.unexplained(ah.victim)"), 77);
    ck_assert_str_eq(rs_py_str("first['object']['type']"), "fixtures.analyses_heap.Victim");
    ck_assert_str_eq(rs_py_str("first['object']['address'] == '%#x' % id(ah.victim)"), "True");
    ck_assert_str_eq(rs_py_str("first['object']['path']"), "sys.modules['fixtures.analyses_heap'].victim");
}
END_TEST

START_TEST(test_analyses_to_json)
{
    /* Check whether to_json() writes JSON whose nodes are the snapshot's
     * objects, with sizes and referents equal to what the snapshot says,
     * to a text file, a binary file or a path. */
    import_fixtures();
    rs_py_run("s = refscope.snapshot()\n"
              "buf = io.StringIO()\n"
              "s.to_json(buf)\n"
              "d = json.loads(buf.getvalue())\n"
              "index = {n[0]: i for i, n in enumerate(d['nodes'])}\n"
              "r = ah.cache['key-5']\n"
              "i = index[id(r)]\n"
              "raw = io.BytesIO()\n"
              "s.to_json(raw)\n");
    ck_assert_str_eq(rs_py_str("d['format'], d['version']"), "('refscope-snapshot', 1)");
    ck_assert_int_eq(rs_py_long("len(d['nodes'])"), rs_py_long("len(s)"));
    ck_assert_int_eq(rs_py_long("len(d['referents'])"), rs_py_long("len(s)"));
    ck_assert_str_eq(rs_py_str("d['types'][d['nodes'][i][1]]"), "fixtures.analyses_heap.Record");
    ck_assert_int_eq(rs_py_long("d['nodes'][i][2]"), rs_py_long("sys.getsizeof(r)"));
    ck_assert_str_eq(rs_py_str("[d['nodes'][k][0] for k in d['referents'][i]] == [id(o) for o, _ in s.referents(r)]"),
                     "True");
    ck_assert_str_eq(rs_py_str("d['roots'][0]['kind']"), "module");
    ck_assert_str_eq(rs_py_str("json.loads(raw.getvalue())['objects'] == d['objects']"), "True");
}
END_TEST

START_TEST(test_analyses_to_dot)
{
    /* Check whether to_dot() writes a digraph around the object whose
     * edges are labelled and whose nodes are all declared, within depth. */
    import_fixtures();
    rs_py_run("import re\n"
              "s = refscope.snapshot()\n"
              "buf = io.StringIO()\n"
              "r = ah.cache['key-6']  # even: inline values, no __dict__\n"
              "s.to_dot(buf, r, depth=1)\n"
              "dot = buf.getvalue()\n"
              "declared = set(re.findall(r'^  (n\\d+) \\[label=', dot, re.M))\n"
              "edges = re.findall(r'^  (n\\d+) -> (n\\d+) \\[label=\"([^\"]*)\"', dot, re.M)\n"
              "back = io.StringIO()\n"
              "s.to_dot(back, r, depth=1, direction='referrers')\n");
    ck_assert_str_eq(rs_py_str("dot.startswith('digraph refscope {') and dot.rstrip().endswith('}')"), "True");
    ck_assert_str_eq(rs_py_str("all(a in declared and b in declared for a, b, l in edges)"), "True");
    ck_assert_str_eq(rs_py_str("sorted(l for a, b, l in edges)"), "['.__class__', '.name', '.payload', '.value']");
    ck_assert_int_eq(rs_py_long("len(declared)"), 5);
    ck_assert_str_eq(rs_py_str("\"['key-6']\" in back.getvalue()"), "True");
}
END_TEST

START_TEST(test_analyses_to_dot_depth_and_cuts)
{
    /* Check whether to_dot(depth=3) on a 30 x 30 x 30 nest of lists draws
     * objects three levels down, marks each list whose items it left out
     * with a "N more referents" note, states the depth and the cut in the
     * graph's label, and direction='both' draws the referrers too. */
    import_fixtures();
    rs_py_run("import re\n"
              "nest = [[[object() for _ in range(30)] for _ in range(30)] for _ in range(30)]\n"
              "ah.nest_for_dot = nest\n"
              "s = refscope.snapshot()\n"
              "buf = io.StringIO()\n"
              "s.to_dot(buf, nest, depth=3, max_nodes=200)\n"
              "dot = buf.getvalue()\n"
              "deepest = '%#x' % id(nest[0][0][0])\n"
              "notes = re.findall(r'label=\"(\\d+) more referents not drawn\"', dot)\n"
              "both = io.StringIO()\n"
              "s.to_dot(both, nest[0], depth=1, direction='both')\n"
              "del ah.nest_for_dot\n");
    ck_assert_str_eq(rs_py_str("deepest in dot"), "True");
    ck_assert_str_eq(rs_py_str("'3 levels deep' in dot and 'where it was cut' in dot"), "True");
    ck_assert_int_ge(rs_py_long("len(notes)"), 2);
    ck_assert_str_eq(rs_py_str("set(notes) == {'25'}"), "True");
    ck_assert_int_le(rs_py_long("len(re.findall(r'^  n\\d+ \\[label=', dot, re.M))"), 200);
    ck_assert_str_eq(rs_py_str("'[0]' in both.getvalue() and 'referents and referrers' in both.getvalue()"), "True");
    /* The holder of nest[0] is nest, whose repr starts three brackets deep. */
    ck_assert_str_eq(rs_py_str("'[[[<object object at ' + deepest in both.getvalue()"), "True");
}
END_TEST

START_TEST(test_analyses_no_reference_leaks)
{
    /* Check whether running every analysis and dropping the answers and
     * the snapshot gives every refcount back. */
    import_fixtures();
    rs_py_run("objs = [ah.cache, ah.cache['key-1'], ah.counter, ah.finalizer_cycle, ah.buffer.data, ah.Record]\n"
              "refscope.mark()\n"
              "before = [sys.getrefcount(o) for o in objs]\n"
              "s = refscope.snapshot()\n"
              "answers = [s.garbage(), s.closures(), s.frames(), s.retained(ah.cache), s.retained_by_type(),\n"
              "           s.largest('dict', 5), s.strings_by_holder(), s.process_memory(), s.cycles(),\n"
              "           refscope.report(snapshot=s), refscope.report(snapshot=s, format='json')]\n"
              "s.to_json(io.StringIO()); s.to_dot(io.StringIO(), ah.cache['key-1'])\n"
              "refscope.growth()\n"
              "answers = None\n"
              "s.close()\n"
              "after = [sys.getrefcount(o) for o in objs]\n");
    ck_assert_str_eq(rs_py_str("after == before"), "True");
}
END_TEST

/* Analyses whose allocation failures are tried. */
static const char *const failing_calls[] = {"cycles", "garbage", "closures", "frames", "retained",
                                            "retained_by_type", "strings", "growth", "report", "to_json"};

START_TEST(test_analyses_allocation_failure_is_memory_error)
{
    /* Check whether making each of the first allocations of an analysis
     * fail gives MemoryError (never a crash or another error), and the
     * analysis works again once allocations succeed. */
    import_fixtures();
    char code[160];
    snprintf(code, sizeof code, "failed, succeeded, other = ah.allocation_failures('%s')\n", failing_calls[_i]);
    rs_py_run(code);
    ck_assert_msg(rs_py_long("len(other)") == 0, "%s: %s", failing_calls[_i], rs_py_str("other[:3]"));
    ck_assert_int_gt(rs_py_long("failed"), 0);
    ck_assert_int_eq(rs_py_long("failed + succeeded"), getenv("RS_VALGRIND") ? 8 : 30);
    rs_py_run("s = refscope.snapshot()\n");
    snprintf(code, sizeof code, "ah.FAILING_CALLS['%s'](s) is not None or True", failing_calls[_i]);
    ck_assert_int_eq(rs_py_long(code), 1);
}
END_TEST

Suite *suite_analyses(void)
{
    Suite *s = suite_create("analyses");
    TCase *tc = tcase_create("analyses");
    tcase_set_timeout(tc, getenv("RS_VALGRIND") ? 600 : 120);
    tcase_add_test(tc, test_analyses_retained_cache);
    tcase_add_test(tc, test_analyses_retained_by_type_matches_retained_sets);
    tcase_add_test(tc, test_analyses_garbage_finalizer_in_cycle);
    tcase_add_test(tc, test_analyses_garbage_debug_saveall);
    tcase_add_test(tc, test_analyses_garbage_pending_cycle);
    tcase_add_test(tc, test_analyses_closures);
    tcase_add_test(tc, test_analyses_frames);
    tcase_add_test(tc, test_analyses_growth);
    tcase_add_test(tc, test_analyses_growth_nodes_only_walk);
    tcase_add_test(tc, test_analyses_growth_sizes);
    tcase_add_test(tc, test_analyses_growth_reused_addresses);
    tcase_add_test(tc, test_analyses_growth_against_python);
    tcase_add_test(tc, test_analyses_growth_walk_matches_snapshot);
    tcase_add_test(tc, test_analyses_growth_hidden_untracked);
    tcase_add_test(tc, test_analyses_builtin_sizes);
    tcase_add_test(tc, test_analyses_growth_errors);
    tcase_add_test(tc, test_analyses_strings_and_memory);
    tcase_add_test(tc, test_analyses_string_lengths);
    tcase_add_test(tc, test_analyses_allocated_at);
    tcase_add_test(tc, test_analyses_report);
    tcase_add_test(tc, test_analyses_report_unexplained_references);
    tcase_add_test(tc, test_analyses_to_json);
    tcase_add_test(tc, test_analyses_to_dot);
    tcase_add_test(tc, test_analyses_to_dot_depth_and_cuts);
    tcase_add_test(tc, test_analyses_no_reference_leaks);
    tcase_add_loop_test(tc, test_analyses_allocation_failure_is_memory_error, 0,
                        (int)(sizeof failing_calls / sizeof failing_calls[0]));
    suite_add_tcase(s, tc);
    return s;
}

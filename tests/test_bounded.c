/* Work bounded by what is shown (issue 10, items 6 and 7): labels of a
 * holder's edges come from one pass over it, reprs are written into a
 * budget, report() sums up long rings and paths and samples allocation
 * sites.  Written as comparisons between a small and a ten times bigger
 * input, counted by refscope's own work counters (refscope._refscope._work),
 * never as timings.  Fixtures: tests/hostile/reprs.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_bounded(void)
{
    rs_py_run("import gc, sys, refscope, tracemalloc\n"
              "import hostile.reprs as R\n"
              "from refscope._refscope import _work, _safe_repr\n"
              "def work(counter, fn, *args):\n"
              "    before = _work()[counter]\n"
              "    result = fn(*args)\n"
              "    return _work()[counter] - before, result\n");
}

/* Holders of n edges each; `make` builds one as `h` (and the edges'
 * targets), `edges` names the call whose labelling work is counted and
 * `labels` what its labels must be. */
static const struct {
    const char *what;
    const char *make;
    const char *edges;
    const char *labels;
} holder_cases[] = {
    {"dict of str keys: referents", "h = {'k%d' % i: object() for i in range(n)}", "s.referents(h)",
     "[\"['k%d']\" % i for i in range(n)]"},
    /* list and tuple traverse their items last first. */
    {"list: referents", "h = [object() for i in range(n)]", "s.referents(h)",
     "['[%d]' % i for i in reversed(range(n))]"},
    {"tuple: referents", "h = tuple(object() for i in range(n))", "s.referents(h)",
     "['[%d]' % i for i in reversed(range(n))]"},
    {"set: referents", "h = {object() for i in range(n)}", "s.referents(h)", "['<item>'] * n"},
    {"one object held n times by a list: referrers", "h = [object()] * n", "s.referrers(h[0])",
     "['[%d]' % i for i in range(n)]"},
    {"dict of int keys: referents", "h = {i + 10**6: object() for i in range(n)}", "s.referents(h)",
     "[l for i in range(n) for l in ('[%d]' % (i + 10**6), '<key %d>' % (i + 10**6))]"},
};

START_TEST(test_bounded_labels_linear)
{
    /* Check whether labelling a holder's 80k edges takes at most 10x the label work of 8k edges, with exact labels. */
    import_bounded();
    long work[2];
    for (int big = 0; big < 2; big++) {
        char code[1024];
        snprintf(code, sizeof code,
                 "n = %d\n%s\ns = refscope.snapshot()\n"
                 "w, edges = work('label_items', lambda: %s)\n"
                 "got = [l for o, l in edges]\n",
                 big ? 80000 : 8000, holder_cases[_i].make, holder_cases[_i].edges);
        rs_py_run(code);
        if (strstr(holder_cases[_i].edges, "referrers") != NULL)
            rs_py_run("got = [l for o, l in edges if o is h]\n");
        else
            ck_assert_int_eq(rs_py_long("[id(o) for o, l in edges] == [id(o) for o in gc.get_referents(h)]"), 1);
        snprintf(code, sizeof code, "got == %s", holder_cases[_i].labels);
        ck_assert_msg(rs_py_long(code) == 1, "%s: wrong labels, e.g. %s", holder_cases[_i].what, rs_py_str("got[:3]"));
        work[big] = rs_py_long("w");
        rs_py_run("s.close()\ndel h, edges, got\n");
    }
    ck_assert_msg(work[1] <= 10 * work[0], "%s: label work %ld for 80k edges, %ld for 8k", holder_cases[_i].what,
                  work[1], work[0]);
    ck_assert_int_ge(work[1], 80000);
}
END_TEST

START_TEST(test_bounded_labels_edge_by_edge)
{
    /* Check whether callers that ask label after label of one holder (Cycle.edges, the browser's rows) stay linear. */
    import_bounded();
    long work[2];
    for (int big = 0; big < 2; big++) {
        char code[512];
        snprintf(code, sizeof code,
                 "n = %d\n"
                 "hub = {}\n"
                 "for i in range(n):\n"
                 "    node = R.Node()\n"
                 "    node.hub = hub\n"
                 "    hub['k%%d' %% i] = node\n"
                 "s = refscope.snapshot()\n"
                 "w, edges = work('label_items', lambda: s.cycle_of(hub).edges)\n"
                 "from_hub = sorted(l for a, b, l in edges if a is hub)\n"
                 "s.close()\n",
                 big ? 80000 : 8000);
        rs_py_run(code);
        ck_assert_int_eq(rs_py_long("from_hub == sorted(\"['k%d']\" % i for i in range(n))"), 1);
        ck_assert_int_eq(rs_py_long("len(edges)"), rs_py_long("2 * n"));
        work[big] = rs_py_long("w");
        rs_py_run("del hub, edges, from_hub, node\n");
    }
    ck_assert_msg(work[1] <= 10 * work[0], "label work %ld for 80k edges, %ld for 8k", work[1], work[0]);
}
END_TEST

/* A value of a big dict asked for its referrers: the label of the dict's
 * edge is read from the dict's entry when its layout allows (no pass over
 * the dict), whatever order the values were created in; a dict with a
 * deleted entry still gets the exact label from a pass.  Values are lists
 * (gc-tracked, so node order is their creation order); the value asked
 * about is held only by the dict and a one-item list. */
static const struct {
    const char *what;
    const char *make; /* builds h, a dict of n entries */
    const char *key;  /* the key of the value asked about */
    int constant;     /* label work must not grow with the dict */
} dict_entry_cases[] = {
    {"str keys", "h = {'k%d' % i: [] for i in range(n)}", "'k%d' % (n - 7)", 1},
    {"tuple keys (keys visited too)", "h = {(i,): [] for i in range(n)}", "(n - 7,)", 1},
    {"values created in another order",
     "vs = [[] for i in range(n)]\nh = {'k%d' % i: vs[(i * 7919) % n] for i in range(n)}\ndel vs", "'k%d' % (n - 7)",
     1},
    {"a deleted entry", "h = {'k%d' % i: [] for i in range(n)}\ndel h['k0']", "'k%d' % (n - 7)", 0},
};

START_TEST(test_bounded_dict_entry_label)
{
    /* Check whether a big dict's edge to one value gets its exact label with work that does not grow with the dict. */
    import_bounded();
    long work[2];
    for (int big = 0; big < 2; big++) {
        char code[1024];
        snprintf(code, sizeof code,
                 "n = %d\n%s\nkey = %s\nkeep = [h[key]]\ns = refscope.snapshot()\n"
                 "w, edges = work('label_items', lambda: s.referrers(keep[0]))\n"
                 "got = [l for o, l in edges if o is h]\n",
                 big ? 80000 : 8000, dict_entry_cases[_i].make, dict_entry_cases[_i].key);
        rs_py_run(code);
        ck_assert_msg(rs_py_long("got == ['[%r]' % (key,)]") == 1, "%s: wrong label %s", dict_entry_cases[_i].what,
                      rs_py_str("got"));
        ck_assert_int_eq(rs_py_long("len(edges)"), 2);
        work[big] = rs_py_long("w");
        rs_py_run("s.close()\ndel h, keep, edges, got\n");
    }
    if (dict_entry_cases[_i].constant)
        ck_assert_msg(work[1] == work[0], "%s: label work %ld for an 80k dict, %ld for 8k", dict_entry_cases[_i].what,
                      work[1], work[0]);
    else
        ck_assert_msg(work[1] > 8 * work[0], "%s: label work %ld for an 80k dict, %ld for 8k: no pass?",
                      dict_entry_cases[_i].what, work[1], work[0]);
}
END_TEST

START_TEST(test_bounded_repr_equals_repr)
{
    /* Check whether the bounded repr of small containers, str, bytes and ints equals repr(). */
    import_bounded();
    rs_py_run("cases = R.SMALL + R.SUBCLASSED + R.self_containing()\n"
              "wrong = [(repr(c), _safe_repr(c, 400)) for c in cases if _safe_repr(c, 400) != repr(c)]\n");
    ck_assert_msg(rs_py_long("len(wrong)") == 0, "differs from repr(): %s", rs_py_str("wrong"));
    ck_assert_int_ge(rs_py_long("len(cases)"), 29);
    /* Any budget is fine, also one no buffer could hold. */
    ck_assert_str_eq(rs_py_str("_safe_repr([1, 'a'], 2**62)"), "[1, 'a']");
    ck_assert_str_eq(rs_py_str("_safe_repr([1, 'a'], -5)"), "[...");
    /* Round trip where the text allows it. */
    ck_assert_int_eq(rs_py_long("all(eval(_safe_repr(c, 400)) == c for c in R.SMALL)"), 1);
}
END_TEST

/* Big objects: the repr is cut to the budget and the items visited do not
 * grow with the object. */
static const struct {
    const char *what;
    const char *obj;
    const char *expected; /* the repr, as a Python expression */
} big_cases[] = {
    {"list of 1M ints", "list(range(10**6))", "'[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11...'"},
    {"tuple of 1M ints", "tuple(range(10**6))", "'(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11...'"},
    {"dict of 1M items", "dict.fromkeys(range(10**6), 0)", "'{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, ...'"},
    {"set of 1M ints", "set(range(10**6))", "'{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11...'"},
    {"str of 10M chars", "'ab' * 5 * 10**6", "\"'\" + 'ab' * 18 + '...'"},
    {"bytes of 10M", "b'\\x00' * 10**7", "\"b'\" + '\\\\x00' * 8 + '...'"},
    {"int of 1M digits", "10 ** 10**6", "'<int of %d bits>' % (10 ** 10**6).bit_length()"},
    {"negative int of 1M digits", "-(10 ** 10**6)", "'<negative int of %d bits>' % (10 ** 10**6).bit_length()"},
    {"list nested 10k deep (32 levels shown)", "nest(10**4)", "'[' * 32 + '...'"},
};

START_TEST(test_bounded_repr_big)
{
    /* Check whether huge containers, strings and ints get a 40-character repr visiting a bounded number of items. */
    import_bounded();
    rs_py_run("def nest(n):\n"
              "    x = []\n"
              "    for _ in range(n):\n"
              "        x = [x]\n"
              "    return x\n");
    char code[512];
    snprintf(code, sizeof code, "obj = %s\nw, text = work('repr_items', _safe_repr, obj, 40)\nexpected = %s\n",
             big_cases[_i].obj, big_cases[_i].expected);
    rs_py_run(code);
    ck_assert_msg(rs_py_long("text == expected") == 1, "%s: %s, not %s", big_cases[_i].what, rs_py_str("text"),
                  rs_py_str("expected"));
    ck_assert_int_le(rs_py_long("len(text)"), 40);
    ck_assert_int_le(rs_py_long("w"), 40);
    rs_py_run("del obj\n");
}
END_TEST

/* Items whose own __repr__ misbehaves, inside containers refscope writes. */
static const struct {
    const char *what;
    const char *obj;
    const char *expected; /* the repr, as a Python expression */
} guarded_cases[] = {
    {"item's __repr__ raises", "[R.Raises(), 1]", "'[<repr failed: ValueError>, 1]'"},
    {"item's __repr__ returns an int", "(R.Lies(),)", "'(<repr failed: TypeError>,)'"},
    {"item's __repr__ returns 10 MB", "{1: R.Huge()}", "'{1: ' + 'x' * 33 + '...'"},
    {"item's __repr__ recurses forever", "[R.Recurses()]", "'[<repr failed: RecursionError>]'"},
    {"item's __repr__ has escapes", "[R.Escapes()]", "'[red\\\\x1b[31m!\\\\n]'"},
    {"item's __repr__ has a lone surrogate", "[R.Surrogate()]", "'[bad\\\\udc80]'"},
    {"item's __repr__ empties its list", "R.emptied_list()", "'[0, Empties(), 2, 3, 4]'"},
    {"item's __repr__ empties its dict", "R.emptied_dict()", "\"{'a': Empties()}\""},
    /* A set that changes size stops the iteration: the text ends there. */
    {"item's __repr__ empties its set", "R.emptied_set()",
     "result if result.endswith('...') and 'Empties()' in result and result[0] == '{' else 'not cut'"},
};

START_TEST(test_bounded_repr_guarded)
{
    /* Check whether items with hostile reprs (raising, lying, huge, recursive, mutating) give safe container text. */
    import_bounded();
    char code[512];
    snprintf(code, sizeof code, "obj = %s\nresult = _safe_repr(obj, 40)\nexpected = %s\n", guarded_cases[_i].obj,
             guarded_cases[_i].expected);
    rs_py_run(code);
    ck_assert_msg(rs_py_long("result == expected") == 1, "%s: %s, not %s", guarded_cases[_i].what,
                  rs_py_str("result"), rs_py_str("expected"));
    ck_assert_int_le(rs_py_long("len(result)"), 40);
}
END_TEST

START_TEST(test_bounded_repr_slow_type_asked_once)
{
    /* Check whether a type whose __repr__ blocks is asked once per snapshot: later objects of it get the default form. */
    import_bounded();
    rs_py_run("R.Slow.calls = 0\n"
              "s = refscope.snapshot()\n"
              "items = [R.Slow() for _ in range(5)]\n"
              "text = _safe_repr(items, 400)\n"
              "again = _safe_repr(items[0], 100)\n"
              "s.close()\n");
    ck_assert_int_eq(rs_py_long("R.Slow.calls"), 1);
    ck_assert_int_eq(rs_py_long("text.startswith('[Slow(), <Slow object at 0x%x; slow __repr__ skipped>' % id(items[1]))"), 1);
    ck_assert_int_eq(rs_py_long("again == '<Slow object at 0x%x; slow __repr__ skipped>' % id(items[0])"), 1);
    /* A new snapshot asks the type again. */
    rs_py_run("s = refscope.snapshot()\nagain = _safe_repr(items[0], 100)\ns.close()\n");
    ck_assert_int_eq(rs_py_long("R.Slow.calls"), 2);
    ck_assert_int_eq(rs_py_long("again == 'Slow()'"), 1);
    rs_py_run("del items, text, again, s\n");
}
END_TEST

START_TEST(test_bounded_big_key_label)
{
    /* Check whether a dict key that is a 1M-item tuple gives a 40-character label at bounded repr work. */
    import_bounded();
    rs_py_run("d, value = R.big_key_dict(10**6)\n"
              "s = refscope.snapshot()\n"
              "w, edges = work('repr_items', s.referrers, value)\n"
              "labels = [l for o, l in edges if o is d]\n"
              "s.close()\n");
    ck_assert_int_eq(rs_py_long("labels == ['[%s]' % _safe_repr(next(iter(d)), 40)]"), 1);
    ck_assert_int_eq(rs_py_long("labels[0].startswith('[(0, 1, 2, 3,') and labels[0].endswith('...]')"), 1);
    ck_assert_int_le(rs_py_long("len(labels[0])"), 42);
    ck_assert_int_le(rs_py_long("w"), 100);
}
END_TEST

START_TEST(test_bounded_report_ring)
{
    /* Check whether report() sums up a 20k-object ring in one short line, as short as for a 200-object ring. */
    import_bounded();
    long longest[2];
    for (int big = 0; big < 2; big++) {
        char code[512];
        snprintf(code, sizeof code,
                 "N = %d\n"
                 "R.RING = R.ring(N)\n"
                 "text = refscope.report(top=50)\n"
                 /* built at run time: the report also lists this code's strings */
                 "wanted = 'ring: ring of %%d objects' %% N\n"
                 "rings = [l for l in text.splitlines() if wanted in l]\n"
                 "longest = max(len(l) for l in text.splitlines())\n"
                 "del R.RING\n",
                 big ? 20000 : 200);
        rs_py_run(code);
        ck_assert_int_eq(rs_py_long("len(rings)"), 1);
        ck_assert_int_eq(rs_py_long("'.next -> ' in rings[0] and '(first 8 of' in rings[0]"), 1);
        longest[big] = rs_py_long("longest");
    }
    ck_assert_int_le(longest[1], 1000);
    ck_assert_int_le(longest[1], longest[0] + 20);
}
END_TEST

START_TEST(test_bounded_report_big_lists)
{
    /* Check whether report() over a dict of big lists does repr work independent of the lists' length. */
    import_bounded();
    long work[2];
    for (int big = 0; big < 2; big++) {
        char code[256];
        snprintf(code, sizeof code,
                 "R.LISTS = R.big_lists(%d)\nw, text = work('repr_items', refscope.report)\ndel R.LISTS\n",
                 big ? 200000 : 20000);
        rs_py_run(code);
        work[big] = rs_py_long("w");
    }
    ck_assert_msg(work[1] <= work[0] + 200, "repr work %ld with 200k-item lists, %ld with 20k", work[1], work[0]);
}
END_TEST

START_TEST(test_bounded_report_traced)
{
    /* Check whether report() with tracemalloc on looks up a bounded number of allocation sites. */
    import_bounded();
    long lookups[2];
    rs_py_run("tracemalloc.start()\nrefscope.mark()\n");
    for (int big = 0; big < 2; big++) {
        char code[256];
        snprintf(code, sizeof code,
                 "R.JUNK = [[i] for i in range(%d)]\nw, text = work('site_lookups', refscope.report)\ndel R.JUNK\n",
                 big ? 400000 : 40000);
        rs_py_run(code);
        lookups[big] = rs_py_long("w");
        ck_assert_int_eq(rs_py_long("'Allocation sites' in text"), 1);
    }
    rs_py_run("tracemalloc.stop()\n");
    ck_assert_int_ge(lookups[0], 1000);
    ck_assert_int_le(lookups[1], 20000);
}
END_TEST

Suite *suite_bounded(void)
{
    Suite *s = suite_create("bounded");
    TCase *tc = tcase_create("bounded");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_bounded_labels_linear, 0, (int)(sizeof holder_cases / sizeof holder_cases[0]));
    tcase_add_test(tc, test_bounded_labels_edge_by_edge);
    tcase_add_loop_test(tc, test_bounded_dict_entry_label, 0,
                        (int)(sizeof dict_entry_cases / sizeof dict_entry_cases[0]));
    tcase_add_test(tc, test_bounded_repr_equals_repr);
    tcase_add_loop_test(tc, test_bounded_repr_big, 0, (int)(sizeof big_cases / sizeof big_cases[0]));
    tcase_add_loop_test(tc, test_bounded_repr_guarded, 0, (int)(sizeof guarded_cases / sizeof guarded_cases[0]));
    tcase_add_test(tc, test_bounded_repr_slow_type_asked_once);
    tcase_add_test(tc, test_bounded_big_key_label);
    tcase_add_test(tc, test_bounded_report_ring);
    tcase_add_test(tc, test_bounded_report_big_lists);
    tcase_add_test(tc, test_bounded_report_traced);
    suite_add_tcase(s, tc);
    return s;
}

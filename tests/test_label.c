/* Edge labels (src/label.c): a table of fixtures with known layouts, each
 * edge checked for its exact label text through referents() and
 * referrers(), a thread's frame local, and dict keys whose __repr__,
 * __hash__ and __eq__ misbehave.  Fixtures: tests/fixtures/labels.py,
 * worker.py, tests/hostile/dict_keys.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

/* One labelled edge: `actual` is a Python expression over the snapshot `s`
 * and a fixture namespace that evaluates to the label; rl(s, holder,
 * target) picks the one edge out of s.referents(holder), rr(s, target,
 * holder) out of s.referrers(target), rls/rrs join every such label. */
typedef struct label_case {
    const char *what;
    const char *actual;
    const char *expected;
} label_case;

static const label_case layout_cases[] = {
    {"dict value", "rl(s, L.d, L.value)", "['key']"},
    {"dict value, from the value", "rr(s, L.value, L.d)", "['key']"},
    {"non-str dict key", "rl(s, L.int_keyed, 3)", "<key 3>"},
    {"value under a non-str key", "rl(s, L.int_keyed, L.int_value)", "[3]"},
    {"inline instance attribute", "rl(s, L.plain, L.attr_value)", ".attr"},
    {"inline instance attribute, from the value", "rr(s, L.attr_value, L.plain)", ".attr"},
    {"instance -> its materialized __dict__", "rl(s, L.materialized, L.materialized.__dict__)", ".__dict__"},
    {"materialized __dict__ -> value", "rl(s, L.materialized.__dict__, L.materialized.attr)", "['attr']"},
    {"path through a materialized __dict__ folds", "str(s.path(sys.modules['labelapp'].holder.attr))",
     "sys.modules['labelapp'].holder.attr"},
    {"__slots__ member", "rl(s, L.slotted, L.slot_value)", ".name"},
    {"__slots__ member, from the value", "rr(s, L.slot_value, L.slotted)", ".name"},
    {"second __slots__ member", "rl(s, L.slotted, L.slotted.other)", ".other"},
    {"list index", "rl(s, L.lst, L.lst[3])", "[3]"},
    {"list index, from the item", "rr(s, L.lst[3], L.lst)", "[3]"},
    {"tuple index", "rl(s, L.tup, L.tup[1])", "[1]"},
    {"set item", "rl(s, L.st, L.member)", "<item>"},
    {"frozenset item", "rl(s, L.fz, L.member)", "<item>"},
    {"frozenset item, from the item", "rr(s, L.member, L.fz)", "<item>"},
    {"closure tuple -> cell", "rl(s, L.closure.__closure__, L.closure.__closure__[0])", "<closure var 'x'>"},
    {"cell -> contents", "rl(s, L.closure.__closure__[0], L.closure_value)", ".cell_contents"},
    {"cell -> contents, from the contents", "rr(s, L.closure_value, L.closure.__closure__[0])", ".cell_contents"},
    {"function -> closure", "rl(s, L.closure, L.closure.__closure__)", ".__closure__"},
    {"function -> globals", "rl(s, L.closure, L.closure.__globals__)", ".__globals__"},
    {"function -> code", "rl(s, L.closure, L.closure.__code__)", ".__code__"},
    {"function -> defaults", "rl(s, L.with_defaults, L.with_defaults.__defaults__)", ".__defaults__"},
    {"bound method -> self", "rl(s, L.bound, L.plain)", ".__self__"},
    {"bound method -> self, from self", "rr(s, L.plain, L.bound)", ".__self__"},
    {"bound method -> function", "rl(s, L.bound, L.bound.__func__)", ".__func__"},
    {"instance -> class", "rl(s, L.plain, L.Plain)", ".__class__"},
    {"class -> mro", "rl(s, L.Plain, L.Plain.__mro__)", ".__mro__"},
    {"class -> bases", "rl(s, L.Plain, L.Plain.__bases__)", ".__bases__"},
    {"module -> dict", "rl(s, L.module, L.module.__dict__)", ".__dict__"},
    {"suspended generator's local", "rl(s, L.gen, L.gen_item)", "<local 'item' in produce()>"},
    {"C member (functools.partial)", "rl(s, L.partial, L.partial.func)", ".func"},
    {"exception -> args", "rl(s, L.error, L.error.args)", ".args"},
    {"exception -> traceback", "rl(s, L.error, L.error.__traceback__)", ".__traceback__"},
    {"edge no enumerator explains", "rl(s, L.chain, L.chain_source)", "<referent 0>"},
    {"one target twice in a list", "rls(s, L.dup_list, L.shared)", "[0]|[2]"},
    {"one target twice in a list, from it", "rrs(s, L.shared, L.dup_list)", "[0]|[2]"},
    {"one target under two dict keys", "rls(s, L.dup_dict, L.shared)", "['a']|['b']"},
    {"one target under two dict keys, from it", "rrs(s, L.shared, L.dup_dict)", "['a']|['b']"},
    {"one target twice in a tuple", "rls(s, L.dup_tuple, L.shared)", "[0]|[1]"},
};

static void assert_label_case(const label_case *c)
{
    const char *got = rs_py_str(c->actual);
    ck_assert_msg(strcmp(got, c->expected) == 0, "%s: %s is \"%s\", expected \"%s\"", c->what, c->actual, got,
                  c->expected);
}

START_TEST(test_label_layouts)
{
    /* Check whether each fixture edge of the layout table gets exactly its label. */
    rs_py_run("import sys, refscope, fixtures.labels\n"
              "from fixtures.labels import L, referent_label as rl, referrer_label as rr\n"
              "from fixtures.labels import referent_labels as rls, referrer_labels as rrs\n"
              "fixtures.labels.build()\n"
              "s = refscope.snapshot()\n");
    assert_label_case(&layout_cases[_i]);
}
END_TEST

START_TEST(test_label_frame_local_of_other_thread)
{
    /* Check whether a local of another thread's blocked frame is the root label, with file and line. */
    rs_py_run("import refscope, fixtures.worker as worker\n"
              "w = worker.Worker('Worker')\n"
              "s = refscope.snapshot()\n"
              "buf = s.instances(worker.WorkerBuffer)[0]\n"
              "p = s.path(buf)\n");
    char expected[256];
    snprintf(expected, sizeof expected, "thread 'Worker' frame worker() worker.py:%ld <local 'buf'>",
             rs_py_long("worker.wait_line()"));
    ck_assert_str_eq(rs_py_str("worker.file_name()"), "worker.py");
    ck_assert_int_eq(rs_py_long("len(s.instances(worker.WorkerBuffer))"), 1);
    ck_assert_int_eq(rs_py_long("len(s.referrers(buf))"), 0);
    ck_assert_int_eq(rs_py_long("len(p)"), 1);
    ck_assert_int_eq(rs_py_long("p[0][0] is buf"), 1);
    ck_assert_str_eq(rs_py_str("p[0][1]"), expected);
    rs_py_run("s.close()\nw.stop()\n");
}
END_TEST

#define HUGE_LABEL "[xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...]" /* 37 x: 40 characters with "..." */

static const label_case hostile_cases[] = {
    {"__repr__ raises: value", "rl(s, H.raises, value(H.raises))", "[<repr failed: ValueError>]"},
    {"__repr__ raises: key", "rl(s, H.raises, key(H.raises))", "<key <repr failed: ValueError>>"},
    {"__repr__ raises: from the value", "rr(s, value(H.raises), H.raises)", "[<repr failed: ValueError>]"},
    {"__repr__ returns an int", "rl(s, H.non_str, value(H.non_str))", "[<repr failed: TypeError>]"},
    {"__repr__ returns an int: key", "rl(s, H.non_str, key(H.non_str))", "<key <repr failed: TypeError>>"},
    {"__repr__ returns 10 MB", "rl(s, H.huge, value(H.huge))", HUGE_LABEL},
    {"__repr__ returns 10 MB: from the value", "rr(s, value(H.huge), H.huge)", HUGE_LABEL},
    {"__repr__ recurses forever", "rl(s, H.recurses, value(H.recurses))", "[<repr failed: RecursionError>]"},
    {"__repr__ with control characters", "rl(s, H.escapes, value(H.escapes))", "[red\\x1b[31m!\\n]"},
    {"__hash__ raises (sanity)", "raised(hash, key(H.touchy))", "RuntimeError"},
    {"__eq__ raises (sanity)", "raised(lambda: key(H.touchy, 0) == key(H.touchy, 1))", "RuntimeError"},
    {"__hash__/__eq__ raise: value", "rl(s, H.touchy, value(H.touchy, 0))", "[<Touchy 1>]"},
    {"__hash__/__eq__ raise: colliding value", "rl(s, H.touchy, value(H.touchy, 1))", "[<Touchy 2>]"},
    {"__hash__/__eq__ raise: key", "rl(s, H.touchy, key(H.touchy, 1))", "<key <Touchy 2>>"},
    {"__hash__/__eq__ raise: from the value", "rr(s, value(H.touchy, 1), H.touchy)", "[<Touchy 2>]"},
    /* The repr empties the dict while its value is labelled; the key's edge
     * is labelled in the same pass over the dict (one pass per holder), so
     * it still gets the name of the entry it came from. */
    {"__repr__ clears its dict: value", "rl(s, H.clearing, H.clearing_value)", "[<Clearing>]"},
    {"__repr__ clears its dict: emptied", "(rl(s, H.clearing, H.clearing_value), len(H.clearing))",
     "('[<Clearing>]', 0)"},
    {"__repr__ clears its dict: key after", "rl(s, H.clearing, H.clearing_key)", "<key <Clearing>>"},
};

START_TEST(test_label_hostile_dict_keys)
{
    /* Check whether dict keys with hostile __repr__/__hash__/__eq__ still get their exact labels. */
    rs_py_run("import refscope, hostile.dict_keys\n"
              "from hostile.dict_keys import H, key, value, raised\n"
              "from fixtures.labels import referent_label as rl, referrer_label as rr\n"
              "hostile.dict_keys.build()\n"
              "s = refscope.snapshot()\n");
    assert_label_case(&hostile_cases[_i]);
}
END_TEST

START_TEST(test_label_lazy_repr)
{
    /* Check whether key reprs run only when a label is asked for, never during the snapshot. */
    rs_py_run("import refscope\n"
              "calls = []\n"
              "class Counted:\n"
              "    def __repr__(self):\n"
              "        calls.append(1)\n"
              "        return 'counted'\n"
              "target = object()\n"
              "d = {Counted(): target}\n"
              "s = refscope.snapshot()\n"
              "after_snapshot = len(calls)\n"
              "labels = [label for obj, label in s.referents(d) if obj is target]\n");
    ck_assert_int_eq(rs_py_long("after_snapshot"), 0);
    ck_assert_str_eq(rs_py_str("labels"), "['[counted]']");
    /* Two edges (value and key), each labelled with the key's repr. */
    ck_assert_int_eq(rs_py_long("len(calls)"), 2);
}
END_TEST

Suite *suite_label(void)
{
    Suite *s = suite_create("label");
    TCase *tc = tcase_create("label");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_label_layouts, 0, (int)(sizeof layout_cases / sizeof layout_cases[0]));
    tcase_add_test(tc, test_label_frame_local_of_other_thread);
    tcase_add_loop_test(tc, test_label_hostile_dict_keys, 0, (int)(sizeof hostile_cases / sizeof hostile_cases[0]));
    tcase_add_test(tc, test_label_lazy_repr);
    suite_add_tcase(s, tc);
    return s;
}

/* Cycles (src/cycles.c over scc.c): in_cycle on the fixtures of DESIGN.md
 * section 5, members against Kosaraju in Python over gc.get_referents(),
 * walkable rings, edges to break ranked back-references first with what
 * removing them frees, and Cycle objects that hold no stray references.
 * Fixtures: tests/fixtures/cycles_heap.py. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_fixtures(void)
{
    rs_py_run("import gc, sys, refscope, fixtures.cycles_heap as ch\n"
              "s = refscope.snapshot()\n");
}

START_TEST(test_cycles_dict_held_instance_not_in_cycle)
{
    /* Check whether an instance held only by a module-level dict is not in
     * a cycle, though module -> dict -> instance -> class -> ... leads back
     * through non-data edges. */
    import_fixtures();
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch.registry['only'])"), "False");
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch.registry)"), "False");
    ck_assert_str_eq(rs_py_str("s.cycle_of(ch.registry['only'])"), "None");
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch)"), "False");
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch.Plain)"), "False");
}
END_TEST

START_TEST(test_cycles_tree_node_in_cycle)
{
    /* Check whether a parent<->child tree node is in a cycle whose members
     * are parent, child and the children list, with a closed ring of real
     * edges and .parent ranked first as the edge to break. */
    import_fixtures();
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch.tree), s.in_cycle(ch.leaf)"), "(True, True)");
    rs_py_run("c = s.cycle_of(ch.tree)\n");
    ck_assert_str_eq(rs_py_str("sorted(map(id, c.objects)) == sorted(map(id, [ch.tree, ch.leaf, ch.tree.children]))"),
                     "True");
    ck_assert_int_eq(rs_py_long("len(c)"), 3);
    ck_assert_int_eq(rs_py_long("c.size"), rs_py_long("sum(sys.getsizeof(o) for o in c.objects)"));
    ck_assert_str_eq(rs_py_str("c.garbage"), "False");
    ck_assert_int_eq(rs_py_long("len(c.ring)"), 3);
    ck_assert_str_eq(rs_py_str("ch.ring_is_closed(c.ring)"), "True");
    ck_assert_str_eq(rs_py_str("ch.edges_are_referents(s, c.ring)"), "True");
    ck_assert_str_eq(rs_py_str("c.ring[0][0] is ch.tree"), "True"); /* starts at the entry */
    ck_assert_str_eq(rs_py_str("sorted(l for a, b, l in c.edges)"), "['.children', '.parent', '[0]']");
    ck_assert_str_eq(rs_py_str("ch.edges_are_referents(s, c.edges)"), "True");
    ck_assert_str_eq(rs_py_str("c.break_edges[0][:3] == (ch.leaf, ch.tree, '.parent')"), "True");
    ck_assert_str_eq(rs_py_str("'weakref' in c.break_edges[0][3] and '.parent' in c.break_edges[0][3]"), "True");
}
END_TEST

START_TEST(test_cycles_bound_method_held_by_its_instance)
{
    /* Check whether an instance holding its own bound method is in a cycle
     * and the edge to break is the method's .__self__ (WeakMethod). */
    import_fixtures();
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch.holder)"), "True");
    rs_py_run("c = s.cycle_of(ch.holder)\n");
    ck_assert_str_eq(rs_py_str("sorted(map(id, c.objects)) == sorted(map(id, [ch.holder, ch.holder.callback]))"),
                     "True");
    ck_assert_str_eq(rs_py_str("c.break_edges[0][2]"), ".__self__");
    ck_assert_str_eq(rs_py_str("c.break_edges[0][0] is ch.holder.callback"), "True");
    ck_assert_str_eq(rs_py_str("'WeakMethod' in c.break_edges[0][3]"), "True");
}
END_TEST

START_TEST(test_cycles_closure_pointing_back)
{
    /* Check whether a closure that captured the object holding it is in a
     * cycle and the cell pointing back is the edge to break, named after
     * the captured variable. */
    import_fixtures();
    ck_assert_str_eq(rs_py_str("s.in_cycle(ch.widget), s.in_cycle(ch.widget.handler)"), "(True, True)");
    rs_py_run("c = s.cycle_of(ch.widget)\nb = c.break_edges[0]\n");
    ck_assert_str_eq(rs_py_str("b[2]"), ".cell_contents");
    ck_assert_str_eq(rs_py_str("b[1] is ch.widget"), "True");
    ck_assert_str_eq(rs_py_str("\"captures 'widget'\" in b[3] and 'handler' in b[3]"), "True");
}
END_TEST

START_TEST(test_cycles_break_edge_frees_retained)
{
    /* Check whether removing owner.child is reported to free exactly the
     * child's retained size (its payload included), the back-reference
     * .owner ranks first though it frees nothing, and the cycle's retained
     * size is the owner's. */
    import_fixtures();
    rs_py_run("c = s.cycle_of(ch.owner)\n"
              "by_label = {e[2]: e for e in c.break_edges}\n");
    ck_assert_str_eq(rs_py_str("c.break_edges[0][2]"), ".owner");
    ck_assert_int_eq(rs_py_long("c.break_edges[0][4]"), 0);
    ck_assert_int_eq(rs_py_long("by_label['.child'][4]"), rs_py_long("s.retained_size(ch.owner.child)"));
    /* The payload: 20 lists of 50 ints each, dominated by the child. */
    ck_assert_int_ge(rs_py_long("by_label['.child'][4]"),
                     rs_py_long("sum(sys.getsizeof(l) for l in ch.owner.child.value) + sys.getsizeof(ch.owner.child)"));
    ck_assert_int_eq(rs_py_long("c.retained"), rs_py_long("s.retained_size(ch.owner)"));
    ck_assert_str_eq(rs_py_str("'frees' in by_label['.child'][3]"), "True");
}
END_TEST

START_TEST(test_cycles_against_kosaraju)
{
    /* Check whether in_cycle and the members of each cycle equal Kosaraju's
     * answer in Python over gc.get_referents() restricted to data edges,
     * for every object of a random heap (seed _i). */
    import_fixtures();
    char code[128];
    snprintf(code, sizeof code, "checked, cyclic, mismatches = ch.compare_with_kosaraju(%d)\n", _i + 1);
    rs_py_run(code);
    ck_assert_int_eq(rs_py_long("checked"), 400);
    ck_assert_int_gt(rs_py_long("cyclic"), 0);                /* the heap has cycles ... */
    ck_assert_int_lt(rs_py_long("cyclic"), rs_py_long("checked")); /* ... and acyclic parts */
    ck_assert_msg(rs_py_long("len(mismatches)") == 0, "mismatches: %s", rs_py_str("mismatches[:5]"));
}
END_TEST

START_TEST(test_cycles_sorted_by_retained)
{
    /* Check whether cycles() comes biggest retained first, limit= cuts the
     * list, and the fixtures' cycles are among them. */
    import_fixtures();
    rs_py_run("cs = s.cycles()\n");
    ck_assert_str_eq(rs_py_str("all(a.retained >= b.retained for a, b in zip(cs, cs[1:]))"), "True");
    ck_assert_int_eq(rs_py_long("len(s.cycles(limit=2))"), 2);
    ck_assert_str_eq(rs_py_str("any(any(o is ch.tree for o in c.objects) for c in cs)"), "True");
    ck_assert_str_eq(rs_py_str("all(isinstance(c, refscope.Cycle) and len(c.objects) == c.count for c in cs)"), "True");
    ck_assert_str_eq(rs_py_str("all(s.in_cycle(o) for c in cs for o in c.objects)"), "True");
}
END_TEST

START_TEST(test_cycles_no_reference_leaks)
{
    /* Check whether asking for cycles, rings, edges and edges to break,
     * then dropping the answers and the snapshot, gives every refcount back. */
    import_fixtures();
    rs_py_run("s.close()\n"
              "objs = [ch.tree, ch.leaf, ch.holder, ch.widget, ch.owner, ch.owner.child]\n"
              "before = [sys.getrefcount(o) for o in objs]\n"
              "s = refscope.snapshot()\n"
              "for c in s.cycles():\n"
              "    c.edges, c.ring, c.break_edges\n"
              "c = None\n"
              "s.in_cycle(ch.tree), s.cycle_of(ch.tree).break_edges\n"
              "s.close()\n"
              "after = [sys.getrefcount(o) for o in objs]\n");
    ck_assert_str_eq(rs_py_str("after == before"), "True");
}
END_TEST

START_TEST(test_cycles_objects_outlive_close)
{
    /* Check whether Cycles whose objects were never asked for still have
     * them after close() (built as the snapshot lets go), Cycles dropped
     * before close() are no trouble to it, and the lists give every
     * reference back when the Cycles go. */
    import_fixtures();
    rs_py_run("s.close()\n"
              "objs = [ch.tree, ch.leaf, ch.tree.children]\n"
              "before = [sys.getrefcount(o) for o in objs]\n"
              "s = refscope.snapshot()\n"
              "cs = s.cycles()\n"
              "keep = cs[::2]\n"
              "counts = [c.count for c in keep]\n"
              "tree = s.cycle_of(ch.tree)\n"
              "del cs\n"
              "s.close()\n");
    ck_assert_str_eq(rs_py_str("sorted(map(id, tree.objects)) == sorted(map(id, objs))"), "True");
    ck_assert_str_eq(rs_py_str("[len(c.objects) for c in keep] == counts"), "True");
    ck_assert_str_eq(rs_py_str("tree.objects is tree.objects"), "True");
    rs_py_run("del tree, keep\n");
    ck_assert_str_eq(rs_py_str("[sys.getrefcount(o) for o in objs] == before"), "True");
}
END_TEST

START_TEST(test_cycles_errors)
{
    /* Check whether an object not in the snapshot and a closed snapshot
     * give refscope.Error, also from a Cycle's lazy edges. */
    import_fixtures();
    rs_py_run("def error_of(fn, *a):\n"
              "    try:\n"
              "        fn(*a)\n"
              "    except refscope.Error as e:\n"
              "        return 'refscope.Error'\n"
              "    return 'no error'\n"
              "c = s.cycle_of(ch.tree)\n"
              "new = ch.Plain(0)\n");
    ck_assert_str_eq(rs_py_str("error_of(s.in_cycle, new)"), "refscope.Error");
    ck_assert_str_eq(rs_py_str("error_of(s.cycle_of, new)"), "refscope.Error");
    rs_py_run("s.close()\n");
    ck_assert_str_eq(rs_py_str("error_of(lambda: c.break_edges)"), "refscope.Error");
    ck_assert_str_eq(rs_py_str("error_of(s.cycles)"), "refscope.Error");
    ck_assert_int_eq(rs_py_long("len(c.objects)"), 3); /* what was filled in stays */
}
END_TEST

/* Owner/child shapes whose back-reference names no owner word: the edge
 * from the owned object back to its owner, and the advice its container
 * calls for. */
static const struct {
    const char *owner;    /* expression for the object held from outside */
    const char *back;     /* label of the back-reference */
    const char *advice;   /* in its suggestion */
    const char *forward;  /* label of an owner->child edge */
    const char *forward_advice;
} owned_shapes[] = {
    {"SESS['a']", ".session", "make .session a weakref.ref", ".state", "set .state to None"},
    {"SUBJ", ".subject", "make .subject a weakref.ref", "[0]", ".clear()"},
    {"POOL[0]", ".pool", "make .pool a weakref.ref", "[0]", "del lst[0]"},
    {"REG[0]", ".reg", "make .reg a weakref.ref", "['x']", "WeakValueDictionary"},
    {"ROOT", ".up", "make .up a weakref.ref", "<item>", "WeakSet"},
};

START_TEST(test_cycles_back_reference_to_owner_first)
{
    /* Check whether the edge from an owned object (state, observer, pooled
     * connection, registered item, child in a set) back to its owner ranks
     * first with a weakref.ref suggestion, and the owner->child edge gets
     * the advice of its container (list: del/clear, dict:
     * WeakValueDictionary, set: WeakSet), never WeakValueDictionary for a
     * list. */
    rs_py_run("import refscope\n"
              "class Session:\n    def __init__(self): self.state = SessionState(self)\n"
              "class SessionState:\n    def __init__(self, session): self.session = session\n"
              "class Subject:\n    def __init__(self): self.observers = []\n"
              "class Observer:\n"
              "    def __init__(self, subject): self.subject = subject; subject.observers.append(self)\n"
              "class Conn:\n    def __init__(self, pool): self.pool = pool; pool.append(self)\n"
              "class Node:\n"
              "    def __init__(self, up=None):\n"
              "        self.up = up; self.kids = set()\n"
              "        if up: up.kids.add(self)\n"
              "class Item:\n    def __init__(self, reg): self.reg = reg; reg['x'] = self\n"
              "SESS = {'a': Session()}\nSUBJ = Subject(); Observer(SUBJ)\nPOOL = [[]]; Conn(POOL[0])\n"
              "ROOT = Node(); Node(ROOT)\nREG = [{}]; Item(REG[0])\n"
              "s = refscope.snapshot()\n");
    char code[512];
    snprintf(code, sizeof code, "c = s.cycle_of(%s)\nbe = c.break_edges\nby = {e[2]: e for e in be}\n",
             owned_shapes[_i].owner);
    rs_py_run(code);
    snprintf(code, sizeof code, "be[0][2] == '%s'", owned_shapes[_i].back);
    ck_assert_msg(strcmp(rs_py_str(code), "True") == 0, "%s: best edge %s", owned_shapes[_i].owner,
                  rs_py_str("[e[2:] for e in be]"));
    snprintf(code, sizeof code, "'%s' in be[0][3]", owned_shapes[_i].advice);
    ck_assert_msg(strcmp(rs_py_str(code), "True") == 0, "%s: %s", owned_shapes[_i].owner, rs_py_str("be[0][3]"));
    snprintf(code, sizeof code, "\"%s\" in by[\"%s\"][3]", owned_shapes[_i].forward_advice, owned_shapes[_i].forward);
    ck_assert_msg(strcmp(rs_py_str(code), "True") == 0, "%s: %s", owned_shapes[_i].owner,
                  rs_py_str("[e[2:] for e in be]"));
    ck_assert_str_eq(rs_py_str("any('WeakValueDictionary' in e[3] for e in be if isinstance(e[0], list))"), "False");
    rs_py_run("s.close()\ndel s, c, be, by\n");
}
END_TEST

START_TEST(test_cycles_break_edges_ranked_alike)
{
    /* Check whether the edges to break are ranked alike whatever number of
     * them is asked for: the report's one edge (ranked without listing the
     * cycle's edges) is the first of the ten Cycle.break_edges keeps, each
     * a real edge of the cycle, and a cycle with fewer edges than asked
     * gets every one of them. */
    import_fixtures();
    rs_py_run("import json\n"
              "nodes = [ch.TreeNode('big')]\n"
              "for i in range(300):\n"
              "    nodes.append(ch.TreeNode('n%d' % i, nodes[i // 4]))\n"
              "big = nodes[0]\n"
              "del nodes\n"
              "s.close()\n"
              "s = refscope.snapshot()\n"
              "c = s.cycle_of(big)\n"
              "be = c.break_edges\n"
              "edges = {(id(a), id(b), l) for a, b, l in c.edges}\n"
              "report = json.loads(refscope.report(snapshot=s, format='json', top=50))\n"
              "mine = [e for e in report['cycles']['top'] if e['objects'] == len(c) and e['cycles'] == 1]\n"
              "small = s.cycle_of(ch.tree)\n"
              "small_edges = {(id(a), id(b), l) for a, b, l in small.edges}\n");
    ck_assert_int_eq(rs_py_long("len(be)"), 10);
    ck_assert_str_eq(rs_py_str("all((id(a), id(b), l) in edges for a, b, l, *_ in be)"), "True");
    ck_assert_int_eq(rs_py_long("len(mine)"), 1);
    ck_assert_str_eq(rs_py_str("(mine[0]['break']['label'], mine[0]['break']['freed']) == (be[0][2], be[0][4]) "
                               "or (mine[0]['break'], be[0])"),
                     "True");
    ck_assert_str_eq(rs_py_str("mine[0]['break']['from'].endswith(type(be[0][0]).__qualname__)"), "True");
    ck_assert_int_eq(rs_py_long("len(small.break_edges)"), rs_py_long("len(small_edges)"));
    ck_assert_str_eq(rs_py_str("{(id(a), id(b), l) for a, b, l, *_ in small.break_edges} == small_edges"), "True");
    rs_py_run("s.close()\ndel s, c, be, edges, report, mine, small, small_edges, big\n");
}
END_TEST

Suite *suite_cycles(void)
{
    Suite *s = suite_create("cycles");
    TCase *tc = tcase_create("cycles");
    tcase_set_timeout(tc, getenv("RS_VALGRIND") ? 600 : 60);
    tcase_add_test(tc, test_cycles_dict_held_instance_not_in_cycle);
    tcase_add_test(tc, test_cycles_tree_node_in_cycle);
    tcase_add_test(tc, test_cycles_bound_method_held_by_its_instance);
    tcase_add_test(tc, test_cycles_closure_pointing_back);
    tcase_add_test(tc, test_cycles_break_edge_frees_retained);
    tcase_add_loop_test(tc, test_cycles_back_reference_to_owner_first, 0,
                        (int)(sizeof owned_shapes / sizeof owned_shapes[0]));
    tcase_add_loop_test(tc, test_cycles_against_kosaraju, 0, 3);
    tcase_add_test(tc, test_cycles_sorted_by_retained);
    tcase_add_test(tc, test_cycles_no_reference_leaks);
    tcase_add_test(tc, test_cycles_objects_outlive_close);
    tcase_add_test(tc, test_cycles_errors);
    tcase_add_test(tc, test_cycles_break_edges_ranked_alike);
    suite_add_tcase(s, tc);
    return s;
}

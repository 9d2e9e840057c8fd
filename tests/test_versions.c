/* What differs between CPython 3.11, 3.12 and 3.13, and must not change
 * refscope's answers: immortal objects (3.12+), interned strings (immortal
 * on 3.12 only), and instance __dict__s materialized over inline values
 * (3.13 keeps the values in the object).  Each test runs on every version
 * (make check-all) against the interpreter's own answers. */
#include <check.h>

#include "pytest_helpers.h"
#include "suites.h"

START_TEST(test_versions_immortal_objects_flagged_never_unexplained_or_roots)
{
    /* Check whether the objects the interpreter keeps forever are flagged
     * immortal, none has unexplained references and none is a held root. */
    rs_py_run("import sys, refscope\n"
              "s = refscope.snapshot()\n"
              "objs = s.objects()\n"
              "imm = [o for o in objs if s.immortal(o)]\n"
              "marker = sys.intern(''.join(['versions-', 'interned-marker']))\n"
              "plain = ''.join(['not ', 'interned'])\n"
              "s2 = refscope.snapshot()\n"
              "known = [s2.immortal(x) for x in (None, True, False, 1, int, dict, marker)]\n"
              "mortal = [s2.immortal(x) for x in (objs, plain, 10**30)]\n"
              "s2.close()\n"
              "unexplained = [o for o in imm if s.unexplained(o) != 0]\n"
              "def held_root(o):\n"
              "    p = s.path(o)\n"
              "    return p is not None and p[0][1] == '<held by C/interpreter>' and p[0][0] is o\n"
              "held = [o for o in imm[::max(1, len(imm) // 400)] if held_root(o)]\n"
              "held_mortal = [o for o in objs if s.unexplained(o) > 0 and held_root(o)]\n"
              "huge = [o for o in objs if s.refcount(o) >= 999999999 // 2 and not s.immortal(o)]\n");
    ck_assert_int_ge(rs_py_long("len(imm)"), 100);
    ck_assert_str_eq(rs_py_str("known"), "[True, True, True, True, True, True, True]");
    ck_assert_str_eq(rs_py_str("mortal"), "[False, False, False]");
    ck_assert_int_eq(rs_py_long("len(unexplained)"), 0);
    ck_assert_int_eq(rs_py_long("len(held)"), 0);
    /* ...while mortal objects held by C still are (the check can fail). */
    ck_assert_int_gt(rs_py_long("len(held_mortal)"), 0);
    /* A reference count that large is an immortal object's (3.11 gives its
     * static objects 999999999, 3.12+ 2**32-1), never a real count. */
    ck_assert_int_eq(rs_py_long("len(huge)"), 0);
    rs_py_run("s.close()\n");
}
END_TEST

START_TEST(test_versions_interned_string_retained_by_nobody)
{
    /* Check whether a holder of a 100 KB interned string retains only
     * itself and its own string (3.12 makes interned strings immortal, so
     * every version leaves them out), while the interned string retains
     * itself. */
    rs_py_run("import sys, refscope\n"
              "class InternHolder:\n"
              "    __slots__ = ('interned', 'own')\n"
              "ih = InternHolder()\n"
              "ih.interned = sys.intern(''.join(['i'] * 100000))\n"
              "ih.own = ''.join(['o'] * 100000)\n"
              "s = refscope.snapshot()\n"
              "facts = (s.retained_size(ih) == sys.getsizeof(ih) + sys.getsizeof(ih.own),\n"
              "         s.retained_size(ih.interned) == sys.getsizeof(ih.interned),\n"
              "         s.immortal(ih.interned), s.unexplained(ih.interned))\n"
              "s.close()\n");
    ck_assert_str_eq(rs_py_str("facts"), "(True, True, True, 0)");
}
END_TEST

START_TEST(test_versions_materialized_dict_path_label_retained)
{
    /* Check whether an attribute reached through a materialized __dict__
     * (3.13: inline values behind it) has the same path, labels and
     * retained sizes as on 3.11/3.12: instance -> .__dict__ -> ['attr']. */
    rs_py_run("import sys, refscope\n"
              "class DictBox:\n"
              "    pass\n"
              "dict_box = DictBox()\n"
              "dict_box.payload = bytearray(54321)\n"
              "dict_box.tag = 'box'\n"
              "dict_box.__dict__\n"
              "s = refscope.snapshot()\n"
              "box_dict = dict_box.__dict__\n"
              "path = str(s.path(dict_box.payload))\n"
              "to_dict = [label for holder, label in s.referrers(box_dict) if holder is dict_box]\n"
              "to_payload = [label for holder, label in s.referrers(dict_box.payload) if holder is box_dict]\n"
              "dict_referents = sorted(label for o, label in s.referents(box_dict))\n"
              "retained = s.retained_size(dict_box)\n"
              "expected = sys.getsizeof(dict_box) + sys.getsizeof(box_dict) + sys.getsizeof(dict_box.payload)\n"
              "s.close()\n");
    ck_assert_str_eq(rs_py_str("path"), "sys.modules['__main__'].dict_box.payload");
    ck_assert_str_eq(rs_py_str("to_dict"), "['.__dict__']");
    ck_assert_str_eq(rs_py_str("to_payload"), "[\"['payload']\"]");
    ck_assert_str_eq(rs_py_str("dict_referents"), "[\"['payload']\", \"['tag']\"]");
    ck_assert_int_eq(rs_py_long("retained"), rs_py_long("expected"));
}
END_TEST

START_TEST(test_versions_runtime_version_matches_build)
{
    /* Check whether the module reports the interpreter it runs in as the
     * one it was built for (import refuses any other). */
    rs_py_run("import sys, refscope._refscope as core\n");
    ck_assert_str_eq(rs_py_str("core.__file__.split('.')[-2].split('-')[1]"),
                     rs_py_str("'%d%d' % sys.version_info[:2]"));
}
END_TEST

Suite *suite_versions(void)
{
    Suite *s = suite_create("versions");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_versions_immortal_objects_flagged_never_unexplained_or_roots);
    tcase_add_test(tc, test_versions_interned_string_retained_by_nobody);
    tcase_add_test(tc, test_versions_materialized_dict_path_label_retained);
    tcase_add_test(tc, test_versions_runtime_version_matches_build);
    suite_add_tcase(s, tc);
    return s;
}

/* The dump writer's own reprs and labels (src/dump.c): what it writes in C
 * instead of asking repr.c and label.c reads back as what those give, and
 * its work grows with the heap, no faster.  Fixtures:
 * tests/fixtures/dump_writer.py. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "pytest_helpers.h"
#include "suites.h"

static void import_writer(void)
{
    rs_py_run("import os, refscope, fixtures.dump_writer as W, fixtures.dump_heap as dh\n"
              "from refscope._refscope import _work\n"
              "tmp = dh.scratch_dir()\n"
              "dump_path = os.path.join(tmp, 'heap.rsd')\n");
}

START_TEST(test_dump_write_reprs)
{
    /* Check whether the reprs the writer builds in C (str, bytes, int,
     * float, bool, None, builtin containers) read back as refscope's
     * bounded repr writes them, quoted, escaped and cut the same way. */
    import_writer();
    rs_py_run("vals = W.values()\n"
              "s = refscope.snapshot()\n"
              "s.save(dump_path)\n"
              "d = refscope.load(dump_path)\n"
              "wrong = [(v if not isinstance(v, (str, bytes)) else v[:40], d.node(id(v)).repr, W.expected_repr(v))\n"
              "         for v in vals if d.node(id(v)).repr != W.expected_repr(v)]\n"
              "checked = sum(1 for v in vals if W.expected_repr(v) is not None)\n");
    ck_assert_msg(rs_py_long("len(wrong)") == 0, "stored reprs differ: %s", rs_py_str("wrong[:5]"));
    ck_assert_int_eq(rs_py_long("checked"), rs_py_long("len(vals)"));
    /* The rules at their edges, spelled out. */
    ck_assert_str_eq(rs_py_str("d.node(id(vals[1])).repr"), "\"it's\"");
    ck_assert_str_eq(rs_py_str("d.node(id(vals[3])).repr"), "'both \\' and \"'");
    ck_assert_str_eq(rs_py_str("d.node(id(vals[7])).repr"), "'\\x00\\x1f\\x7f'");
    ck_assert_str_eq(rs_py_str("d.node(id(vals[12])).repr[-21:]"), "... (5000 characters)");
    ck_assert_str_eq(rs_py_str("d.node(id(vals[vals.index(2**63)])).repr"), "<int of 64 bits>");
    /* Everything else in the heap agrees too (functions, classes, modules
     * take Python's way; containers are described by their length). */
    rs_py_run("others = [o for o in s.objects() if type(o) in (str, bytes, int, float, list, tuple, set)]\n"
              "wrong = [(type(o).__name__, d.node(id(o)).repr, W.expected_repr(o)) for o in others\n"
              "         if d.node(id(o)).repr != W.expected_repr(o)]\n");
    ck_assert_msg(rs_py_long("len(wrong)") == 0, "stored reprs differ: %s", rs_py_str("wrong[:5]"));
    ck_assert_int_ge(rs_py_long("len(others)"), 10000);
    rs_py_run("d.close(); s.close()\n");
}
END_TEST

START_TEST(test_dump_write_labels)
{
    /* Check whether the labels the writer gives the edges of lists, dicts
     * (str, int, odd and quoted keys), sets, tuples, instances with and
     * without __dict__ or __slots__ (one with an attribute name longer
     * than the writer's text buffer), a dict subclass, functions (closure,
     * defaults, annotations, __dict__, __doc__, a changed __qualname__),
     * cells, bound and builtin methods, descriptors equal the live
     * snapshot's (label.c's), edge by edge in order, also for containers
     * changed after the snapshot and for thousands of dicts sharing key
     * objects (the writer remembers a key's label by the key). */
    import_writer();
    rs_py_run("h = W.holders()\n"
              "objs = list(h.values()) + h['plain'] + h['long_named'] + h['slotted'] + h['functions'] + h['dicts_shared_keys'] + h['str_dicts_shared_keys']\n"
              "s = refscope.snapshot()\n"
              "W.changed(h)\n"
              "s.save(dump_path)\n"
              "d = refscope.load(dump_path)\n"
              "diffs = W.label_differences(s, d, objs)\n");
    ck_assert_msg(rs_py_long("len(diffs)") == 0, "labels differ:\n%s", rs_py_str("'\\n'.join(diffs[:10])"));
    /* The cases are what they claim to be. */
    ck_assert_str_eq(rs_py_str("sorted({'.__annotations__', '.__closure__', '.__code__', '.__defaults__', '.__dict__', "
                               "'.__doc__', '.__globals__', '.__kwdefaults__', '.__module__', '.__name__', "
                               "'.__qualname__'} - {l for o, l in d.referents(d.node(id(h['functions'][0])))})"),
                     "[]");
    ck_assert_str_eq(rs_py_str("[l for o, l in d.referents(d.node(id(h['plain'][0])))]"),
                     "['.number', '.name', '.missing', '.me', '.__class__']");
    ck_assert_str_eq(rs_py_str("[l == '.' + 'long_' * 120 for o, l in d.referents(d.node(id(h['long_named'][0])))]"),
                     "[False, True, False]");
    ck_assert_str_eq(rs_py_str("sorted(l for o, l in d.referents(d.node(id(h['list_repeats']))))"),
                     "['[0]', '[1]', '[2]', '[3]', '[4]']");
    ck_assert_str_eq(rs_py_str("[l for o, l in d.referents(d.node(id(h['dict_quotes'])))][:3] =="
                               " ['[%r]' % k for k in list(h['dict_quotes'])[:3]]"),
                     "True");
    ck_assert_int_eq(rs_py_long("sum(l.startswith('<referent') for o, l in d.referents(d.node(id(h['dict_changed']))))"),
                     1);
    ck_assert_str_eq(rs_py_str("sorted(l for o, l in d.referents(d.node(id(h['dicts_shared_keys'][5999]))))"),
                     "[\"<key 'equal'>\", \"<key 'k49'>\", \"<key 'shared'>\", \"<key ('t', 1)>\", "
                     "'<key 1000000000000>', '<key 7>', \"['equal']\", \"['k49']\", \"['shared']\", \"[('t', 1)]\", "
                     "'[1000000000000]', '[7]']");
    ck_assert_str_eq(rs_py_str("sorted(l for o, l in d.referents(d.node(id(h['list_grown']))))"),
                     "['[20]', '[21]', '[22]']");
    rs_py_run("d.close(); s.close()\n");
}
END_TEST

START_TEST(test_dump_write_key_repr_empties_dict)
{
    /* Check whether a dict key whose repr, run while the writer labels the
     * dict, empties it leaves the other keys (new since the snapshot, held
     * by the dict alone) alive to label: each value is labelled with the
     * key the dict held it under when the writer read it (ASan sees a
     * use after free otherwise). */
    import_writer();
    rs_py_run("d, values, rekey = W.emptied_dict()\n"
              "s = refscope.snapshot()\n"
              "rekey()\n"
              "s.save(dump_path)\n"
              "dd = refscope.load(dump_path)\n"
              "labels = dict((o.address, l) for o, l in dd.referents(dd.node(id(d))))\n"
              "wrong = [(i, labels.get(id(v))) for i, v in enumerate(values) if labels.get(id(v)) != \"['new-%d']\" % i]\n");
    ck_assert_int_eq(rs_py_long("len(d)"), 0); /* the repr ran */
    ck_assert_msg(rs_py_long("len(wrong)") == 0, "values labelled %s", rs_py_str("wrong[:5]"));
    rs_py_run("dd.close(); s.close()\n");
}
END_TEST

START_TEST(test_dump_write_linear)
{
    /* Check whether writing the dump of a heap with ten times the records
     * makes at most ten times the writer's table probes (no quadratic
     * string or item table), with every record's labels and repr right. */
    import_writer();
    long work[2];
    for (int big = 0; big < 2; big++) {
        char code[512];
        snprintf(code, sizeof code,
                 "W.records(%d)\n"
                 "s = refscope.snapshot()\n"
                 "before = _work()['dump_probes']\n"
                 "s.save(dump_path)\n"
                 "probes = _work()['dump_probes'] - before\n"
                 "d = refscope.load(dump_path)\n"
                 "last = W.RECORDS['user:%d']\n",
                 big ? 200000 : 20000, big ? 199999 : 19999);
        rs_py_run(code);
        work[big] = rs_py_long("probes");
        ck_assert_str_eq(rs_py_str("[l for o, l in d.referents(d.node(id(last)))]"), "['.id', '.name', '.__class__']");
        ck_assert_str_eq(rs_py_str("str(d.path(d.node(id(last))))"),
                         big ? "sys.modules['fixtures.dump_writer'].RECORDS['user:199999']"
                             : "sys.modules['fixtures.dump_writer'].RECORDS['user:19999']");
        ck_assert_str_eq(rs_py_str("d.node(id(last.name)).repr == repr(last.name)"), "True");
        rs_py_run("d.close(); s.close()\n");
    }
    ck_assert_msg(work[1] <= 10 * work[0], "dump probes %ld for 200k records, %ld for 20k", work[1], work[0]);
    ck_assert_int_ge(work[1], 200000); /* a probe at least per key label (literal reprs take none) */
}
END_TEST

START_TEST(test_dump_write_checksums)
{
    /* Check whether every section's checksum and the header's are CRC-32
     * as zlib.crc32 computes it (what the man page promises other readers),
     * over sections of many megabytes and of any length (string bytes). */
    import_writer();
    rs_py_run("import struct, zlib\n"
              "lines = ['line %d' % i for i in range(100000)]  # sections past the 1 MiB write buffer\n"
              "s = refscope.snapshot()\n"
              "s.save(dump_path)\n"
              "s.close()\n"
              "data = open(dump_path, 'rb').read()\n"
              "header_size, header_crc, count = struct.unpack_from('<III', data, 12)\n"
              "sections = [struct.unpack_from('<IIQQQ', data, 184 + 32 * i) for i in range(count)]\n"
              "wrong = [i for i, crc, offset, length, n in sections if zlib.crc32(data[offset:offset + length]) != crc]\n"
              "zeroed = bytearray(data[:header_size]); zeroed[16:20] = bytes(4)\n");
    ck_assert_int_eq(rs_py_long("header_size"), 600);
    ck_assert_msg(rs_py_long("len(wrong)") == 0, "sections %s have a checksum zlib disagrees with", rs_py_str("wrong"));
    ck_assert_int_eq(rs_py_long("zlib.crc32(zeroed) == header_crc"), 1);
    ck_assert_int_ge(rs_py_long("max(length for i, crc, offset, length, n in sections)"), 1 << 20);
}
END_TEST

START_TEST(test_dump_write_crc_every_way)
{
    /* Check whether each way this CPU has of computing the dump's CRC-32
     * (table, 128-bit and 512-bit folding) gives zlib.crc32's answer for
     * every length up to 2100 and longer ones at each alignment, started
     * from 0 or continued, so that a host with wider instructions never
     * writes checksums another host's reader refuses. */
    rs_py_run("import random, zlib\n"
              "from refscope._refscope import _crc32\n"
              "rng = random.Random(7)\n"
              "data = bytes(rng.getrandbits(8) for _ in range(70000))\n"
              "widest = _crc32(b'', 0, 0)[1]\n"
              "lengths = list(range(0, 2100)) + [4095, 4096, 4097, 5000, 65536, 65537, 69990]\n"
              "wrong, checked = [], 0\n"
              "for way in range(widest + 1):\n"
              "    for n in lengths:\n"
              "        off = n % 8\n"
              "        piece = data[off:off + n]\n"
              "        start = rng.getrandbits(32) if n % 3 else 0\n"
              "        checked += 1\n"
              "        if _crc32(piece, start, way)[0] != zlib.crc32(piece, start):\n"
              "            wrong.append((way, n, start))\n"
              "    half = _crc32(data[:33333], 0, way)[0]\n"
              "    if _crc32(data[33333:], half, way)[0] != zlib.crc32(data):\n"
              "        wrong.append((way, 'split'))\n");
    ck_assert_msg(rs_py_long("len(wrong)") == 0, "CRC-32 differs from zlib at %s", rs_py_str("wrong[:5]"));
    ck_assert_int_ge(rs_py_long("checked"), 2100);
    ck_assert_int_ge(rs_py_long("widest"), 0);
    ck_assert_int_le(rs_py_long("widest"), 2);
    fprintf(stderr, "dump_write: CRC-32 checked against zlib by table%s\n",
            rs_py_long("widest") == 2   ? ", 128-bit and 512-bit folding"
            : rs_py_long("widest") == 1 ? " and 128-bit folding (no 512-bit folding on this CPU)"
                                        : " only (no carry-less multiply on this CPU)");
}
END_TEST

Suite *suite_dump_write(void)
{
    Suite *s = suite_create("dump_write");
    TCase *tc = tcase_create("dump_write");
    tcase_set_timeout(tc, getenv("RS_VALGRIND") ? 1800 : 600);
    tcase_add_test(tc, test_dump_write_reprs);
    tcase_add_test(tc, test_dump_write_labels);
    tcase_add_test(tc, test_dump_write_key_repr_empties_dict);
    tcase_add_test(tc, test_dump_write_linear);
    tcase_add_test(tc, test_dump_write_checksums);
    tcase_add_test(tc, test_dump_write_crc_every_way);
    suite_add_tcase(s, tc);
    return s;
}

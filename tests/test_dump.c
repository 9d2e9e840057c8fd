/* Heap dumps (src/dump.c, dump_read.c, module_dump.c, module.c's stored mode):
 * a dump read back answers as the live snapshot it was written from did,
 * and every damaged file is refused with refscope.Error, never a crash.
 * Fixtures: tests/fixtures/dump_heap.py (the example's leak patterns). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "pytest_helpers.h"
#include "suites.h"

static void build_heap_and_dump(void)
{
    rs_py_run("import os, refscope, fixtures.dump_heap as dh\n"
              "app = dh.build()\n"
              "tmp = dh.scratch_dir()\n"
              "dump_path = os.path.join(tmp, 'heap.rsd')\n"
              "s = refscope.snapshot()\n"
              "s.save(dump_path)\n"
              "d = refscope.load(dump_path)\n");
}

START_TEST(test_dump_differential)
{
    /* Check whether a dump of a heap with the example's leak patterns gives
     * the same census, paths (as text), referents and referrers with their
     * labels, cycles, garbage, closures, frames and retained sizes as the
     * live snapshot it was written from. */
    build_heap_and_dump();
    rs_py_run("diffs = dh.compare(s, d, path_every=5)\n");
    ck_assert_msg(rs_py_long("len(diffs)") == 0, "dump differs from its snapshot:\n%s",
                  rs_py_str("'\\n'.join(diffs[:20])"));
    /* The comparison saw the patterns it is about. */
    ck_assert_int_eq(rs_py_long("len(d)"), rs_py_long("len(s)"));
    ck_assert_str_eq(rs_py_str("str(d.path(d.node(id(app.CACHE['req-00042']))))"),
                     "sys.modules['leaky_service'].CACHE['req-00042']");
    ck_assert_str_eq(rs_py_str("any(name == 'payload' for f, name, v, r in d.closures())"), "True");
    ck_assert_str_eq(rs_py_str("any(t == 'worker' and any(n == 'config' for f in fr for n, *_ in f[2])"
                               " for t, i, fr in d.frames())"),
                     "True");
    ck_assert_str_eq(rs_py_str("sorted({k for o, k, why in d.garbage()} & {'unreachable-cycle', 'finalizer-in-cycle'})"),
                     "['finalizer-in-cycle', 'unreachable-cycle']");
    ck_assert_int_ge(rs_py_long("sum(1 for c in d.cycles() if any(o.type.endswith('TreeNode') for o in c.objects))"),
                     1);
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_load_is_a_snapshot)
{
    /* Check whether refscope.load() gives a Snapshot with the live
     * snapshot's attributes, and every one answers on the dump what it
     * answers live (objects as their addresses): census, paths as text,
     * cycles with their edges' labels, referrers' labels, retained sizes,
     * frames, closures; save() alone says it needs the live process. */
    build_heap_and_dump();
    ck_assert_str_eq(rs_py_str("type(d) is refscope.Snapshot is type(s)"), "True");
    rs_py_run("api_diffs = dh.compare_api(s, d, dh.api_objects(s, app))\n");
    ck_assert_msg(rs_py_long("len(api_diffs)") == 0, "the dump's Snapshot API differs:\n%s",
                  rs_py_str("'\\n'.join(api_diffs[:20])[:4000]"));
    /* The comparison was about something: cycles with labelled edges, a
     * reachable object's path. */
    ck_assert_int_ge(rs_py_long("sum(len(c.edges) for c in d.cycles()[:5])"), 2);
    ck_assert_str_eq(rs_py_str("d.path(d.node(id(app.CACHE))).display()"), "sys.modules['leaky_service'].CACHE");
    /* A type object names its instances on a dump too (by its name). */
    ck_assert_int_ge(rs_py_long("len(d.instances(app.TreeNode))"), 2);
    ck_assert_str_eq(rs_py_str("[o.address for o in d.instances(app.TreeNode)] == [id(o) for o in s.instances(app.TreeNode)]"
                               " and len(d.instances(dict)) == len(s.instances(dict))"),
                     "True");
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_header_and_objects)
{
    /* Check whether the header records this process (pid, Python version,
     * memory figures, the objects' bytes as the snapshot sums them) and
     * stored objects carry type, size, address and a repr: the full text
     * of a short string, a cut one of a long string. */
    build_heap_and_dump();
    ck_assert_int_eq(rs_py_long("d.info['pid']"), rs_py_long("os.getpid()"));
    ck_assert_str_eq(rs_py_str("d.info['python_version']"), rs_py_str("__import__('platform').python_version()"));
    ck_assert_int_eq(rs_py_long("d.process_memory()['objects']"), rs_py_long("s.process_memory()['objects']"));
    ck_assert_int_eq(rs_py_long("d.info['memory_objects']"), rs_py_long("s.process_memory()['objects']"));
    ck_assert_str_eq(rs_py_str("repr(d).startswith('<refscope.Snapshot of dump of PID %d, taken ' % os.getpid())"), "True");
    rs_py_run("short = 'x-short-string-%d' % 7\n"
              "long_text = 'y' * 5000\n"
              "s2 = refscope.snapshot()\n"
              "s2.save(dump_path)\n"
              "d2 = refscope.load(dump_path)\n"
              "n = d2.node(id(short))\n"
              "m = d2.node(id(long_text))\n");
    ck_assert_str_eq(rs_py_str("n.repr"), "'x-short-string-7'");
    ck_assert_str_eq(rs_py_str("n.type"), "str");
    ck_assert_int_eq(rs_py_long("n.size"), rs_py_long("sys.getsizeof(short)"));
    ck_assert_int_eq(rs_py_long("n.address"), rs_py_long("id(short)"));
    ck_assert_str_eq(rs_py_str("m.repr.startswith(\"'yyy\") and m.repr.endswith('(5000 characters)')"), "True");
    ck_assert_int_le(rs_py_long("len(m.repr)"), 240);
    /* Every answer is about stored objects: a live one is refused. */
    ck_assert_str_eq(rs_py_str("type(d2.referents(n)).__name__"), "list");
    rs_py_run("try:\n"
              "    d2.path(object())\n"
              "    err = 'no error'\n"
              "except refscope.Error as e:\n"
              "    err = str(e)\n");
    ck_assert_str_eq(rs_py_str("'stored object' in err"), "True");
    /* What needs the live process says the snapshot is a dump. */
    rs_py_run("try:\n"
              "    d2.save(dump_path + '.again')\n"
              "    err = 'no error'\n"
              "except refscope.Error as e:\n"
              "    err = str(e)\n");
    ck_assert_str_eq(rs_py_str("'needs the live process' in err and 'dump of PID' in err"), "True");
    rs_py_run("try:\n"
              "    refscope.mark(snapshot=d2)\n"
              "    err = 'no error'\n"
              "except refscope.Error as e:\n"
              "    err = str(e)\n");
    ck_assert_str_eq(rs_py_str("'needs the live process' in err and 'refscope diff' in err"), "True");
    /* A closed dump says how to open it again; its stored objects stay readable. */
    rs_py_run("d2.close()\n"
              "try:\n"
              "    d2.census()\n"
              "    err = 'no error'\n"
              "except refscope.Error as e:\n"
              "    err = str(e)\n");
    ck_assert_str_eq(rs_py_str("'refscope.load(FILE)' in err and n.repr == repr(short)"), "True");
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_allocation_tracebacks)
{
    /* Check whether, while tracemalloc traces, a dump stores each object's
     * allocation traceback as tracemalloc gives it (file:line lines), shows
     * it in the a pane and names its site in the report as the live
     * process does, and stores none when it does not trace. */
    build_heap_and_dump();
    ck_assert_str_eq(rs_py_str("d.info['tracemalloc'], d.allocated_at(d.objects()[0])"), "(False, None)");
    rs_py_run("import json, tracemalloc\n"
              "tracemalloc.start(5)\n"
              "def make_traced():\n"
              "    return [bytearray(1000000) for _ in range(10)]\n"
              "traced = make_traced()\n"
              "refscope.dump(dump_path)\n"
              "d4 = refscope.load(dump_path)\n"
              "stored_tb = d4.allocated_at(d4.node(id(traced[3])))\n"
              "live_tb = '\\n'.join(tracemalloc.get_object_traceback(traced[3]).format())\n"
              "live_site = str(tracemalloc.get_object_traceback(traced[3])[-1])\n"
              "s4 = refscope.snapshot()\n"
              "live_pane = refscope._screen_rows(s4, 'allocation', traced[3])\n"
              "stored_pane = refscope._screen_rows(d4, 'allocation', d4.node(id(traced[3])).index)\n"
              "def bytearray_site(report):\n"
              "    return [t['example']['allocated_at'] for t in json.loads(report)['types'] if t['type'] == 'bytearray']\n"
              "live_sites = bytearray_site(refscope.report(snapshot=s4, format='json'))\n"
              "stored_sites = bytearray_site(refscope.report(snapshot=d4, format='json'))\n"
              "s4.close()\n"
              "tracemalloc.stop()\n");
    ck_assert_str_eq(rs_py_str("d4.info['tracemalloc']"), "True");
    ck_assert_str_eq(rs_py_str("stored_tb == live_tb"), "True");
    /* The a pane of refscope open shows what it shows in the live process,
     * and the report of the dump names the same allocation site. */
    ck_assert_str_eq(rs_py_str("stored_pane == live_pane and stored_pane[0]"), "Allocated at (most recent call last):");
    ck_assert_str_eq(rs_py_str("stored_sites == live_sites == [live_site]"), "True");
    ck_assert_str_eq(rs_py_str("'line ' in live_tb"), "True");
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_bad_files)
{
    /* Check whether a missing file, an empty one, one that is not a dump,
     * truncated dumps, a newer format version and a flipped byte are each
     * refused with refscope.Error saying what is wrong. */
    build_heap_and_dump();
    rs_py_run("data = open(dump_path, 'rb').read()\n"
              "bad = os.path.join(tmp, 'bad.rsd')\n"
              "def refusal(content):\n"
              "    if content is not None:\n"
              "        open(bad, 'wb').write(content)\n"
              "    try:\n"
              "        refscope.load(bad if content is not None else bad + '.missing')\n"
              "    except refscope.Error as e:\n"
              "        return str(e)\n"
              "    return 'loaded'\n"
              "version = bytearray(data); version[8] += 1\n"
              "flipped = bytearray(data); flipped[len(data) // 2] ^= 0x40\n");
    ck_assert_str_eq(rs_py_str("'cannot open' in refusal(None)"), "True");
    ck_assert_str_eq(rs_py_str("'dump magic' in refusal(b'')"), "True");
    ck_assert_str_eq(rs_py_str("'dump magic' in refusal(b'{\"json\": true}' * 100)"), "True");
    ck_assert_str_eq(rs_py_str("'truncated' in refusal(data[:300])"), "True");
    ck_assert_str_eq(rs_py_str("all('truncated' in refusal(data[:n]) for n in (600, len(data) // 3, len(data) - 1))"),
                     "True");
    ck_assert_str_eq(rs_py_str("'format version 3' in refusal(bytes(version))"), "True");
    ck_assert_str_eq(rs_py_str("'format version 0' in refusal(b'REFSDUMP' + bytes(600))"), "True");
    ck_assert_str_eq(rs_py_str("'checksum' in refusal(bytes(flipped))"), "True");
    ck_assert_str_eq(rs_py_str("refusal(data)"), "loaded");
    /* Two records with one address (resealed, so only the rebuild can
     * tell), next to each other and in different batches of the reader. */
    rs_py_run("import struct\n"
              "nodes_at = struct.unpack_from('<IIQQQ', data, 184)[2]\n"
              "def same_address(a, b):\n"
              "    twin = bytearray(data)\n"
              "    twin[nodes_at + 32 * b:nodes_at + 32 * b + 8] = data[nodes_at + 32 * a:nodes_at + 32 * a + 8]\n"
              "    open(bad, 'wb').write(twin)\n"
              "    refscope._refscope._dump_reseal(bad)\n"
              "    try:\n"
              "        refscope.load(bad)\n"
              "    except refscope.Error as e:\n"
              "        return str(e)\n"
              "    return 'loaded'\n");
    ck_assert_str_eq(rs_py_str("'two objects have the same address' in same_address(0, 1)"), "True");
    ck_assert_str_eq(rs_py_str("'two objects have the same address' in same_address(3, 1500)"), "True");
    /* The Python version a dump was written with does not matter to the
     * reader: one whose header says 3.13.0 (resealed) loads and answers. */
    rs_py_run("other = bytearray(data)\n"
              "at = other.index(__import__('platform').python_version().encode(), 0, 600)\n"
              "other[at:at + 32] = b'3.13.0'.ljust(32, b'\\0')\n"
              "open(bad, 'wb').write(other)\n"
              "refscope._refscope._dump_reseal(bad)\n"
              "d13 = refscope.load(bad)\n");
    ck_assert_str_eq(rs_py_str("d13.info['python_version']"), "3.13.0");
    ck_assert_str_eq(rs_py_str("d13.census() == d.census()"), "True");
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_reads_format_v1)
{
    /* Check whether a dump in format version 1 (what refscope wrote before
     * version 2 narrowed the node records: 64-bit sizes, the unexplained
     * count stored) opens with the same answers as the live snapshot and
     * the version 2 file it was rewritten from; and whether sizes of 2^32 - 1
     * and past (set through a test hook: no test can allocate them) survive
     * both versions, in BIG_SIZES in version 2; and whether mutated version
     * 1 files are refused or loaded, never crash. */
    build_heap_and_dump();
    rs_py_run("huge = [bytearray(10), bytearray(20)]\n"
              "s.close(); d.close()\n"
              "s = refscope.snapshot()\n"
              "refscope._refscope._set_size(s, huge[0], 5 << 30)\n"
              "refscope._refscope._set_size(s, huge[1], (1 << 32) - 1)\n"
              "s.save(dump_path)\n"
              "d = refscope.load(dump_path)\n"
              "v1_path = os.path.join(tmp, 'v1.rsd')\n"
              "dh.to_format_v1(dump_path, v1_path)\n"
              "d1 = refscope.load(v1_path)\n"
              "diffs = dh.compare(s, d1, path_every=7)\n"
              "pairs = [(a, d1.node(a.address)) for a in d.objects()]\n"
              "fields = ('address', 'type', 'size', 'refcount', 'unexplained', 'flags', 'repr')\n"
              "unlike = [(a.index, f) for a, b in pairs for f in fields if getattr(a, f) != getattr(b, f)]\n"
              "live_unlike = [o.index for o in d.objects()[:3000] if o.unexplained != s.unexplained(s.node(o.address))]\n");
    ck_assert_msg(rs_py_long("len(diffs)") == 0, "a version 1 dump differs from its snapshot:\n%s",
                  rs_py_str("'\\n'.join(diffs[:20])"));
    ck_assert_msg(rs_py_long("len(unlike)") == 0, "version 1 and 2 objects differ: %s", rs_py_str("unlike[:10]"));
    ck_assert_msg(rs_py_long("len(live_unlike)") == 0, "unexplained counts differ from the live ones: %s",
                  rs_py_str("live_unlike[:10]"));
    ck_assert_int_eq(rs_py_long("d1.info['format_version']"), 1);
    ck_assert_int_eq(rs_py_long("d.info['format_version']"), 2);
    ck_assert_int_ge(rs_py_long("len(pairs)"), 1000);
    /* The big sizes, and that the comparison saw unexplained references. */
    ck_assert_str_eq(rs_py_str("[(d.node(id(h)).size, d1.node(id(h)).size, s.size(h)) for h in huge]"),
                     "[(5368709120, 5368709120, 5368709120), (4294967295, 4294967295, 4294967295)]");
    ck_assert_str_eq(rs_py_str("[c[2] for c in d.census() if c[0] == 'bytearray'] == [c[2] for c in s.census() if c[0] == 'bytearray']"),
                     "True");
    ck_assert_str_eq(rs_py_str("[c[2] >= 9 << 30 for c in d1.census() if c[0] == 'bytearray']"), "[True]");
    ck_assert_str_eq(rs_py_str("d.process_memory()['objects'] == d1.process_memory()['objects'] == "
                               "s.process_memory()['objects'] == sum(s.size(o) for o in s.objects()) > 9 << 30"),
                     "True");
    ck_assert_int_ge(rs_py_long("sum(1 for o in d.objects() if o.unexplained > 0)"), 1);
    /* Mutated version 1 files (checksums recomputed, so that the
     * conversion and the structural checks meet every change) each load or
     * are refused with refscope.Error; nothing else escapes, nothing
     * crashes (make asan-check runs this too). */
    rs_py_run("loaded1, refused1, messages1 = dh.fuzz(v1_path, 300, 16, reseal=True)\n");
    ck_assert_int_eq(rs_py_long("loaded1 + refused1"), 300);
    ck_assert_int_ge(rs_py_long("refused1"), 30);
    ck_assert_int_ge(rs_py_long("loaded1"), 1);
    /* Version 2 is the smaller: 8 bytes less per node, less its longer
     * header and its BIG_SIZES entries. */
    ck_assert_int_ge(rs_py_long("os.path.getsize(v1_path) - os.path.getsize(dump_path)"), rs_py_long("7 * len(pairs)"));
    rs_py_run("d1.close()\n"
              "dh.finish()\n");
}
END_TEST

START_TEST(test_dump_fuzzed_files)
{
    /* Check whether thousands of randomly mutated dumps (with their
     * checksums left wrong, and recomputed so that only the structural
     * checks stand between the bytes and the analyses) each either load
     * and answer every call or are refused with refscope.Error. */
    build_heap_and_dump();
    rs_py_run("loaded, refused, messages = dh.fuzz(dump_path, 1000, 13, reseal=False)\n"
              "loaded2, refused2, messages2 = dh.fuzz(dump_path, 1000, 14, reseal=True)\n");
    ck_assert_int_eq(rs_py_long("loaded + refused"), 1000);
    ck_assert_int_eq(rs_py_long("loaded2 + refused2"), 1000);
    ck_assert_int_ge(rs_py_long("refused"), 900);
    /* With checksums recomputed, the structural checks refuse for several reasons. */
    ck_assert_int_ge(rs_py_long("refused2"), 300);
    ck_assert_int_ge(rs_py_long("len(messages2)"), 5);
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_no_reference_leaks)
{
    /* Check whether writing and reading a dump leaves every object's
     * reference count as it was (no reference kept or lost). */
    build_heap_and_dump();
    rs_py_run("import sys\n"
              "probe = {'k': [1, 2, 3]}\n"
              "exercise = dh.exercise\n"
              "for i in range(3):\n"
              "    refscope.dump(dump_path)\n"
              "    with refscope.load(dump_path) as d3:\n"
              "        exercise(d3)\n"
              "before = (sys.getrefcount(probe), sys.getrefcount(probe['k']), sys.getrefcount(None))\n"
              "for i in range(3):\n"
              "    refscope.dump(dump_path)\n"
              "    with refscope.load(dump_path) as d3:\n"
              "        exercise(d3)\n"
              "after = (sys.getrefcount(probe), sys.getrefcount(probe['k']), sys.getrefcount(None))\n");
    ck_assert_str_eq(rs_py_str("before[:2] == after[:2]"), "True");
    rs_py_run("dh.finish()\n");
}
END_TEST

/* Starts tests/fixtures/dump_target.py in a new session with no terminal
 * (stdin /dev/null, output to a file) and waits until it is ready. */
static void start_target(void)
{
    rs_py_run("import os, subprocess, sys, time, signal, refscope, fixtures.dump_heap as dh\n"
              "tmp = dh.scratch_dir()\n"
              "ready = os.path.join(tmp, 'ready')\n"
              "grow_file = os.path.join(tmp, 'grow')\n"
              "env = dh.child_env('" RS_BUILD_LIB "')\n"
              "out = open(os.path.join(tmp, 'out.txt'), 'w')\n"
              "target = subprocess.Popen([sys.executable, '" RS_SOURCE_DIR "/tests/fixtures/dump_target.py',\n"
              "                           ready, tmp, grow_file], stdin=subprocess.DEVNULL, stdout=out,\n"
              "                          stderr=subprocess.STDOUT, start_new_session=True, env=env)\n"
              "def wait_for(cond, seconds=120):\n"
              "    deadline = time.monotonic() + seconds\n"
              "    while time.monotonic() < deadline:\n"
              "        if cond():\n"
              "            return True\n"
              "        if target.poll() is not None:\n"
              "            return False\n"
              "        time.sleep(0.05)\n"
              "    return False\n"
              "def dumps():\n"
              "    return sorted(f for f in os.listdir(tmp) if f.endswith('.rsd'))\n"
              "def output():\n"
              "    return open(os.path.join(tmp, 'out.txt')).read()\n"
              "started = wait_for(lambda: os.path.exists(ready))\n");
    ck_assert_msg(rs_py_long("started"), "the dump target did not start:\n%s", rs_py_str("output()"));
}

static void stop_target(void)
{
    rs_py_run("target.kill()\n"
              "target.wait(60)\n"
              "out.close()\n");
}

START_TEST(test_dump_signal_without_terminal)
{
    /* Check whether SIGUSR2 makes a program that has no terminal, after
     * refscope.install(dump_signal=SIGUSR2, dump_dir=D), write a complete
     * dump into D that names its pid and holds its cache with its path. */
    start_target();
    ck_assert_str_eq(rs_py_str("open(ready).read().split()[1]"), "0"); /* no terminal at all */
    rs_py_run("os.kill(target.pid, signal.SIGUSR2)\n"
              "wrote = wait_for(lambda: dumps())\n");
    ck_assert_msg(rs_py_long("wrote"), "no dump appeared:\n%s", rs_py_str("output()"));
    rs_py_run("name = dumps()[0]\n"
              "d = refscope.load(os.path.join(tmp, name))\n"
              "entries = d.instances('__main__.Entry')\n");
    ck_assert_str_eq(rs_py_str("name.startswith('refscope-%d-' % target.pid)"), "True");
    ck_assert_int_eq(rs_py_long("d.info['pid']"), rs_py_long("target.pid"));
    ck_assert_int_eq(rs_py_long("len(entries)"), 200);
    ck_assert_str_eq(rs_py_str("sorted(str(d.path(e)) for e in entries)[0]"), "sys.modules['__main__'].CACHE['entry-0']");
    ck_assert_int_eq(rs_py_long("len({str(d.path(e)) for e in entries})"), 200);
    ck_assert_int_ge(rs_py_long("d.retained_size(d.node(d._columns()[0][entries[0].index]))"), 2000);
    /* The program goes on running. */
    ck_assert_int_eq(rs_py_long("target.poll() is None"), 1);
    stop_target();
}
END_TEST

START_TEST(test_dump_command_and_diff)
{
    /* Check whether `refscope dump PID -o FILE` makes a running program
     * write a dump, and `refscope diff OLD NEW` over two dumps taken before
     * and after its cache grew names the cache's path first, with the bytes
     * and objects it gained, and `refscope report FILE` reads a dump. */
    start_target();
    rs_py_run("cli = '" RS_BUILD_LIB "/../bin/refscope'\n"
              "def run(*args):\n"
              "    r = subprocess.run([cli] + list(args), capture_output=True, text=True, timeout=300, env=env)\n"
              "    return r.returncode, r.stdout + r.stderr\n"
              "old = os.path.join(tmp, 'old.rsd')\n"
              "new = os.path.join(tmp, 'new.rsd')\n"
              "status1, said1 = run('dump', str(target.pid), '-o', old)\n"
              "open(grow_file, 'w').close()\n"
              "grown = wait_for(lambda: os.path.exists(ready + '.grown'))\n"
              "status2, said2 = run('dump', str(target.pid), '-o', new)\n");
    ck_assert_msg(rs_py_long("status1") == 0, "refscope dump failed: %s", rs_py_str("said1"));
    ck_assert_msg(rs_py_long("status2") == 0, "refscope dump failed: %s", rs_py_str("said2"));
    ck_assert_int_eq(rs_py_long("grown"), 1);
    ck_assert_int_eq(rs_py_long("len(refscope.load(old).instances('__main__.Entry'))"), 200);
    ck_assert_int_eq(rs_py_long("len(refscope.load(new).instances('__main__.Entry'))"), 3200);
    rs_py_run("status, text = run('diff', old, new)\n"
              "lines = text.splitlines()\n"
              "first = lines[lines.index('Growth by holder (retained size and objects gained, newer dump\\'s paths):') + 1]\n"
              "status_j, text_j = run('diff', '--json', old, new)\n"
              "holder = __import__('json').loads(text_j)['holders'][0]\n");
    ck_assert_msg(rs_py_long("status") == 0, "refscope diff failed: %s", rs_py_str("text"));
    ck_assert_str_eq(rs_py_str("first.split()[0]"), "sys.modules['__main__'].CACHE");
    ck_assert_str_eq(rs_py_str("holder[0]"), "sys.modules['__main__'].CACHE");
    /* 3000 entries of an Entry, its __dict__ or inline values, a key and a
     * 2000-byte bytearray each: at least 3000 * 2000 bytes and 9000 objects. */
    ck_assert_int_ge(rs_py_long("holder[1]"), 3000 * 2000);
    ck_assert_int_ge(rs_py_long("holder[2]"), 9000);
    ck_assert_str_eq(rs_py_str("any(l.split()[:2] == ['__main__.Entry', '+3.0K'] for l in lines)"),
                     "True");
    rs_py_run("status_r, report = run('report', new)\n");
    ck_assert_msg(rs_py_long("status_r") == 0, "refscope report FILE failed: %s", rs_py_str("report"));
    ck_assert_str_eq(rs_py_str("('PID %d' % target.pid) in report and \"sys.modules['__main__'].CACHE\" in report"),
                     "True");
    /* A file that is not a dump: a message, exit status 1. */
    rs_py_run("status_bad, said_bad = run('report', ready)\n");
    ck_assert_int_eq(rs_py_long("status_bad"), 1);
    ck_assert_str_eq(rs_py_str("'not a usable refscope dump' in said_bad"), "True");
    stop_target();
}
END_TEST

START_TEST(test_dump_stored_engine_matches_live)
{
    /* Check whether the engine `refscope open` and `refscope report FILE`
     * run on a dump gives what it gives on the live snapshot the dump was
     * written from: the screens (census, top suspects with their why-alive
     * paths, cycles, garbage, objects with labelled referents and
     * referrers, retained sets, threads with their frames and locals) and
     * report.c's report, text and JSON (suspects, cycles, garbage,
     * closures, unexplained references, retained sizes). */
    build_heap_and_dump();
    rs_py_run("import json, subprocess\n"
              "screen_diffs = dh.compare_screens(s, d)\n"
              "cli = '" RS_BUILD_LIB "/../bin/refscope'\n"
              "def run(*args):\n"
              "    r = subprocess.run([cli] + list(args), capture_output=True, text=True, timeout=300,\n"
              "                       env=dh.child_env('" RS_BUILD_LIB "'))\n"
              "    return r.returncode, r.stdout, r.stderr\n"
              "status_j, out_j, err_j = run('report', '--json', dump_path)\n"
              "status_t, out_t, err_t = run('report', dump_path)\n"
              "live = json.loads(refscope.report(snapshot=s, format='json'))\n"
              "live_text = refscope.report(snapshot=s)\n"
              "report_diffs = dh.compare_reports(live, json.loads(out_j)) if status_j == 0 else ['failed']\n"
              "paths = [x['path'] for x in live['suspects']] + [c['example']['path'] for c in live['cycles']['top']"
              " if c['example']['path']]\n");
    ck_assert_msg(rs_py_long("len(screen_diffs)") == 0, "screens on the dump differ:\n%s",
                  rs_py_str("'\\n'.join(screen_diffs)"));
    ck_assert_msg(rs_py_long("status_j") == 0 && rs_py_long("status_t") == 0, "refscope report FILE failed: %s",
                  rs_py_str("err_j + err_t"));
    ck_assert_msg(rs_py_long("len(report_diffs)") == 0, "the dump's report differs:\n%s",
                  rs_py_str("'\\n'.join(report_diffs)[:3000]"));
    /* The comparison is about the leaks: the cache, the callbacks and the
     * log are suspects, the tree's cycle is listed, and the text names the same paths. */
    ck_assert_str_eq(rs_py_str("sorted({'CACHE', 'CALLBACKS', 'LOG'} & {x['path'].split('.')[-1] for x in live['suspects']})"),
                     "['CACHE', 'CALLBACKS', 'LOG']");
    ck_assert_str_eq(rs_py_str("any('TreeNode' in t for c in live['cycles']['top'] for t in c['types'])"), "True");
    ck_assert_int_ge(rs_py_long("len(paths)"), 5);
    ck_assert_str_eq(rs_py_str("[p for p in paths if p not in out_t or p not in live_text]"), "[]");
    ck_assert_str_eq(rs_py_str("('from the dump of PID %d' % os.getpid()) in out_t"), "True");
    /* The value pane shows a stored string in full. */
    rs_py_run("text_node = d.node(id(app.CACHE['req-00042'].body)).index\n"
              "value_rows = refscope._screen_rows(d, 'value', text_node)\n");
    ck_assert_str_eq(rs_py_str("repr(app.CACHE['req-00042'].body)[:60] in ''.join(value_rows)"), "True");
    rs_py_run("dh.finish()\n");
}
END_TEST

START_TEST(test_dump_fuzzed_files_browsed)
{
    /* Check whether mutated dumps whose checksums were recomputed (so that
     * only the structural checks guard the reader) either are refused with
     * refscope.Error or answer the report and every screen `refscope open`
     * shows, without crashing. */
    build_heap_and_dump();
    rs_py_run("loaded, refused, messages = dh.fuzz(dump_path, 300, 15, reseal=True, browse=True)\n");
    ck_assert_int_eq(rs_py_long("loaded + refused"), 300);
    ck_assert_int_ge(rs_py_long("loaded"), 1);
    rs_py_run("dh.finish()\n");
}
END_TEST

Suite *suite_dump(void)
{
    Suite *s = suite_create("dump");
    TCase *tc = tcase_create("dump");
    tcase_set_timeout(tc, getenv("RS_VALGRIND") ? 1800 : 600);
    tcase_add_test(tc, test_dump_differential);
    tcase_add_test(tc, test_dump_reads_format_v1);
    tcase_add_test(tc, test_dump_load_is_a_snapshot);
    tcase_add_test(tc, test_dump_header_and_objects);
    tcase_add_test(tc, test_dump_allocation_tracebacks);
    tcase_add_test(tc, test_dump_bad_files);
    tcase_add_test(tc, test_dump_fuzzed_files);
    tcase_add_test(tc, test_dump_no_reference_leaks);
    tcase_add_test(tc, test_dump_signal_without_terminal);
    tcase_add_test(tc, test_dump_command_and_diff);
    tcase_add_test(tc, test_dump_stored_engine_matches_live);
    tcase_add_test(tc, test_dump_fuzzed_files_browsed);
    suite_add_tcase(s, tc);
    return s;
}

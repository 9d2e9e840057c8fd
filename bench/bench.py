"""make bench: refscope beside Python's own tools and objgraph, in one run.

A heap of BENCH_N objects (default 1,000,000) modelled on a real service:
a module-level cache of records (each with a dict of headers and a str),
a tree whose nodes point back at their parent, lists of records, strings.
Every row prints refscope's figure, its ratio to one gc.collect() on the
same heap in the same run (a full collection traverses every tracked object
too, so it is the yardstick on any machine), the target for that ratio, and
the other tool's figure.  Times are the process's CPU time
(time.process_time), so that other work on a shared machine does not skew
the ratios; the heap-building and total lines are wall-clock time.  This is a benchmark, not a test: it never fails
on a slow figure.  BENCH_N=10000000 takes about two minutes and 3.5 GB.
"""
import gc
import os
import resource
import signal
import sys
import time
import types

import refscope

try:
    import objgraph
except ImportError:  # Debian's python3-objgraph, for a python3 that is not Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import objgraph
    except ImportError:
        objgraph = None

N = int(os.environ.get("BENCH_N", "1000000"))
OBJGRAPH_CAP = float(os.environ.get("BENCH_OBJGRAPH_CAP", "120"))


class Record:
    def __init__(self, i, parent=None):
        self.id = i
        self.name = "record-%d" % i
        self.parent = parent
        self.tags = None


class TreeNode:
    def __init__(self, parent):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


def build_heap(n):
    """Returns a module 'benchapp' in sys.modules holding about n objects."""
    app = types.ModuleType("benchapp")
    sys.modules["benchapp"] = app
    per_record = 3  # Record, its name str, its id int (small ints are shared)
    records = n * 40 // 100 // per_record
    app.cache = {}
    for i in range(records):
        app.cache["user:%d" % i] = Record(i)
    app.lists = [[Record(i) for i in range(j, j + 100)] for j in range(0, n * 15 // 100 // per_record, 100)]
    # A deep tree: a chain of 200 nodes with fanout below, parent links back.
    node = app.tree = TreeNode(None)
    for depth in range(200):
        node = TreeNode(node)
    leaves = n * 30 // 100 // 2  # a TreeNode and its children list each
    layer = [app.tree]
    made = 0
    while made < leaves:
        nxt = []
        for p in layer:
            for _ in range(4):
                if made < leaves:
                    nxt.append(TreeNode(p))
                    made += 1
        layer = nxt
    app.strings = ["line %d of the access log\n" % i for i in range(n // 10)]
    return app, node


def seconds(fn, repeat=3):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t)
    return best, result


def python_referrer_index():
    index = {}
    for o in gc.get_objects():
        for r in gc.get_referents(o):
            index.setdefault(id(r), []).append(id(o))
    return index


def objgraph_chain_seconds(target):
    """find_backref_chain in a forked child, capped; None when over the cap."""
    if objgraph is None:
        return "n/a"
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        t = time.process_time()
        objgraph.find_backref_chain(target, objgraph.is_proper_module)
        os.write(wr, b"%f" % (time.process_time() - t))
        os._exit(0)
    os.close(wr)
    deadline = time.time() + OBJGRAPH_CAP
    while time.time() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            out = os.read(rd, 64)
            os.close(rd)
            return float(out) if out else "failed"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(rd)
    return None


def python_retained_size(obj):
    """Bytes freed if obj went away, the way one would compute it in Python:
    everything reachable from the modules, with and without passing obj."""
    def reachable(skip):
        seen = {id(m) for m in sys.modules.values()}
        todo = list(sys.modules.values())
        total = 0
        while todo:
            o = todo.pop()
            total += sys.getsizeof(o)
            for r in gc.get_referents(o):
                if r is not skip and id(r) not in seen:
                    seen.add(id(r))
                    todo.append(r)
        return total
    return reachable(None) - reachable(obj)


def objgraph_show_growth_seconds():
    if objgraph is None:
        return "n/a"
    import io
    objgraph.show_growth(file=io.StringIO())
    keep = [Record(i) for i in range(1000)]  # something to report
    t = time.process_time()
    objgraph.show_growth(file=io.StringIO())
    elapsed = time.process_time() - t
    del keep
    return elapsed


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


GC_SECONDS = None  # best gc.collect() on the bench heap, measured first


def fmt(v):
    if v is None:
        return "> %d s" % OBJGRAPH_CAP
    if isinstance(v, str):
        return v
    return "%.3f ms" % (v * 1e3) if v < 0.1 else "%.3f s" % v


def row(what, mine, theirs, other_name, target=""):
    if isinstance(mine, float) and isinstance(theirs, float) and mine > 0:
        faster = theirs / mine
        ratio = ("%.0fx faster" % faster if faster >= 10 else "%.2fx faster" % faster) if theirs >= mine \
            else "%.2fx slower" % (mine / theirs)
    elif theirs is None and isinstance(mine, float):
        ratio = "> %.0fx faster" % (OBJGRAPH_CAP / mine)
    else:
        ratio = ""
    gc_ratio = "%.2fx" % (mine / GC_SECONDS) if isinstance(mine, float) else ""
    print("%-36s %11s %7s %-8s   %-28s %11s   %s"
          % (what, fmt(mine), gc_ratio, target, other_name, fmt(theirs), ratio))


def on_fresh_snapshot(op, repeat=2):
    """Best time of op(s) on a snapshot just taken (its analyses not yet
    computed), as a user calling op right after refscope.snapshot() sees it."""
    best = float("inf")
    for _ in range(repeat):
        s = refscope.snapshot()
        t = time.process_time()
        op(s)
        best = min(best, time.process_time() - t)
        s.close()
    return best


def main():
    global GC_SECONDS
    print("refscope bench: N=%d (BENCH_N), python %s" % (N, sys.version.split()[0]))
    t0 = time.perf_counter()
    app, deep = build_heap(N)
    gc.collect()
    GC_SECONDS, _ = seconds(gc.collect, repeat=3)
    print("heap: %d gc-tracked objects, built in %.1f s; gc.collect() %s (the yardstick: x gc)"
          % (len(gc.get_objects()), time.perf_counter() - t0, fmt(GC_SECONDS)))
    print()
    print("%-36s %11s %7s %-8s   %-28s %11s   %s"
          % ("operation", "refscope", "x gc", "target", "compared with", "", "ratio"))

    rss0 = rss_bytes()
    t_snap, s = seconds(lambda: refscope.snapshot(), repeat=1)
    rss1 = rss_bytes()
    for _ in range(2):
        s.close()
        t, s = seconds(lambda: refscope.snapshot(), repeat=1)
        t_snap = min(t_snap, t)
    nodes, edges = len(s), s.edge_count
    t_py_index, _ = seconds(python_referrer_index, repeat=1)
    row("snapshot (both indexes)", t_snap, t_py_index, "gc.get_objects+py index", "<= 1.5x")

    victim = app.cache["user:12345"] if "user:12345" in app.cache else next(iter(app.cache.values()))
    # A first question about each of nine records across the cache (the
    # labels of the object asked about last are kept, so asking again
    # would time the cache): the median.
    records = list(app.cache.values())
    firsts = sorted(seconds(lambda: s.referrers(r), repeat=1)[0]
                    for r in records[len(records) // 18::max(1, len(records) // 9)][:9])
    t_ref = firsts[len(firsts) // 2]
    t_gc_ref, _ = seconds(lambda: gc.get_referrers(victim), repeat=1)
    row("referrers(obj), first call", t_ref, t_gc_ref, "gc.get_referrers", "<= 50us")
    del records

    t_path_cold, p = seconds(lambda: s.path(deep), repeat=1)
    t_path, p = seconds(lambda: s.path(deep), repeat=5)
    chain = objgraph_chain_seconds(deep)
    row("path(deep tree node), first call", t_path_cold, chain, "objgraph.find_backref_chain", "<= 5ms")
    row("path(deep tree node), again", t_path, chain, "objgraph.find_backref_chain", "<= 5ms")
    print("    path: %s... (%d steps)" % (str(p)[:70], len(p)))

    mem = s.memory
    s.close()
    row("census() with retained, fresh snap", on_fresh_snapshot(lambda s: s.census()), "", "", "<= 1x")
    row("cycles() with ranking, fresh snap", on_fresh_snapshot(lambda s: s.cycles()), "", "", "<= 0.5x")
    row("report() after a snapshot", on_fresh_snapshot(lambda s: refscope.report(snapshot=s)), "", "",
        "<= 1x")
    first_screen, progress_screens, _ = refscope._bench_keypress(None, 0)
    row("browser's first screen (summary)", first_screen, "", "", "<= 2x")
    print("    %d progress screens drawn on the way" % progress_screens)

    # On a fresh snapshot, as cycles() and census() meet them: computed
    # again on the same snapshot they find the graph in cache (at 10M, 2-3x
    # faster than the first time).
    t_scc = on_fresh_snapshot(lambda s: s.compute("scc"))
    row("cycles (SCC alone), fresh snap", t_scc, "", "")
    t_dom = on_fresh_snapshot(lambda s: s.compute("dominators"))
    t_py_retained, _ = seconds(lambda: python_retained_size(victim), repeat=1)
    row("dominators alone, fresh snap", t_dom, t_py_retained, "one retained size in Python")
    s = refscope.snapshot()

    refscope.mark(snapshot=s)
    s.close()
    for i in range(1000):
        app.cache["new:%d" % i] = Record(i)
    s2 = refscope.snapshot()
    t_growth, _ = seconds(lambda: refscope.growth(snapshot=s2), repeat=3)
    s2.close()
    t_show_growth = objgraph_show_growth_seconds()
    row("growth diff alone (snapshot= passed)", t_growth, t_show_growth, "objgraph.show_growth")
    t_growth_all, _ = seconds(lambda: refscope.growth(), repeat=2)
    row("growth() end to end", t_growth_all, t_show_growth, "objgraph.show_growth", "<=.5x og")
    t_growth_walk, _ = seconds(lambda: refscope.growth(collect=False), repeat=2)
    row("growth(collect=False) end to end", t_growth_walk, t_show_growth, "objgraph.show_growth")

    node_bytes = (mem - 8 * edges) / nodes
    print()
    print("snapshot: %d nodes, %d edges; refscope memory %.1f MiB = %.1f B/node + 8 B/edge"
          " (target 40 B/node + 8 B/edge); RSS grew %.1f MiB"
          % (nodes, edges, mem / 2**20, node_bytes, (rss1 - rss0) / 2**20))
    s = refscope.snapshot()
    dump_bench(s, t_snap, mem)
    s.close()

    # Keypress to redraw, through the browser drawing into an off-screen pty,
    # on the screens of a type with a million members and a million-item dict,
    # rows grouped (as the browser opens them) and the million-row group unfolded.
    print()
    points = [Point() for _ in range(1_000_000)]
    big = {i: None for i in range(1_000_000)}
    for what, target in (("key on instances of a 1M type", "%s.Point" % Point.__module__),
                         ("key on a 1M-item dict's screen", big)):
        times = sorted(refscope._bench_keypress(target, 4000))
        p99 = times[int(len(times) * 0.99)]
        print("%-36s %11s   median %.3f ms over %d keys (target p99 <= 16 ms)"
              % (what + ", p99", "%.3f ms" % (p99 * 1e3), times[len(times) // 2] * 1e3, len(times)))
    del points, big
    print("bench: %.0f s in all, peak RSS %.0f MiB"
          % (time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def dump_bench(s, t_snap, mem):
    """Heap dump of snapshot s: write time, file size, load time, first analyses."""
    import os
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="refscope-bench-")
    try:
        path = os.path.join(tmp, "heap.rsd")
        t_write, _ = seconds(lambda: s.save(path), repeat=1)
        size = os.path.getsize(path)
        t_load, d = seconds(lambda: refscope.load(path), repeat=1)
        t_census, _ = seconds(lambda: d.census(), repeat=1)
        d.close()
        print()
        row("dump write (Snapshot.save)", t_write, t_snap, "the snapshot itself", "<= 1x snap")
        row("dump load (refscope.load)", t_load, "", "")
        row("census of the loaded dump", t_census, "", "")
        print("dump file: %.1f MiB = %.1f B/node (%.2fx refscope's in-memory graph)"
              % (size / 2**20, size / len(s), size / mem))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Point:
    __slots__ = ("x",)


if __name__ == "__main__":
    main()

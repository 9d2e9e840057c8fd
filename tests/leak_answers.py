"""Prints refscope's answers about examples/leaky_service.py in a form that
must not depend on the CPython version: why-alive paths, cycles, the
retained sets (objects by type) and whether each retained size is the sum
of sys.getsizeof over its retained set.  `make check-all` runs it on every
interpreter and fails when two versions answer differently.

Run from the source tree: python3 tests/leak_answers.py
"""
import gc
import io
import os
import re
import sys
from contextlib import redirect_stdout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
os.environ["REFSCOPE_DEMO_HEADLESS"] = "1"

import leaky_service as app  # noqa: E402
import refscope  # noqa: E402


def retained_answer(s, obj):
    """(objects by type, retained size == sum of their sys.getsizeof)."""
    objs = s.retained(obj)
    by_type = {}
    for o in objs:
        name = type(o).__qualname__
        by_type[name] = by_type.get(name, 0) + 1
    consistent = s.retained_size(obj) == sum(sys.getsizeof(o) for o in objs)
    return sorted(by_type.items()), consistent


def main():
    with redirect_stdout(io.StringIO()):  # the demo's own headless lines
        app.main()
    gc.collect()
    with refscope.snapshot() as s:
        old = [c for c in s.instances(app.Config) if c.version == 1][0]
        leaf = app.TREE.children[2].children[1].children[0]
        subjects = [
            ("cached response", app.CACHE["req-00042"]),
            ("old config", old),
            ("callback buffer", app.CALLBACKS[7].__closure__[0].cell_contents),
            ("tree leaf", leaf),
            ("cache", app.CACHE),
            ("callbacks", app.CALLBACKS),
            ("tree", app.TREE),
        ]
        for name, obj in subjects:  # thread idents differ from run to run
            print("path of %s: %s" % (name, re.sub(r"_active\[\d+\]", "_active[<ident>]", str(s.path(obj)))))
        for name, obj in subjects:
            by_type, consistent = retained_answer(s, obj)
            print("retained by %s: %s; size is their sum: %s" % (name, by_type, consistent))
        cycle = s.cycle_of(app.TREE)
        print("tree cycle: %d objects, types %s" % (
            len(cycle.objects), sorted({type(o).__qualname__ for o in cycle.objects})))
        print("tree cycle edge to break: %s" % (cycle.break_edges[0][2],))
        print("in a cycle: cached response %s, tree leaf %s" % (
            s.in_cycle(app.CACHE["req-00042"]), s.in_cycle(leaf)))
        connections = [o for o, kind, reason in s.garbage() if type(o) is app.Connection]
        print("Connection objects in garbage: %d" % len(connections))
        print("unexplained references to immortal objects: %d" % sum(
            s.unexplained(o) for o in s.objects() if s.immortal(o)))
    app.stop.set()


if __name__ == "__main__":
    main()

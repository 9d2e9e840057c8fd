"""A dump read by another CPython gives the answers its writer saw.

    python tests/dump_answers.py write FILE   builds the heap of
        examples/leaky_service.py, writes its dump to FILE (and the addresses
        of the objects asked about to FILE.subjects) and prints refscope's
        answers about the live snapshot it wrote;
    python tests/dump_answers.py read FILE    prints the same answers from
        the dump, with whichever refscope and CPython run it.

`make check-all` writes a dump with every CPython it finds and reads each
with every build: the outputs must be equal to the writer's, line by line.
The answers: counts, the census with retained sizes, why-alive paths and
retained sizes of the example's leaks, cycles, garbage, closures and frames.
"""
import gc
import io
import os
import sys
from contextlib import redirect_stdout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
os.environ["REFSCOPE_DEMO_HEADLESS"] = "1"

import refscope  # noqa: E402


def key(obj):
    """An object's address: a stored object's, or a live one's id()."""
    return obj.address if hasattr(obj, "address") else id(obj)


def answers(s, subjects):
    """Lines of answers about snapshot or dump s; subjects: [(name, object)]."""
    out = ["objects %d, edges %d" % (len(s), s.edge_count)]
    out += ["census %s %d %d %d" % row for row in s.census()]
    for name, obj in subjects:
        path = s.path(obj)
        text = None if path is None else path.display() if hasattr(path, "display") else str(path)
        out.append("path of %s: %s" % (name, text))
        out.append("retained by %s: %d" % (name, s.retained_size(obj)))
    out += ["cycle of %d objects, %d bytes, retaining %d%s" % (
        len(c.objects), c.size, c.retained, ", garbage" if c.garbage else "") for c in s.cycles()]
    out += ["garbage %x %s" % (key(row[0]), row[1]) for row in sorted(s.garbage(), key=lambda r: (key(r[0]), r[1]))]
    out += ["closure %x %s %x %d" % (key(f), name, key(v), r) for f, name, v, r in s.closures()]
    for thread, ident, frames in s.frames():
        for function, where, local_rows in frames:
            out.append("frame %s %s %s: %s" % (thread, function, where,
                                                 [(name, key(v), size, r) for name, v, size, r in local_rows]))
    return out


def write(path):
    import leaky_service as app
    with redirect_stdout(io.StringIO()):  # the demo's own headless lines
        app.main()
    gc.collect()
    with refscope.snapshot() as s:
        old = [c for c in s.instances(app.Config) if c.version == 1][0]
        subjects = [
            ("cached response", app.CACHE["req-00042"]),
            ("old config", old),
            ("callback buffer", app.CALLBACKS[7].__closure__[0].cell_contents),
            ("tree leaf", app.TREE.children[2].children[1].children[0]),
            ("cache", app.CACHE),
            ("tree", app.TREE),
        ]
        s.save(path)
        with open(path + ".subjects", "w") as f:
            f.writelines("%x %s\n" % (id(obj), name) for name, obj in subjects)
        lines = answers(s, subjects)
    app.stop.set()
    return lines


def read(path):
    with open(path + ".subjects") as f:
        pairs = [line.rstrip("\n").split(" ", 1) for line in f]
    with refscope.load(path) as d:
        return answers(d, [(name, d.node(int(address, 16))) for address, name in pairs])


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "read"):
        sys.exit("usage: dump_answers.py write|read FILE")
    lines = write(sys.argv[2]) if sys.argv[1] == "write" else read(sys.argv[2])
    print("\n".join(lines))


if __name__ == "__main__":
    main()

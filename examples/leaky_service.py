"""A small service that leaks in every way refscope knows about.

Run it under refscope (`make demo`, or `refscope run examples/leaky_service.py`)
and look for the leaks below; with --serve it prints its PID and keeps
running, for `refscope attach PID`, `refscope report PID` and `refscope dump`.
Look for:
  - a request cache that never ages entries       (sys.modules[...].CACHE)
  - a tree whose nodes point back at their parent (cycles, edge to break: .parent)
  - a worker thread still holding an old config   (threads screen, local 'config')
  - callbacks whose closures capture big buffers  (closures screen, var 'payload')
  - objects with __del__ in reference cycles      (garbage screen: finalizer-in-cycle)
  - an ever-growing string log                    (largest strings)
"""
import os
import sys
import threading
import time

CACHE = {}          # request id -> Response, never evicted
POOLS = []          # connection pools, each in a cycle with its Connection
CALLBACKS = []      # registered on every request, never removed
LOG = []            # every request appends a line; joined into one big str
ACCESS_LOG = ""     # ... and kept as one ever-growing string


class Config:
    def __init__(self, version):
        self.version = version
        self.blob = "c" * 50_000 * version


class Response:
    def __init__(self, request_id, body):
        self.request_id = request_id
        self.body = body
        self.headers = {"content-length": str(len(body)), "x-request": request_id}


class TreeNode:
    """Children know their parent: a parent<->child cycle per node."""

    def __init__(self, name, parent=None):
        self.name = name
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


class Connection:
    """Has a finalizer and, by mistake, a reference to itself via its pool."""

    def __init__(self, pool):
        self.pool = pool
        pool.append(self)

    def __del__(self):
        pass


def handle(request_id):
    global ACCESS_LOG
    body = ("<html>%s</html>" % request_id) * 20
    CACHE[request_id] = Response(request_id, body)
    payload = bytearray(10_000)

    def on_done():
        return len(payload)

    CALLBACKS.append(on_done)
    LOG.append("GET /item/%s 200\n" % request_id)
    ACCESS_LOG += "GET /item/%s 200\n" % request_id


def build_tree(depth, fanout, parent=None, name="root"):
    node = TreeNode(name, parent)
    if depth > 0:
        for i in range(fanout):
            build_tree(depth - 1, fanout, node, "%s.%d" % (name, i))
    return node


TREE = build_tree(4, 3)
stop = threading.Event()


def worker(config):
    # The main thread swaps in new configs, but this frame keeps the old one.
    while not stop.wait(0.2):
        pass


def main():
    global current_config
    current_config = Config(1)
    threading.Thread(target=worker, args=(current_config,), name="worker", daemon=True).start()
    current_config = Config(2)
    for pool_no in range(3):
        POOLS.append([])
        Connection(POOLS[-1])   # a __del__ object in a cycle: only gc can free it
    for i in range(2000):
        handle("req-%05d" % i)
    if "--serve" in sys.argv[1:]:
        # Keep running, leaks and all, for `refscope attach/report/dump PID`.
        print("leaky_service: serving as PID %d (refscope attach %d opens its browser); "
              "Ctrl-C ends it" % (os.getpid(), os.getpid()), flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        return
    # The demo's job: show why the leaked objects are alive.
    import refscope
    if os.environ.get("REFSCOPE_DEMO_HEADLESS") or not sys.stdout.isatty():
        with refscope.snapshot() as s:
            leaked = CACHE["req-00042"]
            print("refscope: %d objects, %d edges, snapshot in %.3f s" % (len(s), s.edge_count, s.seconds))
            print("why is the cached response alive?")
            print("   ", s.path(leaked))
            print("why is the old config alive?")
            old = [c for c in s.instances(Config) if c.version == 1][0]
            print("   ", s.path(old))
            print("why is a callback's buffer alive?")
            print("   ", s.path(CALLBACKS[7].__closure__[0].cell_contents))
            print("top types by size:")
            for name, count, size, retained in s.census()[:5]:
                print("    %-24s %8d objects %10d bytes" % (name, count, size))
        return
    refscope.browse()


if __name__ == "__main__":
    main()

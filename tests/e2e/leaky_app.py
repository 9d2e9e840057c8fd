"""A small leaky program for the browser's end-to-end tests.

It leaks in the ways the browser's screens show, then opens the browser
with refscope.browse() and, once the browser is left, says so and exits:
  - SESSIONS: a module-level cache of Session objects with big payloads
    (the top suspect on the summary screen)
  - a TreeNode tree whose children point back at their parent (cycles)
  - a Resource with __del__ in a reference cycle (garbage screen)
  - HANDLERS: closures that capture 'captured_secret' (closures screen)
  - a thread 'leaky-worker' blocked with a local 'worker_local_config'
  - EVIL: an object whose repr holds terminal escape sequences
  - TICKS: a thread appends to it while the browser waits for keys
  - STREAM: a suspended generator whose local 'generator_buffer' lives on
  - PROBES: empty; tests fill it with Probe objects through :eval
$LEAKY_BROWSE_OBJECT, when set, browses SESSIONS['session-7'] after the
first browser is left.
$LEAKY_PID_FILE, when set, receives the process id.
"""
import os
import sys
import threading
import time

import refscope

SESSIONS = {}
HANDLERS = []
TICKS = []


class Session:
    def __init__(self, sid):
        self.sid = sid
        self.payload = bytearray(20_000)


class TreeNode:
    def __init__(self, name, parent=None):
        self.name = name
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


class Resource:
    def __init__(self):
        self.me = self

    def __del__(self):
        pass


class Probe:
    """Allocated by the tests with :eval, to count growth exactly."""


PROBES = []


class Evil:
    def __repr__(self):
        return "EVIL\x1b[2J\x1b[31mRED\x07"


def make_handler(i):
    captured_secret = bytearray(5_000 + i)

    def handler():
        return len(captured_secret)

    return handler


def stream():
    generator_buffer = bytearray(7_000)
    yield 1
    yield len(generator_buffer)


def ticker(stop):
    while not stop.wait(0.01):
        TICKS.append(len(TICKS))


def worker(ready, stop):
    worker_local_config = {"mode": "stale-config", "blob": "w" * 3000}
    ready.set()
    stop.wait()
    return worker_local_config


for i in range(300):
    SESSIONS["session-%d" % i] = Session(i)
ROOT = TreeNode("root")
for i in range(5):
    child = TreeNode("child-%d" % i, ROOT)
    for j in range(3):
        TreeNode("leaf-%d-%d" % (i, j), child)
RESOURCE = Resource()
for i in range(3):
    HANDLERS.append(make_handler(i))
EVIL = Evil()
STREAM = stream()
next(STREAM)

ready, stop = threading.Event(), threading.Event()
thread = threading.Thread(target=worker, args=(ready, stop), name="leaky-worker", daemon=True)
thread.start()
ready.wait()
threading.Thread(target=ticker, args=(stop,), name="ticker", daemon=True).start()
if os.environ.get("LEAKY_PID_FILE"):
    with open(os.environ["LEAKY_PID_FILE"], "w") as f:
        f.write(str(os.getpid()))

if os.environ.get("LEAKY_NO_BROWSE"):
    print("fixture ready")
else:
    refscope.browse()
    if os.environ.get("LEAKY_BROWSE_TWICE"):
        # A second browser in the same process: ncurses installs its own
        # SIGWINCH handler only once per process.
        print("second browse in a moment", flush=True)
        time.sleep(1.0)
        refscope.browse()
    if os.environ.get("LEAKY_BROWSE_OBJECT"):
        # browse(obj) must not show its own call as one of obj's holders.
        print("browsing a session in a moment", flush=True)
        refscope.browse(SESSIONS["session-7"])
print("after browse: the program continues", flush=True)
stop.set()
thread.join()
print("leaky_app done", flush=True)

"""Heap dumps read back: refscope.load(FILE) gives a Dump with the API of a
live Snapshot, stored objects in place of live ones.

The C side (refscope._refscope.DumpFile) answers by node index; this module
turns indexes into StoredObject values and builds Path and Cycle lookalikes.
"""
import time as _time

from ._refscope import DumpFile, Error


class StoredObject:
    """An object as the dump stored it: .type, .size, .repr, .address,
    .refcount, .unexplained (references no stored object explains)."""

    __slots__ = ("_dump", "index", "address", "type", "size", "refcount", "unexplained", "flags", "_repr")

    def __init__(self, dump, index):
        self._dump = dump
        self.index = index
        (self.address, self.type, self.size, self.refcount, self.unexplained, self.flags,
         self._repr) = dump._file.node(index)

    @property
    def repr(self):
        """The stored repr (bounded), or <type object at address> when none was stored."""
        if self._repr is not None:
            return self._repr
        return "<%s object at 0x%x>" % (self.type, self.address)

    def __eq__(self, other):
        return isinstance(other, StoredObject) and other._dump is self._dump and other.index == self.index

    def __hash__(self):
        return hash((id(self._dump), self.index))

    def __repr__(self):
        return "<stored %s at 0x%x: %s>" % (self.type, self.address, self.repr)


class StoredPath(list):
    """Why a stored object was alive: [(StoredObject, label)] from a root;
    str() is the path as the browser shows it, e.g. sys.modules['app'].cache['k']."""

    def __init__(self, steps, expression):
        super().__init__(steps)
        self.expression = expression

    def __str__(self):
        return self.expression

    def display(self):
        return self.expression


class StoredCycle:
    """A cycle of a dump: .objects, .size, .retained, .garbage."""

    def __init__(self, objects, size, retained, garbage):
        self.objects, self.size, self.retained, self.garbage = objects, size, retained, garbage

    def __len__(self):
        return len(self.objects)

    def __repr__(self):
        return "<refscope stored cycle of %d objects, %d bytes retained>" % (len(self.objects), self.retained)


class Dump:
    """A heap dump opened for reading (refscope.load(FILE))."""

    def __init__(self, path):
        self._file = DumpFile(path)
        self.filename = path
        self.info = self._file.info()
        self.pid = self.info["pid"]
        self.time = self.info["time"]
        self.python_version = self.info["python_version"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    def __len__(self):
        return len(self._file)

    @property
    def taken(self):
        """When the dump was written, as "2026-11-29 10:42" (local time)."""
        try:
            return _time.strftime("%Y-%m-%d %H:%M", _time.localtime(self.time))
        except (OverflowError, ValueError, OSError):
            return "at an unreadable time"

    def __repr__(self):
        return "<refscope.Dump of pid %d, taken %s, Python %s: %d objects>" % (
            self.pid, self.taken, self.python_version, len(self))

    @property
    def edge_count(self):
        return self._file.edge_count

    @property
    def seconds(self):
        return self.info["snapshot_seconds"]

    def _obj(self, index):
        return StoredObject(self, index)

    def _index(self, obj):
        if isinstance(obj, StoredObject):
            if obj._dump is not self:
                raise Error("that stored object belongs to another dump; look it up here with node(obj.address)")
            return obj.index
        if isinstance(obj, int):
            return obj
        raise Error("expected a stored object of this dump (from objects(), instances(), node(address)), not %s"
                    % type(obj).__name__)

    def node(self, address):
        """The stored object at an address, or None."""
        index = self._file.find(address)
        return None if index is None else self._obj(index)

    def objects(self):
        return [self._obj(i) for i in self._file.objects()]

    def census(self):
        return self._file.census()

    def instances(self, type_name):
        return [self._obj(i) for i in self._file.instances(type_name)]

    def referents(self, obj):
        return [(self._obj(i), label) for i, label in self._file.referents(self._index(obj))]

    def referrers(self, obj):
        return [(self._obj(i), label) for i, label in self._file.referrers(self._index(obj))]

    def path(self, obj):
        found = self._file.path(self._index(obj))
        if found is None:
            return None
        steps, expression = found
        return StoredPath([(self._obj(i), label) for i, label in steps], expression)

    def cycles(self):
        return [StoredCycle([self._obj(i) for i in members], size, retained, garbage)
                for members, size, retained, garbage in self._file.cycles()]

    def in_cycle(self, obj):
        index = self._index(obj)
        return any(index in members for members, _, _, _ in self._file.cycles())

    def garbage(self):
        return [(self._obj(i), kind) for i, kind in self._file.garbage()]

    def closures(self):
        rows = [(self._obj(f), name, self._obj(v), retained) for f, name, v, retained in self._file.closures()]
        rows.sort(key=lambda row: -row[3])
        return rows

    def frames(self):
        return [(thread, ident, [(function, where, [(name, self._obj(v), size, retained)
                                                     for name, v, size, retained in local_rows])
                                 for function, where, local_rows in frame_rows])
                for thread, ident, frame_rows in self._file.frames()]

    def retained_size(self, obj):
        return self._file.retained_size(self._index(obj))

    def retained(self, obj):
        return [self._obj(i) for i in self._file.retained(self._index(obj))]

    def retained_by_type(self):
        return self._file.retained_by_type()

    def largest(self, type_name, n=10):
        return [(self._obj(i), size) for i, size in self._file.largest(type_name, n)]

    def unexplained(self, obj):
        return self._obj(self._index(obj)).unexplained

    def allocated_at(self, obj):
        return self._file.allocated_at(self._index(obj))

    def process_memory(self):
        info = self.info
        return {"objects": info["memory_objects"], "rss": info["rss"], "arenas": info["arenas"]}

    def report(self, file=None, format="text", top=10):
        """The leak-suspects report of refscope.report(), computed from the dump."""
        text = self._file.report(format, top)
        if file is None:
            return text
        file.write(text)
        return None


def load(path):
    """Open a heap dump written by refscope.dump(), Snapshot.save(), `refscope dump PID` or the
    dump signal; raises refscope.Error for a file that is not a whole dump."""
    return Dump(path)


# --- dumps on a signal (refscope.install(dump_signal=..., dump_dir=...)) ----------------

_dump_signal = None  # (signum, the handler it replaced)


def _dump_handler(directory):
    import os

    def refscope_dump_on_signal(signum, frame):
        del frame  # the interrupted frame: no extra reference in the dump
        from . import dump
        stamp = _time.strftime("%Y%m%d-%H%M%S")
        base = os.path.join(directory, "refscope-%d-%s" % (os.getpid(), stamp))
        name, n = base + ".rsd", 1
        while os.path.exists(name):
            n += 1
            name = "%s-%d.rsd" % (base, n)
        try:
            dump(name)
        except Exception as e:  # a signal handler must not raise into the program
            try:
                with open(name + ".error", "w") as f:
                    f.write("refscope could not write %s: %s: %s\n" % (name, type(e).__name__, e))
            except OSError:
                pass
    return refscope_dump_on_signal


def set_dump_signal(signum, directory):
    """Makes signum write a heap dump into directory (None: no dump signal)."""
    global _dump_signal
    import os
    import signal
    clear_dump_signal()
    if signum is None:
        return
    if signum in (signal.SIGKILL, signal.SIGSTOP, signal.SIGWINCH):
        raise Error("refscope.install() cannot use signal %d for dumps; use signal.SIGUSR2" % signum)
    directory = os.path.abspath(directory if directory is not None else os.getcwd())
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise Error("refscope.install(): dump_dir %s is not a directory this process can write; create it or "
                    "give another" % directory)
    previous = signal.signal(signum, _dump_handler(directory))
    _dump_signal = (signum, previous)


def clear_dump_signal():
    """Puts back the handler the dump signal replaced, unless the program replaced ours."""
    global _dump_signal
    import signal
    if _dump_signal is None:
        return
    signum, previous = _dump_signal
    _dump_signal = None
    current = signal.getsignal(signum)
    if getattr(current, "__name__", "") == "refscope_dump_on_signal":
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

"""Heap dumps written on a signal: refscope.install(dump_signal=..., dump_dir=...).

refscope.load(FILE) itself is the C core's: it returns a Snapshot in stored mode
(refscope._refscope.load), whose objects are refscope.StoredObject values.
"""
import time as _time

from ._refscope import Error


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

"""refscope: find memory leaks in a running Python program.

The C core lives in refscope._refscope; everything public is re-exported here.
"""
from ._refscope import _bench_keypress, _key_table, _screen_rows  # the browser's benchmark and test hooks
import signal as _signal

from ._refscope import (Cycle, Error, Path, Snapshot, StoredObject, __version__, browse, growth, mark, report, snapshot,
                        dump, load)
from ._refscope import install as _install, uninstall as _uninstall
from . import stored as _stored


def install(signum=_signal.SIGUSR1, *, dump_signal=None, dump_dir=None):
    """Install the hotkey signal (opens the browser on the program's terminal) and the
    attach listener; returns the socket path.  dump_signal (e.g. signal.SIGUSR2) makes
    that signal write a heap dump refscope-PID-TIME.rsd into dump_dir (default: the
    current directory), with no terminal needed."""
    if dump_signal is not None and dump_signal == signum:
        raise Error("refscope.install(): dump_signal must differ from the hotkey signal %d" % signum)
    path = _install(signum)
    _stored.set_dump_signal(dump_signal, dump_dir)
    return path


def uninstall():
    """Stop the listener and put back the handlers install() replaced."""
    _stored.clear_dump_signal()
    _uninstall()

__all__ = ["Error", "Path", "Snapshot", "snapshot", "__version__", "Cycle", "mark", "growth", "report", "browse",
           "install", "uninstall", "dump", "load", "StoredObject"]

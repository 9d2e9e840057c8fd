"""refscope: find memory leaks in a running Python program.

The C core lives in refscope._refscope; everything public is re-exported here.
"""
from ._refscope import _bench_keypress, _key_table, _screen_rows  # the browser's benchmark and test hooks
from ._refscope import (Cycle, Error, Path, Snapshot, __version__, browse, growth, install, mark, report, snapshot,
                        uninstall, dump)
from .stored import Dump, StoredObject, load

__all__ = ["Error", "Path", "Snapshot", "snapshot", "__version__", "Cycle", "mark", "growth", "report", "browse",
           "install", "uninstall", "dump", "load", "Dump", "StoredObject"]

"""Python code that closes the snapshot it runs inside.

Each entry point below runs one Snapshot method while a callback of the
user's (a file's write, a dict key's __repr__) calls s.close().  run(name)
returns (answer_ok, closed_after): whether the method still gave a correct
answer (or raised refscope.Error), and whether the snapshot is closed once
the method returned."""
import io
import json
import sys

import refscope


class Target:
    pass


class ClosingKey:
    """A dict key whose repr closes the snapshot in CLOSE_ME."""

    def __repr__(self):
        if CLOSE_ME:
            CLOSE_ME[0].close()
        return "ClosingKey()"


class ClosingFile(io.StringIO):
    def write(self, text):
        if CLOSE_ME:
            CLOSE_ME[0].close()
        return super().write(text)


CLOSE_ME = []
# A module-level holder: the path to the value goes through the key's repr.
HOLDER = {}


def _fresh():
    HOLDER.clear()
    value = Target()
    value.payload = list(range(300_000))  # so report() lists HOLDER and reprs its key
    HOLDER[ClosingKey()] = value
    s = refscope.snapshot()
    CLOSE_ME[:] = [s]
    return s, value


def _to_json(s, value):
    f = ClosingFile()
    objects = len(s)
    s.to_json(f)
    data = json.loads(f.getvalue())
    return data["objects"] == objects and len(data["referents"]) == objects


def _referents(s, value):
    labels = [label for obj, label in s.referents(HOLDER) if obj is value]
    return labels == ["[ClosingKey()]"]


def _referrers(s, value):
    labels = [label for obj, label in s.referrers(value) if obj is HOLDER]
    return labels == ["[ClosingKey()]"]


def _path(s, value):
    path = s.path(value)
    # The display form names the key by its repr (which closes s); str()
    # is an expression that evaluates back to the value.
    return path.display().endswith(".HOLDER[ClosingKey()]") and eval(str(path), {"sys": sys}) is value


def _to_dot(s, value):
    f = io.StringIO()
    s.to_dot(f, HOLDER, depth=1)
    return "[ClosingKey()]" in f.getvalue()


def _report(s, value):
    text = refscope.report(snapshot=s, top=3)
    return "Largest" in text or "largest" in text


ENTRY_POINTS = {"to_json": _to_json, "referents": _referents, "referrers": _referrers, "path": _path,
                "to_dot": _to_dot, "report": _report}


def run(name):
    s, value = _fresh()
    try:
        ok = ENTRY_POINTS[name](s, value)
    except refscope.Error:
        ok = True
    finally:
        CLOSE_ME.clear()
    try:
        s.census()
        closed = False
    except refscope.Error:
        closed = True
    return ok, closed and repr(s) == "<refscope.Snapshot closed>"

"""The dump commands: `refscope report FILE` (report.c's report of the dump),
`refscope open FILE` (the browser on it) and `refscope diff OLD NEW`.

diff(old, new) compares two dumps of one process: objects are the same
when address and type match (as refscope.growth() matches them), growth by
type counts what came and went, and growth by holder compares dominator
trees: the containers whose retained size grew the most, named by their
path in the newer dump (a holder whose growth one object it dominates
explains is left out for that object), e.g.
``sys.modules['app'].cache  +120.0M  +1.2M objects``.
"""
import json
import os
import sys

import time

from ._refscope import load, report

# enum rs_node_flag (include/refscope/graph.h) and RS_NODE_INTERNAL (src/snapshot.h).
_NOT_DATA = 1 << 6
_INTERNAL = 1 << 16
# A holder whose biggest dominated object explains this share of its growth is that object's.
_EXPLAINED = 0.9


def _bytes(n):
    sign = "-" if n < 0 else "+"
    n = abs(n)
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return "%s%s%s" % (sign, ("%d" % n) if unit == "B" else ("%.1f" % n), unit)
        n /= 1024.0


def _count(n):
    sign = "-" if n < 0 else "+"
    n = abs(n)
    if n >= 1000000:
        return "%s%.1fM" % (sign, n / 1e6)
    if n >= 1000:
        return "%s%.1fK" % (sign, n / 1e3)
    return "%s%d" % (sign, n)


def _matched(old_cols, new_cols):
    """For each node of the newer dump, the node of the older one at the
    same address with the same type name, or -1."""
    old_addr, old_type, _, _, old_names = old_cols
    new_addr, new_type, _, _, new_names = new_cols
    old_at = {a: i for i, a in enumerate(old_addr)}
    out = []
    for i, a in enumerate(new_addr):
        j = old_at.get(a, -1)
        if j >= 0 and old_names[old_type[j]] != new_names[new_type[i]]:
            j = -1
        out.append(j)
    return out


def diff(old, new, top=10):
    """{'types': [(type, delta_count, delta_size, new_objects)], 'holders':
    [(path, delta_retained, delta_objects, type)]}, biggest growth first."""
    result = diff_nodes(old, new, top)
    result["holders"] = [row[1:] for row in result["holders"]]
    return result


def diff_nodes(old, new, top=10):
    """diff() with each holder row led by the holder's node in the newer
    dump: (node, path, delta_retained, delta_objects, type), for the
    browser's diff screen."""
    old_cols, new_cols = old._columns(), new._columns()
    match = _matched(old_cols, new_cols)
    old_addr, old_type, old_flags, old_size, old_names = old_cols
    new_addr, new_type, new_flags, new_size, new_names = new_cols

    types = {}
    for j, t in enumerate(old_type):
        if not old_flags[j] & _INTERNAL:
            row = types.setdefault(old_names[t], [0, 0, 0])
            row[0] -= 1
            row[1] -= old_size[j]
    for i, t in enumerate(new_type):
        if not new_flags[i] & _INTERNAL:
            row = types.setdefault(new_names[t], [0, 0, 0])
            row[0] += 1
            row[1] += new_size[i]
            row[2] += match[i] < 0
    type_rows = sorted(((name, c, s, k) for name, (c, s, k) in types.items() if c or s or k),
                       key=lambda r: (-r[2], -r[1], r[0]))

    old_idom, old_retained, old_count = old._dominators()
    new_idom, new_retained, new_count = new._dominators()
    growth = [0] * len(new_addr)
    objects = [0] * len(new_addr)
    for i, j in enumerate(match):
        growth[i] = new_retained[i] - (old_retained[j] if j >= 0 else 0)
        objects[i] = new_count[i] - (old_count[j] if j >= 0 else 0)
    # The growth one dominated object accounts for, per holder.
    child_best = [0] * len(new_addr)
    for i, up in enumerate(new_idom):
        if up >= 0 and growth[i] > child_best[up]:
            child_best[up] = growth[i]
    holders = [i for i, g in enumerate(growth)
               if g > 0 and not new_flags[i] & (_NOT_DATA | _INTERNAL) and child_best[i] < _EXPLAINED * g]
    holders.sort(key=lambda i: (-growth[i], -objects[i], i))
    holder_rows = []
    for i in holders[:top]:
        path = new.path(i)
        holder_rows.append((i, str(path) if path is not None else "<unreachable 0x%x>" % new_addr[i], growth[i], objects[i],
                            new_names[new_type[i]]))
    return {"types": type_rows[:top], "holders": holder_rows}


def taken(dump):
    """When a loaded dump was written, as "2026-11-29 10:42" (local time)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(dump.info["time"]))
    except (OverflowError, ValueError, OSError):
        return "at an unreadable time"


def diff_text(old_name, old, new_name, new, result):
    lines = ["refscope diff: %s -> %s" % (old_name, new_name),
             "  old: %r" % old, "  new: %r" % new, "",
             "Growth by holder (retained size and objects gained, newer dump's paths):"]
    for path, grown, count, type_name in result["holders"]:
        lines.append("  %-60s %9s %9s objects  (%s)" % (path, _bytes(grown), _count(count), type_name))
    if not result["holders"]:
        lines.append("  nothing retains more than before")
    lines += ["", "Growth by type (matched by address and type):",
              "  %-40s %10s %10s %10s" % ("type", "objects", "size", "new")]
    for name, count, size, new_objects in result["types"]:
        lines.append("  %-40s %10s %10s %10d" % (name, _count(count), _bytes(size), new_objects))
    return "\n".join(lines) + "\n"


def main(argv):
    """`refscope report [--json] [--top N] FILE`, `refscope diff [--json] [--top N] OLD NEW`
    and `refscope open FILE`."""
    from . import Error
    from ._refscope import _open_dump
    command, args = argv[0], argv[1:]
    as_json, top, files, older = False, 10, [], None
    while args:
        a = args.pop(0)
        if a == "--json":
            as_json = True
        elif a == "--diff" and args:
            older = args.pop(0)
        elif a == "--top" and args:
            top = int(args.pop(0))
        else:
            files.append(a)
    try:
        if command == "diff":
            old, new = load(files[0]), load(files[1])
            result = diff(old, new, top)
            sys.stdout.write(json.dumps(result, indent=2) + "\n" if as_json
                             else diff_text(files[0], old, files[1], new, result))
        elif command == "open" and older is not None:
            # The diff screen first: what grew since the older dump, by holder then by type.
            old, new = load(older), load(files[0])
            result = diff_nodes(old, new, max(top, 50))
            title = "since %s (taken %s)" % (os.path.basename(older), taken(old))
            _open_dump(new, diff=(title, result["holders"], result["types"]))
        elif command == "open":
            _open_dump(files[0])
        else:
            # The live report's sections, computed by report.c over the stored snapshot.
            sys.stdout.write(report(format="json" if as_json else "text", top=top, snapshot=load(files[0])))
            if as_json:
                sys.stdout.write("\n")
    except Error as e:
        sys.stderr.write("refscope: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0

"""Objects that hold refscope's own objects (a Snapshot, a Path), and
names no str encoding can carry (lone surrogates, NUL)."""
import refscope


class Holder:
    pass


def snapshot_holder():
    """A list and an instance holding an earlier Snapshot, then a new snapshot."""
    old = refscope.snapshot()
    held = [old, "x"]
    inst = Holder()
    inst.snap = old
    return held, inst, refscope.snapshot()


def surrogate_holder():
    """An instance with an attribute named by a lone surrogate and a class
    whose __qualname__ has one."""
    cls = type("Odd", (), {})
    cls.__qualname__ = "Odd\udc80"
    obj = cls()
    setattr(obj, "\udc80", Holder())
    return obj


def dropped_snapshot_holder():
    """A list that held a Snapshot when the new snapshot was taken and lets
    it die right after: the new snapshot never held it."""
    held = [refscope.snapshot(), "y"]
    s = refscope.snapshot()
    held[0].close()
    held[0] = None  # the old Snapshot object is freed here
    return held, s

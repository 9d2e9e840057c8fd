"""Objects whose whole repr would be huge or slow: the bounded repr must
cost what it shows.  Items with hostile reprs of their own come from
dict_keys.py."""
from hostile.dict_keys import Escapes, Huge, NonStr as Lies, Raises, Recurses  # noqa: F401 (used by the tests)


class Node:
    pass


def ring(n):
    """n instances in one cycle of .next edges; returns the first."""
    nodes = [Node() for _ in range(n)]
    for a, b in zip(nodes, nodes[1:] + nodes[:1]):
        a.next = b
    return nodes[0]


def big_key_dict(n):
    """A dict whose key is an n-item tuple, and its value."""
    value = Node()
    return {tuple(range(n)): value}, value


def big_lists(n):
    """A dict of 20 lists of n ints each (report()'s worst case)."""
    return {i: list(range(n)) for i in range(20)}


SMALL = [
    [], [1, 2, "a"], (1,), (), {}, {1: "x", "b": [1, (2,)]}, set(), {1}, frozenset(), frozenset({3}),
    "it's", 'a"b\'c', "\n\x00\xe9\u2028", b"", b"a'\x00\xff", bytearray(b"xy"), 10 ** 50, -7, True, None,
    1.5, [[[]]], "x" * 30, {"nested": {"deeper": [1, 2, {3}]}},
]


class MyList(list):
    pass


class MySet(set):
    pass


# Subclasses that keep the builtin repr (no round trip: eval knows no MySet).
SUBCLASSED = [MyList([1, 2]), MySet(), MySet({4})]


def self_containing():
    lst = [1]
    lst.append(lst)
    d = {}
    d["me"] = d
    return [lst, d]


class Surrogate:
    """A __repr__ with a lone surrogate, which no terminal can encode."""

    def __repr__(self):
        return "bad\udc80"


class Empties:
    """A __repr__ that empties the container it sits in, then grows it."""

    def __init__(self, home):
        self.home = home

    def __repr__(self):
        self.home.clear()
        if isinstance(self.home, list):
            self.home.extend(range(5))
        return "Empties()"


def emptied_list():
    home = [0]
    home.append(Empties(home))
    home.append(1)
    return home


def emptied_dict():
    home = {}
    home["a"] = Empties(home)
    home["b"] = 2
    return home


def emptied_set():
    home = set()
    home.add(Empties(home))
    home.add(3)
    return home


class Slow:
    """A __repr__ that blocks (a socket read, a lock): counts its calls."""

    calls = 0

    def __repr__(self):
        import time

        type(self).calls += 1
        time.sleep(1.5)
        return "Slow()"

"""Closes a snapshot of a heap big enough for mapped arrays, opens the
browser, and says before and after it what refscope kept mapped for the
next snapshot: the browser gives those arrays back when it closes."""
import refscope
from refscope._refscope import _work

HEAP = [[i] for i in range(300_000)]
refscope.snapshot().close()
print("KEPT_BEFORE=%s" % ("some" if _work()["kept_bytes"] > 0 else "none"), flush=True)
refscope.browse()
print("KEPT_AFTER=%d" % _work()["kept_bytes"], flush=True)

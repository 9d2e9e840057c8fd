"""The program the trigger tests poke at (tests/test_trigger.c).

    trigger_target.py DIR [--install]
                      [--wait nap|sleep|select|accept|lock|timedlock|poll|blocked|busy]
                      [--period SECONDS] [--hog SECONDS]

Writes DIR/pid once it is ready, then keeps two counters: DIR/ticks (a
worker thread, every 0.1 s) and DIR/main (the main thread, each time its
blocking call returns).  `nap` sleeps 0.3 s at a time; the others block
for good (an hour's sleep, select, accept, a lock nobody releases), so
only a signal that interrupts them can open the browser.  With `nap`, the
program exits normally once DIR/exit exists.  `blocked`
sleeps with SIGUSR1 blocked in the main thread, like C code that never
returns to Python: nothing can open the browser then.  `timedlock` and
`poll` wait with a timeout (a futex and poll that the kernel restarts
through its restart block).  `busy` runs a
Python loop that never blocks.  With --period, each blocking call ends
after that many seconds instead (a timeout, or a thread that connects to
the socket or releases the lock), and DIR/calls says "SHORTEST OK": the
shortest time any call took and whether every call returned what it
should, to see that calls interrupted by an attach still complete
normally.  --hog starts a thread that, after a second, holds the GIL for
that many seconds in a C call (libc's sleep through ctypes.PyDLL, which
keeps the GIL), writing DIR/hog when it takes it.  It holds some leaky-looking data so that the browser and the
report have something to show.
"""
import os
import select
import signal
import socket
import sys
import threading
import time


class LeakyRecord:
    def __init__(self, n):
        self.n = n
        self.payload = "x" * 64


RECORDS = [LeakyRecord(n) for n in range(5000)]


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    directory = sys.argv[1]
    wait = sys.argv[sys.argv.index("--wait") + 1] if "--wait" in sys.argv else "nap"
    period = float(sys.argv[sys.argv.index("--period") + 1]) if "--period" in sys.argv else None
    if "--install" in sys.argv:
        import refscope
        refscope.install()

    def ticker():
        n = 0
        while True:
            n += 1
            write(os.path.join(directory, "ticks"), str(n))
            time.sleep(0.1)

    threading.Thread(target=ticker, name="ticker", daemon=True).start()
    if "--hog" in sys.argv:
        seconds = int(sys.argv[sys.argv.index("--hog") + 1])
        threading.Thread(target=hog, args=(directory, seconds), name="hog", daemon=True).start()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    lock = threading.Lock()
    lock.acquire()
    write(os.path.join(directory, "pid"), str(os.getpid()))
    print("ready", os.getpid(), flush=True)
    rounds = 0
    shortest, all_ok = None, True
    if wait == "blocked":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    while True:
        start = time.monotonic()
        if period is not None and wait in ("accept", "lock"):
            threading.Thread(target=wake_later, args=(wait, period, server, lock), daemon=True).start()
        if wait == "nap":
            time.sleep(0.3)
        elif wait in ("sleep", "blocked"):
            ok = time.sleep(period or 3600) is None
        elif wait == "select":
            ok = select.select([server], [], [], period or 3600) == ([], [], [])
        elif wait == "accept":
            conn, _ = server.accept()
            ok = conn.recv(16) == b"hello"
            conn.close()
        elif wait == "lock":
            ok = lock.acquire() is True
        elif wait == "timedlock":
            ok = lock.acquire(timeout=period or 3600) is False
        elif wait == "poll":
            poller = select.poll()
            poller.register(server, select.POLLIN)
            ok = poller.poll((period or 3600) * 1000) == []
        elif wait == "busy":
            n = 0
            while time.monotonic() - start < (period or 0.3):
                n += 1
            ok = n > 0
        if period is not None:
            took = time.monotonic() - start
            shortest = took if shortest is None else min(shortest, took)
            all_ok = all_ok and ok
            write(os.path.join(directory, "calls"), "%.3f %d" % (shortest, all_ok))
        rounds += 1
        write(os.path.join(directory, "main"), str(rounds))
        if os.path.exists(os.path.join(directory, "exit")):
            return  # a normal exit: atexit stops refscope's listener


def hog(directory, seconds):
    """Holds the GIL for seconds, like C code that never releases it."""
    import ctypes
    time.sleep(1)
    write(os.path.join(directory, "hog"), "1")
    ctypes.PyDLL(None).sleep(seconds)


def wake_later(wait, period, server, lock):
    """Ends the main thread's accept or lock wait after period seconds."""
    time.sleep(period)
    if wait == "accept":
        with socket.create_connection(server.getsockname()) as c:
            c.sendall(b"hello")
            time.sleep(1)
    else:
        lock.release()


if __name__ == "__main__":
    main()

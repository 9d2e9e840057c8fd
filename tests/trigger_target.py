"""The program the trigger tests poke at (tests/test_trigger.c).

    trigger_target.py DIR [--install] [--wait nap|sleep|select|accept|lock|blocked]

Writes DIR/pid once it is ready, then keeps two counters: DIR/ticks (a
worker thread, every 0.1 s) and DIR/main (the main thread, each time its
blocking call returns).  `nap` sleeps 0.3 s at a time; the others block
for good (an hour's sleep, select, accept, a lock nobody releases), so
only a signal that interrupts them can open the browser.  With `nap`, the
program exits normally once DIR/exit exists.  `blocked`
sleeps with SIGUSR1 blocked in the main thread, like C code that never
returns to Python: nothing can open the browser then.  It holds some
leaky-looking data so that the browser and the report have something to
show.
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
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    lock = threading.Lock()
    lock.acquire()
    write(os.path.join(directory, "pid"), str(os.getpid()))
    print("ready", os.getpid(), flush=True)
    rounds = 0
    if wait == "blocked":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    while True:
        if wait == "nap":
            time.sleep(0.3)
        elif wait in ("sleep", "blocked"):
            time.sleep(3600)
        elif wait == "select":
            select.select([server], [], [], 3600)
        elif wait == "accept":
            server.accept()
        elif wait == "lock":
            lock.acquire()
        rounds += 1
        write(os.path.join(directory, "main"), str(rounds))
        if os.path.exists(os.path.join(directory, "exit")):
            return  # a normal exit: atexit stops refscope's listener


if __name__ == "__main__":
    main()

"""A program that forks from a thread after refscope.install() (tests/test_trigger.c).

    fork_from_thread.py DIR

The parent installs refscope, then a worker thread forks.  In the child
that thread is the main thread; the child runs tests/trigger_target.py
--install --wait nap there (install() again, DIR/pid with the child's PID,
the DIR/ticks and DIR/main counters).  `refscope attach` on the child must
wake the child's main thread, not the parent's.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import refscope  # noqa: E402
import trigger_target  # noqa: E402


def main():
    directory = sys.argv[1]
    refscope.install()
    forked = []

    def worker():
        pid = os.fork()
        if pid == 0:
            try:
                sys.argv = [sys.argv[0], directory, "--install", "--wait", "nap"]
                trigger_target.main()
            finally:
                os._exit(1)
        forked.append(pid)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    os.waitpid(forked[0], 0)


if __name__ == "__main__":
    main()

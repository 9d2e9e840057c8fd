"""A program whose terminal goes away under the browser (tests/test_trigger.c).

    hangup_browse.py DIR ignore|python

It ignores SIGHUP (`ignore`) or handles it in Python (`python`), so losing
its terminal does not end it; writes DIR/pid, opens refscope.browse(), and
once the browser has returned writes DIR/after with how browse() ended.
A browser that spins on the dead terminal never lets it get there.
"""
import os
import signal
import sys

import refscope


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    directory, mode = sys.argv[1], sys.argv[2]
    if mode == "ignore":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGHUP, lambda signum, frame: None)
    write(os.path.join(directory, "pid"), str(os.getpid()))
    try:
        refscope.browse()
        how = "returned"
    except refscope.Error as e:
        how = "refscope.Error: %s" % e
    write(os.path.join(directory, "after"), how)


if __name__ == "__main__":
    main()

"""Hostile clients of a refscope attach socket (tests/test_trigger.c).

    flood_clients.py SOCKET SILENT NEVER_READING

Opens NEVER_READING connections that ask for a big report and never read
it, then up to SILENT connections that never say anything (a connect that
the listener's full backlog holds up is given up after a short while, and
the whole flood after 10 s), prints "ready N" with the number connected,
and holds them all until stdin closes.  Unix socket only; bounded counts.
"""
import socket
import sys
import time


def connect(path, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(path)
        return s
    except OSError:
        s.close()
        return None


def main():
    path, silent, never_reading = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    held = []
    for _ in range(never_reading):
        s = connect(path, 5)
        if s is not None:
            s.send(b"REFSCOPE1 report text 100000")
            held.append(s)
    end = time.monotonic() + 10
    for _ in range(silent):
        if time.monotonic() > end:
            break
        s = connect(path, 0.2)
        if s is not None:
            held.append(s)
    sys.stdout.write("ready %d\n" % len(held))
    sys.stdout.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main()

"""`python3 -m refscope`: the `refscope` command (run, attach, report).

The command is a C program shipped inside the package (refscope/bin) or,
in the build tree, beside it (build/bin); this runs it with the arguments
given, and with this interpreter as the one `refscope run` starts.
"""
import os
import sys


def _command():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "bin", "refscope"),
                 os.path.join(here, os.pardir, os.pardir, "bin", "refscope")):
        if os.access(path, os.X_OK):
            return os.path.normpath(path)
    return None


def main():
    command = _command()
    if command is None:
        sys.exit("refscope: the refscope command is not built next to this package (%s); "
                 "run `make` in the source tree or reinstall refscope" % os.path.dirname(__file__))
    os.environ.setdefault("REFSCOPE_PYTHON", sys.executable)
    os.execv(command, ["refscope"] + sys.argv[1:])


if __name__ == "__main__":
    main()
